#include "evaluate/hold.hpp"

#include <algorithm>
#include <string_view>

#include "duration.hpp"
#include "schedule/time_interval.hpp"

namespace qoewatch::evaluate {

holds::holds(const config::rule_config& rule, const config::daemon_config& cfg,
             const std::vector<silence::silence>* silences, double now) {
  const std::int64_t ms = epoch_ms(now);
  muted_ = schedule::muted(rule, cfg.time_intervals, from_epoch_seconds(now));
  if (!silences) return;
  for (const silence::silence& s : *silences) {
    if (silence::state_at(s, ms) != silence::state::active) continue;
    const bool for_rule = std::all_of(s.matchers.begin(), s.matchers.end(), [&](const auto& m) {
      return m.name != "alertname" || m.matches(std::string_view(rule.name));
    });
    if (!for_rule) continue;
    active_.push_back(&s);
    for (const silence::matcher& m : s.matchers)
      if (m.name == "sessionid") sessions_differ_ = true;
  }
}

bool holds::held(const silence::label_set& labels) const {
  if (muted_) return true;
  for (const silence::silence* s : active_)
    if (silence::all_match(s->matchers, labels)) return true;
  return false;
}

}  // namespace qoewatch::evaluate
