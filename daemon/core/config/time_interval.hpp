// Time intervals as Alertmanager writes them (`time_intervals:` in its config): times of day,
// weekdays, days of the month, months and years, read on the wall clock of a `location` (an
// IANA zone; UTC when none). This is what the config holds and how each field is read, with
// Alertmanager's words for what is wrong; whether an interval holds at an instant is
// schedule/time_interval.hpp. Pure code; zones are found through howardhinnant date/tz (the
// system's /usr/share/zoneinfo), kept in time_interval.cpp.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace date {
class time_zone;
}

namespace qoewatch::config {

/// Minutes of the day, start included, end excluded (end 1440 is "24:00").
struct time_range {
  int start = 0;
  int end = 0;
  bool operator==(const time_range&) const = default;
};

/// Inclusive. Weekdays count from Sunday = 0; days of the month may be negative (-1: the last).
struct int_range {
  int begin = 0;
  int end = 0;
  bool operator==(const int_range&) const = default;
};

struct time_interval {
  std::optional<std::vector<time_range>> times;
  std::optional<std::vector<int_range>> weekdays;
  std::optional<std::vector<int_range>> days_of_month;
  std::optional<std::vector<int_range>> months;
  std::optional<std::vector<int_range>> years;
  std::string location;                   // as written; "" for UTC
  const date::time_zone* zone = nullptr;  // nullptr: UTC
};

/// A named set of intervals (an entry of `time_intervals:`): it holds when any interval does.
struct named_time_interval {
  std::string name;
  std::vector<time_interval> intervals;
};

/// A parsed field value, or what is wrong with it.
template <class T>
struct parsed {
  std::optional<T> ok;
  std::string error;
};

/// `start_time` and `end_time`, "HH:MM" with two-digit hours, "24:00" allowed as the end.
parsed<time_range> parse_times(std::string_view start, std::string_view end);
/// "monday" or "monday:friday" (names only, any case).
parsed<int_range> parse_weekdays(std::string_view text);
/// "1", "1:5", "-3:-1", "1:-1".
parsed<int_range> parse_days_of_month(std::string_view text);
/// "january", "1:3", "january:march" (names any case, or numbers).
parsed<int_range> parse_months(std::string_view text);
/// "2026", "2026:2030".
parsed<int_range> parse_years(std::string_view text);

/// The zone of a `location`: "" and "UTC" are UTC (nullptr), "Local" the host's, otherwise an
/// IANA name ("Europe/Berlin"). Error: "unknown time zone <name>".
parsed<const date::time_zone*> find_location(std::string_view name);

}  // namespace qoewatch::config
