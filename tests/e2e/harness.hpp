// Shared by the end-to-end tests: the demo's webhook receiver as a child process, sessions
// injected into the simulator, and reading back what the receiver got.
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/process.hpp"

namespace qoewatch::e2e {

struct receiver_options {
  int status = 200;         // answer to every POST (changeable with set_status)
  std::string port = "0";   // 0: any free port
  std::string secret_file;  // verify Standard Webhooks signatures with this secret
  std::string requests;     // record every POST with its headers to this file
  bool echo = false;        // refusals echo the request (headers, body), as gateways may
};

/// scripts/webhook-receiver writing every body it accepts to `out` as one JSON line.
struct receiver {
  explicit receiver(const std::string& out, receiver_options opt = {});
  receiver(const std::string& out, int status, const std::string& port_wanted = "0");
  /// Changes the status answered to every POST from now on.
  void set_status(int status) const;
  /// Makes every POST from now on wait `seconds` before it is answered and recorded.
  void set_delay(double seconds) const;
  /// Injects faults into the POSTs from now on: a plan as scripts/webhook-receiver takes it,
  /// e.g. {"reset": 1}; "{}" ends them.
  void set_faults(const std::string& plan) const;
  std::string port;
  test::child_process process;
};

/// A session row as the simulator serves it.
std::string session(const std::string& id, std::int64_t endtime, const std::string& more);

/// What `qoewatchd --config CFG --dead-letters` prints (the test fails unless it exits 0).
std::string dead_letters(const std::string& cfg);

/// Adds sessions to the simulator (asserting it accepted them).
void add_sessions(const test::sim& s, const std::vector<std::string>& sessions);

/// Every line of a JSON-lines file, parsed.
std::vector<boost::json::value> json_lines(const std::string& file);

/// Every notification the receiver accepted so far.
std::vector<boost::json::value> notifications(const std::string& file);

/// Session ids per rule across all webhook notifications, in arrival order (duplicates kept).
std::map<std::string, std::vector<std::string>> sessions_by_rule(const std::string& file);

std::set<std::string> as_set(const std::vector<std::string>& v);

/// A free TCP port on 127.0.0.1 (bound by the kernel, then released).
std::string free_port();

/// Waits until `done()` or `timeout`; returns done().
template <class F>
bool eventually(F done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return done();
}

}  // namespace qoewatch::e2e
