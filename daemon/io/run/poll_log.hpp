// What a successful poll of a rule is told in the log: the window, what it found, and each
// incident (or group) that fired or resolved. Reads the step's effects; decides nothing.
#pragma once

#include "config/config.hpp"
#include "evaluate/step.hpp"

namespace qoewatch::run {

/// Logs the successful poll `out` of `rule` whose step gave `fx` and left the rule in `state`.
/// A population rule's group figures are logged at debug, or at info with `figures_at_info`
/// (a dry run, which shows what it would do).
void log_poll(const config::rule_config& rule, const evaluate::poll_outcome& out,
              const evaluate::step_effects& fx, const evaluate::rule_state& state,
              bool figures_at_info);

}  // namespace qoewatch::run
