// Shared by the end-to-end tests: the one builder of their qoewatch.yaml, qoewatchd and the
// demo's webhook receiver as child processes that bind port 0 and report the port they got,
// ports held closed, sessions injected into the simulator, reading back what the receiver got,
// and waiting for events (a metric's value, a log line) instead of for fixed times.
#pragma once

#include <gtest/gtest.h>

#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/process.hpp"
#include "support/reserved_port.hpp"

namespace qoewatch::e2e {

// --- the config ------------------------------------------------------------------------------

/// One rule of a test config: rule_spec("slow", "latency > 5").window_of("30s").with("...").
/// An empty qoefilter writes none (a population rule may judge aggregates only).
struct rule_spec {
  rule_spec(std::string rule_name, std::string filter)
      : name(std::move(rule_name)), qoefilter(std::move(filter)) {}
  /// Empty interval, window or delay: the config's defaults apply.
  rule_spec& interval_of(std::string v) { return interval = std::move(v), *this; }
  rule_spec& window_of(std::string v) { return window = std::move(v), *this; }
  rule_spec& delay_of(std::string v) { return delay = std::move(v), *this; }
  /// Interval, window and delay from the config's defaults.
  rule_spec& from_defaults() { return interval.clear(), window.clear(), delay.clear(), *this; }
  /// One more "key: value" line, e.g. "resolve_after: 2".
  rule_spec& with(std::string line) { return more.push_back(std::move(line)), *this; }
  /// The rule as an item of a YAML list at top level ("  - name: ...").
  std::string yaml() const;

  std::string name;
  std::string qoefilter;
  std::string interval = "1s";
  std::string window = "60s";
  std::string delay = "0s";
  std::vector<std::string> more;
};

/// One sink of a test config: sink_spec("chat", "slack").with("url_file: chat.url").
struct sink_spec {
  sink_spec(std::string sink_name, std::string sink_type)
      : name(std::move(sink_name)), type(std::move(sink_type)) {}
  /// One more setting, a "key: value" line.
  sink_spec& with(std::string line) { return settings.push_back(std::move(line)), *this; }
  std::string yaml() const;

  std::string name;
  std::string type;
  std::vector<std::string> settings;
};

/// A webhook sink posting to http://127.0.0.1:PORT/qoe, with `more` settings.
sink_spec webhook(const std::string& port, std::vector<std::string> more = {},
                  std::string name = "hook");

/// The qoewatch.yaml of a test, and its rule files: every e2e test builds its config here.
/// Defaults: SmartSight at smartsight(PORT) for customer 199493832 with the key in QW_KEY and a
/// 2 s timeout, /metrics on 127.0.0.1:0 (the daemon reports the port it got: see qoewatchd),
/// state in "state" next to the config, no sinks, no rules.
struct config_builder {
  std::string base_url;                       // set by smartsight(PORT)
  std::string timeout = "2s";                 // smartsight.timeout
  std::vector<std::string> smartsight_extra;  // more smartsight lines: "page_size: 3", ...
  std::string listen = "127.0.0.1:0";
  std::string defaults;  // the value of defaults:, e.g. "{interval: 1s, window: 60s}"
  /// Rule files written next to the config, by name; each holds its rules.
  std::map<std::string, std::vector<rule_spec>> rule_files;
  std::string rule_files_pattern;  // the value of rule_files: (default: the files above)
  std::vector<rule_spec> rules;    // inline rules
  std::vector<sink_spec> sinks;
  std::string extra;  // more top-level YAML, e.g. a web: section
  // The state: section's lines ("backend: postgresql", ...); set, no state_dir is written.
  std::vector<std::string> state;

  config_builder& smartsight(const std::string& port);
  config_builder& smartsight_setting(const std::string& line);
  config_builder& rule(rule_spec r);
  config_builder& sink(sink_spec s);

  /// The text of qoewatch.yaml.
  std::string yaml() const;
  /// Writes the rule files and the config (as `name`) into `dir`; the config's path.
  std::string write(const test::temp_dir& dir, const std::string& name = "qoewatch.yaml") const;
};

// --- the processes ---------------------------------------------------------------------------

/// A loopback port held closed for the object's lifetime (see support/reserved_port.hpp).
using test::reserved_port;

/// qoewatchd --config CFG EXTRA... with exactly the environment `env` (e.g. QW_KEY).
class qoewatchd : public test::child_process {
 public:
  qoewatchd(const std::string& cfg, std::map<std::string, std::string> env,
            std::vector<std::string> extra = {});
  /// The port /metrics is served on, from the daemon's log line "serving /metrics, /healthz
  /// and /readyz on 127.0.0.1:0 (port N, ...)": waits up to 20 s for it and throws, with the
  /// log, when the daemon exits or does not log it in time.
  const std::string& port();
  /// GET /metrics ("" when nothing answered).
  std::string metrics();
  /// The value of one sample of /metrics, e.g. metric("qoewatch_source_up{rule=\"slow\"}").
  std::optional<double> metric(const std::string& series);

 private:
  std::string port_;
};

/// The port a process logged: the number after `before` in the first line of its stderr that
/// holds `line_marker` and, after it, `before` (qoewatchd: "serving /metrics", "(port ";
/// Alertmanager and Prometheus: "msg=\"Listening on\"", "address=127.0.0.1:"). Waits up to
/// `timeout`; throws, with the log, when the process exits or the line does not come.
std::string logged_port(test::child_process& p, const std::string& line_marker,
                        const std::string& before,
                        std::chrono::milliseconds timeout = std::chrono::seconds(20));

struct receiver_options {
  int status = 200;         // answer to every POST (changeable with set_status)
  std::string port = "0";   // 0: any free port (see reserved_port to come back on the same one)
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

// --- waiting for events ----------------------------------------------------------------------

/// What a metric's value is waited for: a description for the failure message and the test.
struct value_check {
  std::string what;  // e.g. ">= 3"
  std::function<bool(std::optional<double>)> ok;
};
value_check at_least(double v);
value_check equal_to(double v);
value_check absent();

/// The series of successful (or `outcome`) polls of `rule`.
std::string polls_series(const std::string& rule, const std::string& outcome = "success");

/// Waits until the sample `series` on the /metrics of 127.0.0.1:PORT passes `check`; on
/// failure the message names the series, what was wanted and the last value seen.
testing::AssertionResult wait_for_metric(const std::string& port, const std::string& series,
                                         const value_check& check,
                                         std::chrono::milliseconds timeout);

/// Waits until `rule` has polled `more` more times (with `outcome`) than it had when called:
/// the positive signal before checking that something did not happen within a few polls.
testing::AssertionResult wait_for_more_polls(const std::string& port, const std::string& rule,
                                             int more, std::chrono::milliseconds timeout,
                                             const std::string& outcome = "success");

/// Waits until `p`'s stderr holds `text` at least `times` times.
testing::AssertionResult wait_for_log(const test::child_process& p, const std::string& text,
                                      std::chrono::milliseconds timeout, std::size_t times = 1);

/// Established TCP connections to 127.0.0.1:PORT, from /proc/net/tcp: a client (the daemon)
/// holding a connection open to a server of the test, e.g. while a POST is on the wire.
std::size_t connections_to(const std::string& port);

/// How often `text` occurs in `haystack`.
std::size_t occurrences(const std::string& haystack, const std::string& text);

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

// --- the simulator, the receiver's files, the state database ---------------------------------

/// A session row as the simulator serves it.
std::string session(const std::string& id, std::int64_t endtime, const std::string& more);

/// Adds sessions to the simulator (asserting it accepted them).
void add_sessions(const test::sim& s, const std::vector<std::string>& sessions);

/// What `qoewatchd --config CFG --dead-letters` prints (the test fails unless it exits 0).
std::string dead_letters(const std::string& cfg);

/// What sqlite3 prints for `sql` on the database `db`; std::nullopt when sqlite3 failed (no
/// such table yet, say).
std::optional<std::string> sqlite(const std::filesystem::path& db, const std::string& sql);

/// Every line of a JSON-lines file, parsed.
std::vector<boost::json::value> json_lines(const std::string& file);

/// Every notification the receiver accepted so far.
std::vector<boost::json::value> notifications(const std::string& file);

/// Session ids per rule across all webhook notifications, in arrival order (duplicates kept).
std::map<std::string, std::vector<std::string>> sessions_by_rule(const std::string& file);

std::set<std::string> as_set(const std::vector<std::string>& v);

/// Epoch seconds as RFC 3339 in UTC, "2026-12-06T01:00:00Z" (what --from and amtool take).
std::string utc_rfc3339(std::int64_t t);

}  // namespace qoewatch::e2e
