// Running one rule test: every rule of the test file polls on its own schedule, as the
// daemon would have from the test's start, and each poll's window is judged by the daemon's
// rule step (evaluate::replay) on the test's sessions; at each evaluation time (each distinct
// `at` of the test's expect: entries) what the rules did is observed.
//
// The schedule: a rule's windows end on its interval grid (schedule::aligned_end); its first
// poll runs at the start and judges the latest complete window, each later one runs at its
// window's end + delay (the start jitter is left out: it moves when a poll runs, never which
// window it judges). A poll at or before an evaluation time is seen by it.
//
// A poll is handed what SmartSight would answer: the sessions whose endtime is in its window
// (both ends included) that the rule's `filter` selects and that satisfy the part of its
// qoefilter sent to the server (a per-session rule's top-level `metric > number` terms),
// as one JSON page read by the daemon's page reader (fetch::parse_page). The rule step then
// judges the whole condition itself, as in the daemon. No network, no state database, no
// silences; time_intervals hold notifications as in the daemon.
//
// Pure code: the metrics registry is the caller's (hooks), the time is the test's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "evaluate/step.hpp"
#include "fetch/page.hpp"
#include "fetch/query.hpp"
#include "notify/render.hpp"
#include "ruletest/spec.hpp"

namespace qoewatch::ruletest {

/// An incident or group that fired or resolved, with its figures (a per-session rule's
/// incident: offending only).
struct event {
  bool population = false;
  notify::group_info figures;
};

/// What one rule did by an evaluation time.
struct rule_observation {
  std::size_t polls = 0;        // polls since the previous evaluation time
  std::vector<event> fired;     // since the previous evaluation time, in poll order
  std::vector<event> resolved;  // the same
  // After the last poll: anything fires; the firing and the pending groups (sorted).
  bool firing = false;
  std::vector<group_values> firing_groups;
  std::vector<group_values> pending;
  // Sessions notified since the previous evaluation time, sorted, each once: a per-session
  // rule's new offending sessions, a population rule's evidence sent with a group that fired;
  // less what a maintenance window held back (a group held when it fired is counted when it
  // is told, once the window ends).
  std::vector<std::string> notified;
};

/// What the rules did by one evaluation time.
struct evaluation {
  double at = 0;                        // epoch seconds
  std::vector<rule_observation> rules;  // aligned with the config's rules
  std::string metrics;                  // hooks::metrics() then; empty without it
};

/// One poll, as the runner hands it to the hooks.
struct poll_done {
  const config::rule_config& rule;
  const evaluate::poll_outcome& outcome;
  const evaluate::step_effects& effects;
  double now = 0;                  // when it ran: epoch seconds
  std::size_t notified_pairs = 0;  // (rule, session) pairs remembered, all rules together
};

/// What the caller adds: metrics fed after every poll and read at every evaluation time.
struct hooks {
  std::function<void(const poll_done&)> polled;
  std::function<std::string()> metrics;
};

/// When `rule` polls from `start` through `until` (epoch seconds): each poll's time and the
/// end of the window it judges.
struct poll_time {
  double at = 0;
  std::int64_t window_end = 0;
  bool operator==(const poll_time&) const = default;
};
std::vector<poll_time> poll_times(const config::rule_config& rule, double start, double until);

/// The page SmartSight would answer `rule`'s poll of window `w` with, from `rows` (sorted by
/// endtime), read with the rule's schema.
fetch::page page_for(const config::rule_config& rule, const std::vector<input_row>& rows,
                     fetch::window w);

/// Runs test `t` of `f`: one evaluation per distinct time of its expect: entries, in order.
/// Throws std::logic_error only on a bug (a page the reader refuses).
std::vector<evaluation> run(const test_file& f, const test_case& t, const hooks& h = {});

}  // namespace qoewatch::ruletest
