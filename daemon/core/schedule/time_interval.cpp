#include "schedule/time_interval.hpp"

#include <date/tz.h>

#include <algorithm>

namespace qoewatch::schedule {

namespace {

bool in(const std::vector<config::int_range>& ranges, int v) {
  return std::any_of(ranges.begin(), ranges.end(),
                     [v](const config::int_range& r) { return v >= r.begin && v <= r.end; });
}


}  // namespace

bool contains(const config::time_interval& iv, std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto at = floor<seconds>(t);
  // The wall clock and calendar of the interval's zone at `t`.
  const local_seconds local = iv.zone ? local_seconds{iv.zone->to_local(at).time_since_epoch()}
                                      : local_seconds{at.time_since_epoch()};
  const local_days day = floor<days>(local);
  const year_month_day date{sys_days{day.time_since_epoch()}};
  const hh_mm_ss<seconds> clock{local - day};
  if (iv.times) {
    const int minute = static_cast<int>(clock.hours().count() * 60 + clock.minutes().count());
    const bool hit = std::any_of(iv.times->begin(), iv.times->end(), [minute](const config::time_range& r) {
      return minute >= r.start && minute < r.end;
    });
    if (!hit) return false;
  }
  if (iv.weekdays) {
    const int wd = static_cast<int>(weekday{sys_days{day.time_since_epoch()}}.c_encoding());
    if (!in(*iv.weekdays, wd)) return false;
  }
  if (iv.days_of_month) {
    const int dim = static_cast<int>(static_cast<unsigned>(
        year_month_day_last{date.year(), month_day_last{date.month()}}.day()));
    const int d = static_cast<int>(static_cast<unsigned>(date.day()));
    const bool hit = std::any_of(iv.days_of_month->begin(), iv.days_of_month->end(),
                                 [dim, d](const config::int_range& r) {
                                   const int b = r.begin < 0 ? dim + r.begin + 1 : r.begin;
                                   const int e = r.end < 0 ? dim + r.end + 1 : r.end;
                                   if (b > dim) return false;  // the 31st in a 30-day month
                                   return d >= std::max(b, 1) && d <= std::min(e, dim);
                                 });
    if (!hit) return false;
  }
  if (iv.months && !in(*iv.months, static_cast<int>(static_cast<unsigned>(date.month()))))
    return false;
  if (iv.years && !in(*iv.years, static_cast<int>(date.year()))) return false;
  return true;
}

bool any_contains(const std::vector<config::time_interval>& intervals,
                  std::chrono::system_clock::time_point t) {
  return std::any_of(intervals.begin(), intervals.end(),
                     [t](const config::time_interval& iv) { return contains(iv, t); });
}

namespace {

bool any_named_holds(const std::vector<std::string>& names,
                     const std::vector<config::named_time_interval>& intervals,
                     std::chrono::system_clock::time_point t) {
  for (const std::string& name : names)
    if (const config::named_time_interval* n = config::named(intervals, name))
      if (any_contains(n->intervals, t)) return true;
  return false;
}

}  // namespace

bool muted(const config::rule_config& rule,
           const std::vector<config::named_time_interval>& intervals,
           std::chrono::system_clock::time_point t) {
  if (any_named_holds(rule.mute_time_intervals, intervals, t)) return true;
  return !rule.active_time_intervals.empty() &&
         !any_named_holds(rule.active_time_intervals, intervals, t);
}

}  // namespace qoewatch::schedule
