#include "incident/incident.hpp"

#include <cmath>

namespace qoewatch::incident {

std::string key_for(std::string_view rule, double started_at) {
  return std::string(rule) + "/" +
         std::to_string(static_cast<std::int64_t>(std::floor(started_at)));
}

step_result step(const config::rule_config& rule, const state& current, std::size_t offending,
                 double window_end) {
  step_result r{current, transition::none};
  bool above = offending >= static_cast<std::size_t>(std::max(rule.min_sessions, 1));
  if (!current.firing) {
    if (above) {
      r.next = {true, key_for(rule.name, window_end), window_end, 0, {}};
      r.change = transition::fired;
    }
    return r;
  }
  if (above) {
    r.next.polls_below = 0;
    return r;
  }
  if (++r.next.polls_below >= std::max(rule.resolve_after, 1)) {
    r.next = state{};
    r.change = transition::resolved;
  }
  return r;
}

}  // namespace qoewatch::incident
