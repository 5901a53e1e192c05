#include "e2e/harness.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <sstream>
#include <stdexcept>

namespace qoewatch::e2e {

namespace json = boost::json;
using namespace std::chrono_literals;

namespace {
std::vector<std::string> receiver_args(const std::string& out, const receiver_options& opt) {
  std::vector<std::string> args = {"python3",
                                   QOEWATCH_SOURCE_DIR "/scripts/webhook-receiver",
                                   "--listen",
                                   "127.0.0.1:" + opt.port,
                                   "--out",
                                   out,
                                   "--raw",
                                   "--status",
                                   std::to_string(opt.status)};
  if (!opt.secret_file.empty()) args.insert(args.end(), {"--secret-file", opt.secret_file});
  if (!opt.requests.empty()) args.insert(args.end(), {"--requests", opt.requests});
  if (opt.echo) args.push_back("--echo");
  return args;
}
}  // namespace

receiver::receiver(const std::string& out, receiver_options opt)
    : process("/usr/bin/env", receiver_args(out, opt)) {
  std::optional<std::string> line = process.read_line(15s);
  const std::string prefix = "listening on 127.0.0.1:";
  if (!line || line->rfind(prefix, 0) != 0)
    throw std::runtime_error("receiver did not start: " + process.log());
  port = line->substr(prefix.size());
}

receiver::receiver(const std::string& out, int status, const std::string& port_wanted)
    : receiver(out, [&] {
        receiver_options o;
        o.status = status;
        o.port = port_wanted;
        return o;
      }()) {}

void receiver::set_status(int status) const {
  test::http_reply r = test::http_request(port, "PUT", "/_receiver/status", std::to_string(status));
  if (r.status != 200) throw std::runtime_error("receiver did not take the new status");
}

void receiver::set_delay(double seconds) const {
  test::http_reply r = test::http_request(port, "PUT", "/_receiver/delay", std::to_string(seconds));
  if (r.status != 200) throw std::runtime_error("receiver did not take the new delay");
}

void receiver::set_faults(const std::string& plan) const {
  test::http_reply r = test::http_request(port, "PUT", "/_receiver/faults", plan);
  if (r.status != 200) throw std::runtime_error("receiver refused the fault plan: " + r.body);
}

std::string dead_letters(const std::string& cfg) {
  test::child_process list(QOEWATCHD_BINARY, {"--config", cfg, "--dead-letters"});
  std::string out;
  while (auto line = list.read_line(10s)) out += *line + "\n";
  EXPECT_EQ(list.wait(10s), 0) << list.log();
  return out;
}

std::string session(const std::string& id, std::int64_t endtime, const std::string& more) {
  return R"({"sessionid":")" + id + R"(","endtime":)" + std::to_string(endtime) +
         R"(,"starttime":)" + std::to_string(endtime - 300) + (more.empty() ? "" : ",") + more +
         "}";
}

void add_sessions(const test::sim& s, const std::vector<std::string>& sessions) {
  std::string body = "[";
  for (std::size_t i = 0; i < sessions.size(); ++i) body += (i ? "," : "") + sessions[i];
  body += "]";
  test::http_reply r =
      test::http_request(s.port, "POST", "/_sim/sessions", body,
                         {{"X-API-Key", s.key}, {"Content-Type", "application/json"}});
  ASSERT_EQ(r.status, 200u) << r.body;
}

std::vector<json::value> json_lines(const std::string& file) {
  std::vector<json::value> out;
  std::istringstream in(test::read_file(file));
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

std::vector<json::value> notifications(const std::string& file) {
  return json_lines(file);
}

std::map<std::string, std::vector<std::string>> sessions_by_rule(const std::string& file) {
  std::map<std::string, std::vector<std::string>> out;
  for (const json::value& n : notifications(file)) {
    std::string rule(n.at("groupLabels").at("alertname").as_string());
    for (const json::value& a : n.at("alerts").as_array())
      if (const json::value* id = a.at("labels").as_object().if_contains("sessionid"))
        out[rule].emplace_back(id->as_string());
  }
  return out;
}

std::set<std::string> as_set(const std::vector<std::string>& v) {
  return {v.begin(), v.end()};
}

std::string free_port() {
  test::child_process probe("/usr/bin/env",
                            {"python3", "-c",
                             "import socket;s=socket.socket();s.bind(('127.0.0.1',0));"
                             "print(s.getsockname()[1])"});
  return probe.read_line(10s).value_or("0");
}

}  // namespace qoewatch::e2e
