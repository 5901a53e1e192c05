// What qoewatchd tells the service manager and the journal: the one-line STATUS= summary
// `systemctl status` shows, and log lines in the journal's and log shippers' formats. Pure.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qoewatch::service {

/// One rule as the summary sees it.
struct rule_state {
  std::string name;
  bool polled = false;  // has finished a poll since start (or its last reload)
  bool up = true;       // the last poll worked
  bool firing = false;  // its incident fires
};

/// How the state database is doing, as the summary tells it.
struct state_summary {
  bool up = true;              // its last call succeeded
  bool shared = false;         // replicas share it (PostgreSQL): rules are owned by leases
  std::size_t configured = 0;  // shared: the rules of the config (`rules` are the owned ones)
  std::size_t sinks_owned = 0;       // shared: the sinks delivered from here
  std::size_t sinks_configured = 0;  // shared: the sinks of the config
};

/// "3 rules, all sources up, 1 firing (slow_startup), last poll 12:00:03Z, 0 notifications
/// pending"; names are listed up to three, then "and N more". Replicas: "state up, 100 of
/// 300 rules and 1 of 2 sinks owned, ..."; a state database that fails: "state database
/// down, ..." first.
std::string status_line(const std::vector<rule_state>& rules, std::size_t pending,
                        std::optional<std::chrono::system_clock::time_point> last_poll,
                        const state_summary& state = {});

/// The syslog priority (RFC 5424: 2 critical ... 7 debug) of a log level name as spdlog
/// spells it ("trace", "debug", "info", "warning", "error", "critical"); 6 when unknown.
int syslog_priority(std::string_view level);

/// One log line as a JSON object: {"time":"<RFC 3339 with ms, UTC>","level":"...",
/// "message":"..."} (no newline); the message is escaped, whatever bytes it holds.
std::string json_log_line(std::chrono::system_clock::time_point time, std::string_view level,
                          std::string_view message);

}  // namespace qoewatch::service
