#include "e2e/harness.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <sstream>
#include <stdexcept>

namespace qoewatch::e2e {

namespace json = boost::json;
using namespace std::chrono_literals;

// --- the config ------------------------------------------------------------------------------

namespace {

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string rule_spec::yaml() const {
  std::string out = "  - name: " + name + "\n";
  if (!qoefilter.empty()) out += "    qoefilter: " + quoted(qoefilter) + "\n";
  if (!interval.empty()) out += "    interval: " + interval + "\n";
  if (!window.empty()) out += "    window: " + window + "\n";
  if (!delay.empty()) out += "    delay: " + delay + "\n";
  for (const std::string& line : more) out += "    " + line + "\n";
  return out;
}

std::string sink_spec::yaml() const {
  std::string out = "  - name: " + name + "\n    type: " + type + "\n";
  for (const std::string& line : settings) out += "    " + line + "\n";
  return out;
}

sink_spec webhook(const std::string& port, std::vector<std::string> more, std::string name) {
  sink_spec s(std::move(name), "webhook");
  s.with("url: http://127.0.0.1:" + port + "/qoe");
  for (std::string& line : more) s.with(std::move(line));
  return s;
}

config_builder& config_builder::smartsight(const std::string& port) {
  base_url = "http://127.0.0.1:" + port;
  return *this;
}

config_builder& config_builder::smartsight_setting(const std::string& line) {
  smartsight_extra.push_back(line);
  return *this;
}

config_builder& config_builder::rule(rule_spec r) {
  rules.push_back(std::move(r));
  return *this;
}

config_builder& config_builder::sink(sink_spec s) {
  sinks.push_back(std::move(s));
  return *this;
}

std::string config_builder::yaml() const {
  std::string out = "smartsight:\n  base_url: " + base_url +
                    "\n  customer_id: 199493832\n  api_key_env: QW_KEY\n  timeout: " + timeout +
                    "\n";
  for (const std::string& line : smartsight_extra) out += "  " + line + "\n";
  out += "listen: " + listen + "\n";
  if (state.empty()) {
    out += "state_dir: state\n";
  } else {
    out += "state:\n";
    for (const std::string& line : state) out += "  " + line + "\n";
  }
  if (!defaults.empty()) out += "defaults: " + defaults + "\n";
  if (!rule_files_pattern.empty()) {
    out += "rule_files: [" + rule_files_pattern + "]\n";
  } else if (!rule_files.empty()) {
    std::string names;
    for (const auto& [name, file_rules] : rule_files) names += (names.empty() ? "" : ", ") + name;
    out += "rule_files: [" + names + "]\n";
  }
  if (sinks.empty()) {
    out += "sinks: []\n";
  } else {
    out += "sinks:\n";
    for (const sink_spec& s : sinks) out += s.yaml();
  }
  if (!rules.empty()) {
    out += "rules:\n";
    for (const rule_spec& r : rules) out += r.yaml();
  }
  return out + extra;
}

std::string config_builder::write(const test::temp_dir& dir, const std::string& name) const {
  for (const auto& [file, file_rules] : rule_files) {
    std::string text = "rules:\n";
    for (const rule_spec& r : file_rules) text += r.yaml();
    dir.write(file, text);
  }
  return dir.write(name, yaml());
}

// --- the processes ---------------------------------------------------------------------------

qoewatchd::qoewatchd(const std::string& cfg, std::map<std::string, std::string> env,
                     std::vector<std::string> extra)
    : child_process(QOEWATCHD_BINARY,
                    [&] {
                      std::vector<std::string> args = {"--config", cfg};
                      args.insert(args.end(), extra.begin(), extra.end());
                      return args;
                    }(),
                    std::move(env)) {}

const std::string& qoewatchd::port() {
  if (port_.empty()) port_ = logged_port(*this, "serving /metrics", "(port ");
  return port_;
}

std::string qoewatchd::metrics() {
  return test::http_request(port(), "GET", "/metrics").body;
}

std::optional<double> qoewatchd::metric(const std::string& series) {
  return test::metric_value(metrics(), series);
}

std::string logged_port(test::child_process& p, const std::string& line_marker,
                        const std::string& before, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::string what = "a line with \"" + line_marker + "\" and a port after \"" + before + "\"";
  for (;;) {
    const std::string log = p.log();
    for (std::size_t line = log.find(line_marker); line != std::string::npos;
         line = log.find(line_marker, line + 1)) {
      const std::size_t eol = std::min(log.find('\n', line), log.size());
      std::size_t at = log.find(before, line);
      if (at == std::string::npos || at > eol) continue;
      at += before.size();
      std::size_t end = at;
      while (end < eol && std::isdigit(static_cast<unsigned char>(log[end]))) ++end;
      if (end > at && log.substr(at, end - at) != "0") return log.substr(at, end - at);
    }
    if (std::optional<int> code = p.exit_code())
      throw std::runtime_error("the process exited with " + std::to_string(*code) +
                               " before it logged " + what + ":\n" + log);
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("no " + what + " in the log within " +
                               std::to_string(timeout.count()) + " ms:\n" + log);
    std::this_thread::sleep_for(20ms);
  }
}

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

// --- waiting for events ----------------------------------------------------------------------

namespace {
std::string number(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}
}  // namespace

value_check at_least(double v) {
  return {">= " + number(v), [v](std::optional<double> got) { return got && *got >= v; }};
}

value_check equal_to(double v) {
  return {"== " + number(v), [v](std::optional<double> got) { return got && *got == v; }};
}

value_check absent() {
  return {"absent", [](std::optional<double> got) { return !got; }};
}

std::string polls_series(const std::string& rule, const std::string& outcome) {
  return "qoewatch_polls_total{outcome=\"" + outcome + "\",rule=\"" + rule + "\"}";
}

testing::AssertionResult wait_for_metric(const std::string& port, const std::string& series,
                                         const value_check& check,
                                         std::chrono::milliseconds timeout) {
  std::optional<double> last;
  unsigned status = 0;
  auto read = [&] {
    test::http_reply r = test::http_request(port, "GET", "/metrics");
    status = r.status;
    last = status == 200 ? test::metric_value(r.body, series) : std::nullopt;
    return status == 200 && check.ok(last);
  };
  if (eventually(read, timeout)) return testing::AssertionSuccess();
  return testing::AssertionFailure()
         << series << " on 127.0.0.1:" << port << " was not " << check.what << " within "
         << timeout.count() << " ms; last "
         << (status != 200 ? "scrape answered " + std::to_string(status)
                           : "value " + (last ? number(*last) : std::string("absent")));
}

testing::AssertionResult wait_for_more_polls(const std::string& port, const std::string& rule,
                                             int more, std::chrono::milliseconds timeout,
                                             const std::string& outcome) {
  const std::string series = polls_series(rule, outcome);
  const double now =
      test::metric_value(test::http_request(port, "GET", "/metrics").body, series).value_or(0);
  return wait_for_metric(port, series, at_least(now + more), timeout);
}

std::size_t connections_to(const std::string& port) {
  // "  sl  local_address rem_address   st ...": "0100007F:1F90 0100007F:D2A4 01" is a connection
  // established (01) to port 0x1F90 of 127.0.0.1 (stored in host byte order, hex).
  char local[32];
  std::snprintf(local, sizeof local, "0100007F:%04X", static_cast<unsigned>(std::stoul(port)));
  std::istringstream table(test::read_file("/proc/net/tcp"));
  std::size_t n = 0;
  std::string line;
  std::getline(table, line);  // the header
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, from, to, state;
    if (fields >> slot >> from >> to >> state && from == local && state == "01") ++n;
  }
  return n;
}

std::size_t occurrences(const std::string& haystack, const std::string& text) {
  std::size_t n = 0;
  for (std::size_t at = haystack.find(text); at != std::string::npos;
       at = haystack.find(text, at + text.size()))
    ++n;
  return n;
}

testing::AssertionResult wait_for_log(const test::child_process& p, const std::string& text,
                                      std::chrono::milliseconds timeout, std::size_t times) {
  if (eventually([&] { return occurrences(p.log(), text) >= times; }, timeout))
    return testing::AssertionSuccess();
  return testing::AssertionFailure() << "the log did not show \"" << text << "\" " << times
                                     << " time(s) within " << timeout.count() << " ms:\n"
                                     << p.log();
}

// --- the simulator, the receiver's files, the state database ---------------------------------

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

std::string dead_letters(const std::string& cfg) {
  test::child_process list(QOEWATCHD_BINARY, {"--config", cfg, "--dead-letters"});
  std::string out;
  while (auto line = list.read_line(10s)) out += *line + "\n";
  EXPECT_EQ(list.wait(10s), 0) << list.log();
  return out;
}

std::optional<std::string> sqlite(const std::filesystem::path& db, const std::string& sql) {
  test::child_process q("/usr/bin/env", {"sqlite3", db.string(), sql});
  std::string out;
  while (auto line = q.read_line(10s)) out += *line + "\n";
  if (q.wait(10s) != 0) return std::nullopt;
  return out;
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

std::string utc_rfc3339(std::int64_t t) {
  const std::time_t tt = t;
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace qoewatch::e2e
