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

template <class T>
parsed<T> fail(std::string error) {
  return {std::nullopt, std::move(error)};
}

using ends = std::pair<std::string, std::string>;

// "X" or "X:Y" (exactly one colon), lower-cased: the two ends.
parsed<ends> ends_of(std::string_view text) {
  const std::string t = lower(text);
  const std::size_t colon = t.find(':');
  if (colon == std::string::npos) return {ends{t, t}, {}};
  if (t.find(':', colon + 1) != std::string::npos)
    return fail<ends>("couldn't parse range " + std::string(text) + ", invalid format");
  return {ends{t.substr(0, colon), t.substr(colon + 1)}, {}};
}

// Both ends read by `value`, not yet checked for order: "<end> is not a valid <what>" when
// one is not a value.
template <class Value>
parsed<int_range> range_of(const ends& e, std::string_view what, Value value) {
  const std::optional<int> b = value(e.first), l = value(e.second);
  if (!b) return fail<int_range>(e.first + " is not a valid " + std::string(what));
  if (!l) return fail<int_range>(e.second + " is not a valid " + std::string(what));
  return {int_range{*b, *l}, {}};
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
  const parsed<ends> e = ends_of(text);
  if (!e.ok) return fail<int_range>(e.error);
  auto day = [](const std::string& name) -> std::optional<int> {
    for (std::size_t i = 0; i < weekday_names.size(); ++i)
      if (weekday_names[i] == name) return static_cast<int>(i);
    return std::nullopt;
  };
  parsed<int_range> r = range_of(*e.ok, "weekday", day);
  if (r.ok && r.ok->begin > r.ok->end) return fail<int_range>("start day cannot be before end day");
  return r;
}

parsed<int_range> parse_days_of_month(std::string_view text) {
  const parsed<ends> e = ends_of(text);
  if (!e.ok) return fail<int_range>(e.error);
  parsed<int_range> r = range_of(*e.ok, "day of the month", integer);
  if (!r.ok) return r;
  const int b = r.ok->begin, l = r.ok->end;
  for (int v : {b, l})
    if (v == 0 || v < -31 || v > 31)
      return fail<int_range>(std::to_string(v) + " is not a valid day of the month: out of range");
  if (b < 0 && l > 0) return fail<int_range>("end day must be negative if start day is negative");
  // Empty in every month, even one of 28 days: refused.
  const int tb = b < 0 ? 28 + b + 1 : b, tl = l < 0 ? 28 + l + 1 : l;
  if (tl < tb)
    return fail<int_range>("end day " + std::to_string(l) + " is always before start day " +
                           std::to_string(b));
  return r;
}

parsed<int_range> parse_months(std::string_view text) {
  const parsed<ends> e = ends_of(text);
  if (!e.ok) return fail<int_range>(e.error);
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
  parsed<int_range> r = range_of(*e.ok, "month", month);
  if (r.ok && r.ok->begin > r.ok->end)
    return fail<int_range>("end month " + e.ok->second + " is before start month " + e.ok->first);
  return r;
}

parsed<int_range> parse_years(std::string_view text) {
  const parsed<ends> e = ends_of(text);
  if (!e.ok) return fail<int_range>(e.error);
  parsed<int_range> r = range_of(*e.ok, "year", integer);
  if (r.ok && r.ok->begin > r.ok->end)
    return fail<int_range>("end year " + e.ok->second + " is before start year " + e.ok->first);
  return r;
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
