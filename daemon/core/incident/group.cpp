#include "incident/group.hpp"

#include <algorithm>

namespace qoewatch::incident {

std::string group_key_for(std::string_view rule, std::string_view group, double started_at) {
  if (group.empty()) return key_for(rule, started_at);
  const std::string whole = key_for(rule, started_at);  // "<rule>/<seconds>"
  return std::string(rule) + "/" + std::string(group) + whole.substr(rule.size());
}

group_step_result step_group(const config::rule_config& rule, const group_state& current,
                             group_verdict verdict, std::string_view label,
                             double window_end) {
  group_step_result r{current, transition::none};
  if (!current.firing) {
    if (!verdict.holds) {
      r.next.pending = 0;
      return r;
    }
    if (++r.next.pending >= std::max(rule.for_polls, 1)) {
      r.next = {0, true, group_key_for(rule.name, label, window_end), window_end, 0, {}};
      r.change = transition::fired;
    }
    return r;
  }
  if (!verdict.quiet) {
    r.next.polls_below = 0;
    return r;
  }
  if (++r.next.polls_below >= std::max(rule.resolve_after, 1)) {
    r.next = group_state{};
    r.change = transition::resolved;
  }
  return r;
}

}  // namespace qoewatch::incident
