#include "service/status.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

#include "duration.hpp"

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

// `s` with every byte that is not part of well-formed UTF-8 (RFC 3629) replaced by U+FFFD.
std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
    const unsigned char c = b(0);
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
    if (c < 0x80)
      len = 1;
    else if (c >= 0xC2 && c <= 0xDF)
      len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    }
    bool ok = len > 0 && i + len <= s.size();
    for (std::size_t k = 1; ok && k < len; ++k)
      ok = k == 1 ? b(1) >= lo && b(1) <= hi : b(k) >= 0x80 && b(k) <= 0xBF;
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
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
         ",\"message\":" + boost::json::serialize(boost::json::string(valid_utf8(message))) + "}";
}

}  // namespace qoewatch::service
