// When a rule polls, on the wall clock so that every process agrees: a rule's windows end on
// a grid of its interval (`aligned_end`), and the poll judging the window that ends at E is
// due at E + delay + the rule's start jitter. Jitter spreads rules over their interval; it
// moves when a poll runs, never which window it judges. Due times follow from the last one
// due (not from when a poll finished), so polls do not drift. A poll that overruns its
// interval delays the next one to the first due time after it finished; the due times it
// passed are skipped, never run back to back. Pure code.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "config/config.hpp"
#include "duration.hpp"

namespace qoewatch::schedule {

using clock = std::chrono::system_clock;

/// `t` (since the UTC epoch) floored to a whole multiple of the rule's interval, in whole
/// seconds: the rule's grid of window ends.
std::int64_t on_grid(const config::rule_config& rule, std::chrono::milliseconds t);

/// The end of the latest window a poll at `now` may judge: on_grid(now - delay).
std::int64_t aligned_end(const config::rule_config& rule, clock::time_point now);

/// When the poll judging the window that ends at `end` is due: end + delay + start_jitter.
clock::time_point due_for(const config::rule_config& rule, std::int64_t end);

/// A rule's first poll in a process started at `now`: the due time of the latest complete
/// window (already past, when the process starts after it: then it polls at once).
clock::time_point first_due(const config::rule_config& rule, clock::time_point now);

/// Jitter is a whole multiple of this: rules due within the same step are polled after one
/// wakeup of the process, not one each (a wakeup after a sleep costs a lightly loaded
/// process more CPU than the work of a small poll; bench/RESULTS.md, replicas).
inline constexpr duration jitter_step{100};

/// A delay in [0, min(interval / 4, 15s)) for the rule's first poll, stable for a rule name,
/// a whole multiple of jitter_step, so rules configured with the same interval do not all
/// poll in the same instant.
duration start_jitter(std::string_view rule_name, duration interval);

struct next_poll {
  clock::time_point due;      // when the next poll starts
  std::uint64_t skipped = 0;  // due times passed while the last poll ran
};

/// The next poll after one that was due at `due` and finished at `finished`.
next_poll after(clock::time_point due, clock::time_point finished, duration interval);

/// What a finished poll tells the schedule.
struct poll_end {
  bool behind = false;  // a catch-up slice succeeded and more follow
  std::optional<std::chrono::seconds> retry_after;  // SmartSight asked to wait this long
};

/// The next poll after one due at `due` that finished at `finished`: a catch-up slice is
/// followed at once (the due times its slices ran through are not counted as skipped);
/// otherwise `after`, woken later to honour a Retry-After that reaches past it (`retried`
/// says so). `next.due` stays on the rule's grid of due times either way; `wake` is when the
/// next poll starts.
struct following {
  next_poll next;
  clock::time_point wake;
  bool retried = false;
};
following next(clock::time_point due, clock::time_point finished, duration interval,
               const poll_end& end);

}  // namespace qoewatch::schedule
