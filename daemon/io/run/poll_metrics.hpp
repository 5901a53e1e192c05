// What the metrics hear of a rule's concluded poll, in one place for the two that conclude
// polls: the rule runner after each real poll, and the rule tests (--test-rules) after each
// replayed one, so that a test reads the gauges the daemon would export. Decides nothing.
// Use from the thread that owns the registry.
#pragma once

#include "config/config.hpp"
#include "evaluate/step.hpp"

namespace qoewatch::metrics {
class registry;
}

namespace qoewatch::run {

/// Reports to `m` the poll `out` of `rule` whose step gave `fx`, finished at `finished_at`
/// (epoch seconds) after `seconds`: the notifications a silence or maintenance window held
/// back, the poll itself (its facts when it succeeded, a failure otherwise), and on success
/// whether anything of the rule fires and the window seconds a catch-up left out. Not the
/// pairs remembered as notified: they are counted over every rule, once the expired ones
/// are forgotten.
void report_poll(metrics::registry& m, const config::rule_config& rule,
                 const evaluate::poll_outcome& out, const evaluate::step_effects& fx,
                 double finished_at, double seconds);

}  // namespace qoewatch::run
