// Inside the evaluate module: the rule step of a population rule (step.cpp dispatches here).
// Each group of the window is judged on its aggregates and goes through its own
// pending/firing/resolved states (incident/group.hpp); each change is notified on the rule's
// sinks, and the rule's firing groups are committed with the checkpoint.
#pragma once

#include "evaluate/step.hpp"

namespace qoewatch::evaluate {

step_effects population_step(const config::rule_config& rule, const rule_state& current,
                             const poll_outcome& outcome, double now, const step_env& env);

/// The figures of `g` as notifications and metrics show them.
notify::group_info info_of(const config::rule_config& rule, const group_figures& g);

/// Whether `when` holds for a group (it must have min_sample sessions) and whether it may
/// resolve: `when` does not hold and resolve_when (if any) does. A group whose condition reads
/// an aggregate it cannot compute (no session carries the metric) does not hold and is quiet.
incident::group_verdict judge(const config::rule_config& rule, const notify::group_info& g);

}  // namespace qoewatch::evaluate
