// A population rule's groups: each is pending while `when` holds for fewer than `for` polls
// in a row, fires when it has held that long, and resolves after `resolve_after` quiet polls
// in a row (`when` does not hold, and resolve_when does if set). A group absent from the window,
// or with fewer than min_sample sessions, is quiet. A failed poll neither fires nor resolves.
// Pure code: the states are values the caller keeps (and persists).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "incident/incident.hpp"

namespace qoewatch::incident {

/// One group that is pending or firing (a group that is neither has no state).
struct group_state {
  int pending = 0;        // polls in a row `when` held, while not firing
  bool firing = false;
  std::string key;        // while firing: "<rule>/<group>/<started_at>"
  double started_at = 0;  // epoch seconds: the end of the window that fired it
  int polls_below = 0;    // quiet polls in a row while firing
  std::vector<std::string> told;  // the sinks told of the firing: only they hear the resolve
  bool operator==(const group_state&) const = default;
};

/// The groups of a rule that are pending or firing, by their dimension values.
using group_states = std::map<std::vector<std::string>, group_state>;

/// What one successful poll says of a group.
struct group_verdict {
  bool holds = false;  // `when` holds (and the group has min_sample sessions)
  bool quiet = true;   // the group may resolve: when does not hold (and resolve_when does),
                       // or it is absent or small
};

struct group_step_result {
  group_state next;  // firing == false and pending == 0: the group needs no state any more
  transition change = transition::none;
};

/// The incident key of a group of `rule` whose incident fired at `started_at`; the rule's own
/// key_for when the rule has no group_by.
std::string group_key_for(std::string_view rule, std::string_view group, double started_at);

/// Folds one successful poll's verdict on one group, judged in the window that ends at
/// `window_end` (what a group it fires is named after); `label` names the group.
group_step_result step_group(const config::rule_config& rule, const group_state& current,
                             group_verdict verdict, std::string_view label, double window_end);

}  // namespace qoewatch::incident
