#include "schedule/time_interval.hpp"

#include "config/time_interval.hpp"

#include <gtest/gtest.h>

#include "duration.hpp"

namespace qoewatch::schedule {
namespace {

using config::find_location;
using config::int_range;
using config::parse_days_of_month;
using config::parse_months;
using config::parse_times;
using config::parse_weekdays;
using config::parse_years;
using config::parsed;
using config::time_interval;
using config::time_range;

using std::chrono::system_clock;

system_clock::time_point at(std::string_view rfc3339) {
  const std::optional<std::int64_t> ms = parse_rfc3339_ms(rfc3339);
  EXPECT_TRUE(ms) << rfc3339;
  return system_clock::time_point(std::chrono::milliseconds(ms.value_or(0)));
}

time_interval hours(std::string_view start, std::string_view end, std::string_view location) {
  time_interval iv;
  iv.times = std::vector<time_range>{*parse_times(start, end).ok};
  iv.location = std::string(location);
  iv.zone = *find_location(location).ok;
  return iv;
}

TEST(TimeInterval, FieldsParseAsAlertmanagerReadsThem) {
  EXPECT_EQ(parse_times("00:00", "24:00").ok, (time_range{0, 1440}));
  EXPECT_EQ(parse_times("17:30", "18:00").ok, (time_range{1050, 1080}));
  EXPECT_EQ(parse_weekdays("Monday:FRIDAY").ok, (int_range{1, 5}));
  EXPECT_EQ(parse_weekdays("sunday").ok, (int_range{0, 0}));
  EXPECT_EQ(parse_days_of_month("-3:-1").ok, (int_range{-3, -1}));
  EXPECT_EQ(parse_days_of_month("1:-1").ok, (int_range{1, -1}));
  EXPECT_EQ(parse_months("january:march").ok, (int_range{1, 3}));
  EXPECT_EQ(parse_months("12").ok, (int_range{12, 12}));
  EXPECT_EQ(parse_years("2026:2030").ok, (int_range{2026, 2030}));

  struct row {
    parsed<time_range> t;
    std::string_view error;
  };
  for (const row& r : {
           row{parse_times("9:00", "10:00"), "couldn't parse timestamp 9:00, invalid format"},
           row{parse_times("10:00", "24:01"), "couldn't parse timestamp 24:01, invalid format"},
           row{parse_times("24:00", "24:00"), "couldn't parse timestamp 24:00, invalid format"},
           row{parse_times("10:00", "10:00"),
               "start time cannot be equal or greater than end time"},
           row{parse_times("22:00", "06:00"),
               "start time cannot be equal or greater than end time"},
           row{parse_times("", "06:00"), "both start and end times must be provided"},
       })
    EXPECT_EQ(r.t.error, r.error);
  EXPECT_EQ(parse_weekdays("1").error, "1 is not a valid weekday");
  EXPECT_EQ(parse_weekdays("friday:monday").error, "start day cannot be before end day");
  EXPECT_EQ(parse_weekdays("a:b:c").error, "couldn't parse range a:b:c, invalid format");
  EXPECT_EQ(parse_days_of_month("0").error, "0 is not a valid day of the month: out of range");
  EXPECT_EQ(parse_days_of_month("32").error, "32 is not a valid day of the month: out of range");
  EXPECT_EQ(parse_days_of_month("-3:5").error, "end day must be negative if start day is negative");
  EXPECT_EQ(parse_days_of_month("10:-25").error, "end day -25 is always before start day 10");
  EXPECT_EQ(parse_months("smarch").error, "smarch is not a valid month");
  EXPECT_EQ(parse_months("march:january").error, "end month january is before start month march");
  EXPECT_EQ(parse_years("2030:2026").error, "end year 2026 is before start year 2030");
  EXPECT_EQ(find_location("Mars/Olympus").error, "unknown time zone Mars/Olympus");
  EXPECT_TRUE(find_location("Europe/Berlin").ok);
  EXPECT_EQ(find_location("UTC").ok, nullptr);
}

TEST(TimeInterval, EveryGivenFieldMustMatchOnTheZonesWallClock) {
  time_interval weekdays_office = hours("09:00", "17:00", "Europe/Berlin");
  weekdays_office.weekdays = std::vector<int_range>{{1, 5}};
  // Friday 2026-12-04 16:30 in Berlin is 15:30Z; 17:00 there is excluded.
  EXPECT_TRUE(contains(weekdays_office, at("2026-12-04T15:30:00Z")));
  EXPECT_FALSE(contains(weekdays_office, at("2026-12-04T16:00:00Z")));
  EXPECT_TRUE(contains(weekdays_office, at("2026-12-04T08:00:00Z")));   // 09:00 local
  EXPECT_FALSE(contains(weekdays_office, at("2026-12-05T10:00:00Z")));  // Saturday
  // The local date decides the weekday: 23:30Z Sunday is already Monday in Berlin.
  EXPECT_TRUE(contains(hours("00:00", "01:00", "Europe/Berlin"), at("2026-12-06T23:30:00Z")));
  time_interval monday;
  monday.weekdays = std::vector<int_range>{{1, 1}};
  monday.zone = *find_location("Europe/Berlin").ok;
  EXPECT_TRUE(contains(monday, at("2026-12-06T23:30:00Z")));
  monday.zone = nullptr;  // in UTC it is still Sunday
  EXPECT_FALSE(contains(monday, at("2026-12-06T23:30:00Z")));

  time_interval end_of_month;
  end_of_month.days_of_month = std::vector<int_range>{{-3, -1}};
  EXPECT_TRUE(contains(end_of_month, at("2026-02-26T12:00:00Z")));
  EXPECT_FALSE(contains(end_of_month, at("2026-02-25T12:00:00Z")));
  EXPECT_TRUE(contains(end_of_month, at("2026-03-31T12:00:00Z")));
  time_interval thirty_first;
  thirty_first.days_of_month = std::vector<int_range>{{31, 31}};
  EXPECT_FALSE(contains(thirty_first, at("2026-04-30T12:00:00Z")));
  // A calendar month, also in a zone's spring-forward month (Alertmanager 0.25 counted 30).
  time_interval last_day;
  last_day.days_of_month = std::vector<int_range>{{-1, -1}};
  last_day.zone = *find_location("Europe/Berlin").ok;
  EXPECT_TRUE(contains(last_day, at("2026-03-31T10:00:00Z")));
  EXPECT_FALSE(contains(last_day, at("2026-03-30T10:00:00Z")));

  time_interval q1_2026;
  q1_2026.months = std::vector<int_range>{{1, 3}};
  q1_2026.years = std::vector<int_range>{{2026, 2026}};
  EXPECT_TRUE(contains(q1_2026, at("2026-02-01T00:00:00Z")));
  EXPECT_FALSE(contains(q1_2026, at("2027-02-01T00:00:00Z")));
  EXPECT_FALSE(contains(q1_2026, at("2026-04-01T00:00:00Z")));
  EXPECT_TRUE(contains(time_interval{}, at("2026-04-01T00:00:00Z")));  // no field: always
  time_interval never;
  never.weekdays = std::vector<int_range>{};  // an empty list matches nothing
  EXPECT_FALSE(contains(never, at("2026-04-01T00:00:00Z")));
  EXPECT_TRUE(any_contains({never, q1_2026}, at("2026-02-01T00:00:00Z")));
  EXPECT_FALSE(any_contains({}, at("2026-02-01T00:00:00Z")));
}

// How long, in real minutes of the day `day` (UTC, +/- 12 h), the interval holds.
int minutes_held(const time_interval& iv, std::string_view from, std::string_view to) {
  int n = 0;
  for (auto t = at(from); t < at(to); t += std::chrono::minutes(1)) n += contains(iv, t) ? 1 : 0;
  return n;
}

TEST(TimeInterval, WallClockRangesOnDstDays) {
  // America/New_York, 2023-03-12: 02:00 EST jumps to 03:00 EDT at 07:00Z.
  const auto ny = [](std::string_view s, std::string_view e) {
    return hours(s, e, "America/New_York");
  };
  EXPECT_EQ(minutes_held(ny("01:00", "03:00"), "2023-03-12T00:00:00Z", "2023-03-13T00:00:00Z"), 60);
  EXPECT_TRUE(contains(ny("01:00", "03:00"), at("2023-03-12T06:30:00Z")));
  EXPECT_FALSE(contains(ny("01:00", "03:00"), at("2023-03-12T07:00:00Z")));
  EXPECT_EQ(minutes_held(ny("02:00", "03:00"), "2023-03-12T00:00:00Z", "2023-03-13T00:00:00Z"), 0);
  EXPECT_EQ(minutes_held(ny("02:30", "04:00"), "2023-03-12T00:00:00Z", "2023-03-13T00:00:00Z"), 60);
  // 2023-11-05: 02:00 EDT falls back to 01:00 EST at 06:00Z; 01:xx happens twice.
  EXPECT_EQ(minutes_held(ny("01:00", "03:00"), "2023-11-05T00:00:00Z", "2023-11-06T00:00:00Z"),
            180);
  EXPECT_EQ(minutes_held(ny("01:00", "02:00"), "2023-11-05T00:00:00Z", "2023-11-06T00:00:00Z"),
            120);
  EXPECT_TRUE(contains(ny("01:00", "03:00"), at("2023-11-05T05:00:00Z")));
  EXPECT_TRUE(contains(ny("01:00", "03:00"), at("2023-11-05T07:59:00Z")));
  EXPECT_FALSE(contains(ny("01:00", "03:00"), at("2023-11-05T08:00:00Z")));
  // Europe/Berlin, 2023-03-26 (spring, 01:00Z) and 2023-10-29 (fall, 01:00Z).
  const auto berlin = hours("01:00", "03:00", "Europe/Berlin");
  EXPECT_EQ(minutes_held(berlin, "2023-03-25T12:00:00Z", "2023-03-26T12:00:00Z"), 60);
  EXPECT_TRUE(contains(berlin, at("2023-03-26T00:00:00Z")));
  EXPECT_EQ(minutes_held(berlin, "2023-10-28T12:00:00Z", "2023-10-29T12:00:00Z"), 180);
  EXPECT_TRUE(contains(berlin, at("2023-10-28T23:00:00Z")));
  EXPECT_FALSE(contains(berlin, at("2023-10-29T02:00:00Z")));
}

}  // namespace
}  // namespace qoewatch::schedule
