#include "service/status.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

#include "duration.hpp"
#include "text/utf8.hpp"

namespace qoewatch::service {

namespace {

// "a, b, c and 2 more".
std::string some_names(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < 3; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > 3) out += " and " + std::to_string(names.size() - 3) + " more";
  return out;
}

std::string plural(std::size_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

}  // namespace

std::string status_line(const std::vector<rule_state>& rules, std::size_t pending,
                        std::optional<std::chrono::system_clock::time_point> last_poll,
                        const state_summary& state) {
  std::vector<std::string> waiting, down, firing;
  for (const rule_state& r : rules) {
    if (!r.polled)
      waiting.push_back(r.name);
    else if (!r.up)
      down.push_back(r.name);
    if (r.firing) firing.push_back(r.name);
  }
  std::string out;
  if (!state.up) out = "state database down, ";
  if (state.shared)
    out += (state.up ? "state up, " : "") + std::to_string(rules.size()) + " of " +
           plural(state.configured, "rule", "rules") +
           (state.sinks_configured == 0
                ? std::string()
                : " and " + std::to_string(state.sinks_owned) + " of " +
                      plural(state.sinks_configured, "sink", "sinks")) +
           " owned";
  else
    out += plural(rules.size(), "rule", "rules");
  // A replica that owns no rule has nothing to say of sources.
  if (!rules.empty()) {
    if (!waiting.empty() && waiting.size() == rules.size())
      out += ", waiting for the first polls";
    else if (down.empty())
      out += waiting.empty() ? ", all sources up" : ", " + some_names(waiting) + " not polled yet";
    else
      out += ", " + plural(down.size(), "source", "sources") + " down (" + some_names(down) + ")";
  }
  if (!firing.empty())
    out += ", " + std::to_string(firing.size()) + " firing (" + some_names(firing) + ")";
  if (last_poll) out += ", last poll " + utc_rfc3339(*last_poll).substr(11);  // "08:00:03Z"
  out += ", " + plural(pending, "notification", "notifications") + " pending";
  return out;
}

int syslog_priority(std::string_view level) {
  if (level == "critical") return 2;
  if (level == "error") return 3;
  if (level == "warning" || level == "warn") return 4;
  if (level == "debug" || level == "trace") return 7;
  return 6;
}

std::string json_log_line(std::chrono::system_clock::time_point time, std::string_view level,
                          std::string_view message) {
  return "{\"time\":\"" + utc_rfc3339(time, true) +
         "\",\"level\":" + boost::json::serialize(boost::json::string(level)) +
         ",\"message\":" + boost::json::serialize(boost::json::string(text::valid_utf8(message))) +
         "}";
}

}  // namespace qoewatch::service
