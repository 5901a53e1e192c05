#include "evaluate/hold.hpp"

#include <cmath>

#include "schedule/time_interval.hpp"

namespace qoewatch::evaluate {

holds::holds(const config::rule_config& rule, const config::daemon_config& cfg,
             const std::vector<silence::silence>* silences, double now) {
  const auto ms = static_cast<std::int64_t>(std::floor(now * 1000.0));
  muted_ = schedule::muted(rule, cfg.time_intervals,
                           std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
  if (!silences) return;
  for (const silence::silence& s : *silences)
    if (silence::state_at(s, ms) == silence::state::active) active_.push_back(&s);
}

bool holds::held(const silence::label_set& labels) const {
  if (muted_) return true;
  for (const silence::silence* s : active_)
    if (silence::all_match(s->matchers, labels)) return true;
  return false;
}

}  // namespace qoewatch::evaluate
