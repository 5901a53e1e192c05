// When a rule polls: every `interval` from a jittered start, measured from when each poll was
// due (not from when it finished), so polls do not drift. A poll that overruns its interval
// delays the next one to the first due time after it finished; the due times it passed are
// skipped, never run back to back. Pure code.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "duration.hpp"

namespace qoewatch::schedule {

using clock = std::chrono::steady_clock;

/// A delay in [0, min(interval / 4, 15s)) for the rule's first poll, stable for a rule name,
/// so rules configured with the same interval do not all poll in the same instant.
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
/// followed at once (and the schedule restarts from then); otherwise `after`, pushed back to
/// honour a Retry-After that reaches past it (`retried` says so).
struct following {
  next_poll next;
  bool retried = false;
};
following next(clock::time_point due, clock::time_point finished, duration interval,
               const poll_end& end);

}  // namespace qoewatch::schedule
