// What a reload changes: the running configuration against the new one, as a plan the daemon
// carries out. Which rules keep running untouched, which restart (new, changed, or polling a
// SmartSight whose settings or key changed), which are removed (a firing incident of theirs
// is resolved first); which sinks are added, kept, reconfigured (their queue stays) or
// retired (their queue becomes dead letters). The daemon's start is the plan from nothing.
// Pure code: settings compare without where they were written, so moving a rule or adding a
// comment above it restarts nothing.
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/load.hpp"

namespace qoewatch::config {

struct sink_plan {
  enum class action { add, keep, reconfigure, retire };
  std::string name;
  action what = action::keep;
  std::string reason;  // retire: why its queue is given up, e.g. "sink x was removed ..."
  bool operator==(const sink_plan&) const = default;
};

struct reload_plan {
  bool new_source = false;           // SmartSight settings or its API key changed
  std::vector<std::string> removed;  // running rules the new config drops, by name
  std::vector<std::string> restart;  // running rules whose task is replaced
  // Of `restart`, the rules whose incidents no longer mean the same (see judged_alike): what
  // fires is resolved before the new task starts afresh.
  std::vector<std::string> resolve;
  std::vector<std::string> start;    // rules that get a new task, in config order
  // Of `start`, the rules not running now: what they remember (notified sessions, a firing
  // incident) is read back from the state database.
  std::vector<std::string> recall;
  std::vector<sink_plan> sinks;       // running sinks first (in name order), then new ones
  // Settings that only a restart applies: listen, where the state is (state_dir, state:,
  // the PostgreSQL connection string). Never a secret's text.
  std::vector<std::string> warnings;
  bool operator==(const reload_plan&) const = default;
};

/// The plan to go from `running` (nullptr: nothing runs yet) with `running_secrets` to `next`
/// with `next_secrets`.
reload_plan plan_reload(const daemon_config* running, const secrets& running_secrets,
                        const daemon_config& next, const secrets& next_secrets);

/// Whether two versions of a rule judge alike, so that its incidents carry over an edit: the
/// same kind of rule and, for a population rule, the same groups (group_by) judged by the same
/// conditions (filter, qoefilter, when, resolve_when, min_sample). Timing, labels, sinks and
/// the like change how an incident is told, not whether it holds.
bool judged_alike(const rule_config& a, const rule_config& b);

/// The same settings, wherever in the files they were written.
bool same_settings(const rule_config& a, const rule_config& b);
bool same_settings(const sink_config& a, const sink_config& b);

}  // namespace qoewatch::config
