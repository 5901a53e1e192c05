#include "config/time_interval.hpp"

#include <date/tz.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

namespace qoewatch::config {

namespace {

constexpr std::array<std::string_view, 7> weekday_names{
    "sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<int> integer(std::string_view s) {
  int v = 0;
  const char* end = s.data() + s.size();
  const auto [p, ec] = std::from_chars(s.data() + (s.starts_with('+') ? 1 : 0), end, v);
  if (ec != std::errc{} || p != end || s.empty()) return std::nullopt;
  return v;
}

// "X" or "X:Y" (exactly one colon), lower-cased: the two ends.
std::optional<std::pair<std::string, std::string>> ends_of(std::string_view text) {
  const std::string t = lower(text);
  const std::size_t colon = t.find(':');
  if (colon == std::string::npos) return std::pair{t, t};
  if (t.find(':', colon + 1) != std::string::npos) return std::nullopt;
  return std::pair{t.substr(0, colon), t.substr(colon + 1)};
}

template <class T>
parsed<T> fail(std::string error) {
  return {std::nullopt, std::move(error)};
}

std::optional<int> minutes_of(std::string_view t) {
  if (t == "24:00") return 24 * 60;
  if (t.size() != 5 || t[2] != ':') return std::nullopt;
  for (std::size_t i : {0u, 1u, 3u, 4u})
    if (!std::isdigit(static_cast<unsigned char>(t[i]))) return std::nullopt;
  const int h = (t[0] - '0') * 10 + (t[1] - '0');
  const int m = (t[3] - '0') * 10 + (t[4] - '0');
  if (h > 23 || m > 59) return std::nullopt;
  return h * 60 + m;
}

}  // namespace

parsed<time_range> parse_times(std::string_view start, std::string_view end) {
  if (start.empty() || end.empty())
    return fail<time_range>("both start and end times must be provided");
  const std::optional<int> s = minutes_of(start);
  if (!s || *s == 24 * 60)
    return fail<time_range>("couldn't parse timestamp " + std::string(start) + ", invalid format");
  const std::optional<int> e = minutes_of(end);
  if (!e)
    return fail<time_range>("couldn't parse timestamp " + std::string(end) + ", invalid format");
  if (*s >= *e) return fail<time_range>("start time cannot be equal or greater than end time");
  return {time_range{*s, *e}, {}};
}

parsed<int_range> parse_weekdays(std::string_view text) {
  const auto ends = ends_of(text);
  if (!ends)
    return fail<int_range>("couldn't parse range " + std::string(text) + ", invalid format");
  auto day = [](const std::string& name) -> std::optional<int> {
    for (std::size_t i = 0; i < weekday_names.size(); ++i)
      if (weekday_names[i] == name) return static_cast<int>(i);
    return std::nullopt;
  };
  const auto b = day(ends->first), e = day(ends->second);
  if (!b) return fail<int_range>(ends->first + " is not a valid weekday");
  if (!e) return fail<int_range>(ends->second + " is not a valid weekday");
  if (*b > *e) return fail<int_range>("start day cannot be before end day");
  return {int_range{*b, *e}, {}};
}

parsed<int_range> parse_days_of_month(std::string_view text) {
  const auto ends = ends_of(text);
  if (!ends)
    return fail<int_range>("couldn't parse range " + std::string(text) + ", invalid format");
  const auto b = integer(ends->first), e = integer(ends->second);
  if (!b) return fail<int_range>(ends->first + " is not a valid day of the month");
  if (!e) return fail<int_range>(ends->second + " is not a valid day of the month");
  for (int v : {*b, *e})
    if (v == 0 || v < -31 || v > 31)
      return fail<int_range>(std::to_string(v) + " is not a valid day of the month: out of range");
  if (*b < 0 && *e > 0) return fail<int_range>("end day must be negative if start day is negative");
  // Empty in every month, even one of 28 days: refused.
  const int tb = *b < 0 ? 28 + *b + 1 : *b, te = *e < 0 ? 28 + *e + 1 : *e;
  if (te < tb)
    return fail<int_range>("end day " + std::to_string(*e) + " is always before start day " +
                           std::to_string(*b));
  return {int_range{*b, *e}, {}};
}

parsed<int_range> parse_months(std::string_view text) {
  const auto ends = ends_of(text);
  if (!ends)
    return fail<int_range>("couldn't parse range " + std::string(text) + ", invalid format");
  auto month = [](const std::string& name) -> std::optional<int> {
    static constexpr std::array<std::string_view, 12> names{
        "january", "february", "march",     "april",   "may",      "june",
        "july",    "august",   "september", "october", "november", "december"};
    for (std::size_t i = 0; i < names.size(); ++i)
      if (names[i] == name) return static_cast<int>(i) + 1;
    const std::optional<int> n = integer(name);
    if (n && *n >= 1 && *n <= 12) return n;
    return std::nullopt;
  };
  const auto b = month(ends->first), e = month(ends->second);
  if (!b) return fail<int_range>(ends->first + " is not a valid month");
  if (!e) return fail<int_range>(ends->second + " is not a valid month");
  if (*b > *e)
    return fail<int_range>("end month " + ends->second + " is before start month " + ends->first);
  return {int_range{*b, *e}, {}};
}

parsed<int_range> parse_years(std::string_view text) {
  const auto ends = ends_of(text);
  if (!ends)
    return fail<int_range>("couldn't parse range " + std::string(text) + ", invalid format");
  const auto b = integer(ends->first), e = integer(ends->second);
  if (!b) return fail<int_range>(ends->first + " is not a valid year");
  if (!e) return fail<int_range>(ends->second + " is not a valid year");
  if (*b > *e)
    return fail<int_range>("end year " + ends->second + " is before start year " + ends->first);
  return {int_range{*b, *e}, {}};
}

parsed<const date::time_zone*> find_location(std::string_view name) {
  if (name.empty() || name == "UTC") return {nullptr, {}};
  try {
    if (name == "Local") return {date::current_zone(), {}};
    return {date::locate_zone(name), {}};
  } catch (const std::exception&) {
    return {std::nullopt, "unknown time zone " + std::string(name)};
  }
}

}  // namespace qoewatch::config
