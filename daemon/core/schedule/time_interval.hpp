// Whether a time interval of the config holds at an instant: every field it gives matches on
// the wall clock and calendar of its location (a field left out matches everything; within a
// field, any range may match); a named set holds when any of its intervals does. So a range of
// wall-clock times covers what the clock shows on a DST day: 01:00-03:00 is one real hour on
// the day clocks spring forward, three on the day they fall back. Unlike Alertmanager 0.25, a
// month's length is the calendar's (0.25 counts 30 days in a spring-forward month). Pure code.
#pragma once

#include <chrono>
#include <vector>

#include "config/config.hpp"
#include "config/time_interval.hpp"

namespace qoewatch::schedule {

/// Whether the interval contains the instant `t`.
bool contains(const config::time_interval& interval, std::chrono::system_clock::time_point t);

/// Whether any of the intervals contains `t`.
bool any_contains(const std::vector<config::time_interval>& intervals,
                  std::chrono::system_clock::time_point t);

/// Whether `rule`'s notifications are held at `t` by its maintenance windows: one of its
/// mute_time_intervals holds, or it names active_time_intervals and none of them holds. A
/// name `intervals` lacks holds nowhere (the config loader refuses such a name).
bool muted(const config::rule_config& rule,
           const std::vector<config::named_time_interval>& intervals,
           std::chrono::system_clock::time_point t);

}  // namespace qoewatch::schedule
