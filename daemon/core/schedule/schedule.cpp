#include "schedule/schedule.hpp"

#include "hash.hpp"

#include <algorithm>

namespace qoewatch::schedule {

duration start_jitter(std::string_view rule_name, duration interval) {
  using namespace std::chrono_literals;
  duration span = std::min<duration>(interval / 4, 15s);
  if (span.count() <= 0) return duration{0};
  std::uint64_t h = fnv1a(rule_name);  // stable across runs and builds
  return duration{static_cast<duration::rep>(h % static_cast<std::uint64_t>(span.count()))};
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
    f.next.due = finished;
    return f;
  }
  f.next = after(due, finished, interval);
  if (end.retry_after && finished + *end.retry_after > f.next.due) {
    f.next.due = finished + *end.retry_after;
    f.retried = true;
  }
  return f;
}

}  // namespace qoewatch::schedule
