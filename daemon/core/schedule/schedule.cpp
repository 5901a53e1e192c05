#include "schedule/schedule.hpp"

#include "hash.hpp"

#include <algorithm>

namespace qoewatch::schedule {

duration start_jitter(std::string_view rule_name, duration interval) {
  using namespace std::chrono_literals;
  duration span = std::min<duration>(interval / 4, 15s);
  if (span.count() <= 0) return duration{0};
  std::uint64_t h = fnv1a(rule_name);  // stable across runs and builds
  const duration j{static_cast<duration::rep>(h % static_cast<std::uint64_t>(span.count()))};
  return j - j % jitter_step;
}

std::int64_t on_grid(const config::rule_config& rule, std::chrono::milliseconds t) {
  const std::int64_t at = t.count();
  const std::int64_t step = std::max<std::int64_t>(1, rule.interval.count());
  // Floored, also before the epoch (a test clock may start there).
  const std::int64_t grid = (at >= 0 ? at / step : (at - step + 1) / step) * step;
  return grid >= 0 ? grid / 1000 : (grid - 999) / 1000;
}

std::int64_t aligned_end(const config::rule_config& rule, clock::time_point now) {
  return on_grid(rule, std::chrono::duration_cast<std::chrono::milliseconds>(
                           now.time_since_epoch() - rule.delay));
}

clock::time_point due_for(const config::rule_config& rule, std::int64_t end) {
  return clock::time_point{} + std::chrono::seconds(end) + rule.delay +
         start_jitter(rule.name, rule.interval);
}

clock::time_point first_due(const config::rule_config& rule, clock::time_point now) {
  return due_for(rule, aligned_end(rule, now));
}

next_poll after(clock::time_point due, clock::time_point finished, duration interval) {
  next_poll n;
  n.due = due + interval;
  if (finished >= n.due && interval.count() > 0) {
    // Overran: skip to the first due time strictly after the poll finished.
    auto behind = (finished - n.due) / interval + 1;
    n.skipped = static_cast<std::uint64_t>(behind);
    n.due += interval * behind;
  }
  return n;
}

following next(clock::time_point due, clock::time_point finished, duration interval,
               const poll_end& end) {
  following f;
  if (end.behind) {
    // The next slice at once; the grid goes on from the last due time it has reached, so
    // the poll after the catch-up is due in the slot it ends in, and nothing is "skipped".
    f.next.due = due;
    if (finished > due && interval.count() > 0)
      f.next.due += interval * ((finished - due) / interval);
    f.wake = finished;
    return f;
  }
  f.next = after(due, finished, interval);
  f.wake = f.next.due;
  if (end.retry_after && finished + *end.retry_after > f.next.due) {
    f.wake = finished + *end.retry_after;
    f.retried = true;
  }
  return f;
}

}  // namespace qoewatch::schedule
