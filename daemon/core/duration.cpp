#include "duration.hpp"

#include <cmath>
#include <chrono>
#include <cstdint>
#include <limits>

namespace qoewatch {

std::optional<duration> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  constexpr std::int64_t max_ms = std::numeric_limits<std::int64_t>::max() / 4;
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::int64_t n = 0;
    std::size_t digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (n > max_ms / 10) return std::nullopt;
      n = n * 10 + (text[i] - '0');
      ++i;
      ++digits;
    }
    if (digits == 0) return std::nullopt;
    std::int64_t unit = 0;
    if (text.substr(i, 2) == "ms") {
      unit = 1;
      i += 2;
    } else if (i < text.size() && text[i] == 's') {
      unit = 1000;
      ++i;
    } else if (i < text.size() && text[i] == 'm') {
      unit = 60'000;
      ++i;
    } else if (i < text.size() && text[i] == 'h') {
      unit = 3'600'000;
      ++i;
    } else {
      return std::nullopt;
    }
    if (n > (max_ms - total) / unit) return std::nullopt;
    total += n * unit;
  }
  return duration{total};
}

std::string format_duration(duration d) {
  if (d.count() == 0) return "0s";
  std::string out;
  // The magnitude in unsigned arithmetic: negating INT64_MIN is undefined behaviour.
  auto ms = static_cast<std::uint64_t>(d.count());
  if (d.count() < 0) {
    out += '-';
    ms = 0 - ms;
  }
  auto part = [&](std::uint64_t unit, const char* suffix) {
    if (ms >= unit) {
      out += std::to_string(ms / unit);
      out += suffix;
      ms %= unit;
    }
  };
  part(3'600'000, "h");
  part(60'000, "m");
  part(1000, "s");
  part(1, "ms");
  return out;
}

namespace {
// `value` in `width` decimal digits, zero-padded.
char* digits(char* out, unsigned value, int width) {
  for (int i = width - 1; i >= 0; --i, value /= 10) out[i] = static_cast<char>('0' + value % 10);
  return out + width;
}
}  // namespace

std::string utc_rfc3339(std::chrono::system_clock::time_point t, bool millis) {
  // Calendar arithmetic rather than gmtime_r and strftime: this runs for every alert rendered
  // (tens of thousands after an outage), and strftime consults the locale.
  using namespace std::chrono;
  const auto secs = floor<seconds>(t);
  const auto day = floor<days>(secs);
  const year_month_day date{day};
  // system_clock counts 64-bit nanoseconds here: years 1677 to 2262, always four digits.
  const hh_mm_ss<seconds> time{secs - day};
  char buf[32];
  char* p = digits(buf, static_cast<unsigned>(static_cast<int>(date.year())), 4);
  *p++ = '-';
  p = digits(p, static_cast<unsigned>(date.month()), 2);
  *p++ = '-';
  p = digits(p, static_cast<unsigned>(date.day()), 2);
  *p++ = 'T';
  p = digits(p, static_cast<unsigned>(time.hours().count()), 2);
  *p++ = ':';
  p = digits(p, static_cast<unsigned>(time.minutes().count()), 2);
  *p++ = ':';
  p = digits(p, static_cast<unsigned>(time.seconds().count()), 2);
  std::size_t n = static_cast<std::size_t>(p - buf);
  if (millis) {
    auto ms = duration_cast<milliseconds>(t - secs).count();
    buf[n++] = '.';
    n = static_cast<std::size_t>(digits(buf + n, static_cast<unsigned>(ms), 3) - buf);
  }
  buf[n++] = 'Z';
  return std::string(buf, n);
}

std::optional<std::int64_t> parse_rfc3339_ms(std::string_view t) {
  using namespace std::chrono;
  std::size_t i = 0;
  auto number = [&](int width, int& out) {
    if (i + static_cast<std::size_t>(width) > t.size()) return false;
    out = 0;
    for (int k = 0; k < width; ++k, ++i) {
      if (t[i] < '0' || t[i] > '9') return false;
      out = out * 10 + (t[i] - '0');
    }
    return true;
  };
  auto expect = [&](std::string_view any_of) {
    if (i >= t.size() || any_of.find(t[i]) == std::string_view::npos) return false;
    ++i;
    return true;
  };
  int y, mo, d, h, mi, s;
  if (!number(4, y) || !expect("-") || !number(2, mo) || !expect("-") || !number(2, d) ||
      !expect("Tt ") || !number(2, h) || !expect(":") || !number(2, mi) || !expect(":") ||
      !number(2, s))
    return std::nullopt;
  if (y < 1678 || y > 2261 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  std::int64_t ms = 0;
  if (i < t.size() && t[i] == '.') {
    ++i;
    int places = 0;
    for (; i < t.size() && t[i] >= '0' && t[i] <= '9'; ++i, ++places)
      if (places < 3) ms = ms * 10 + (t[i] - '0');
    if (places == 0) return std::nullopt;
    for (; places < 3; ++places) ms *= 10;
  }
  std::int64_t offset_minutes = 0;
  if (i < t.size()) {
    if (t[i] == 'Z' || t[i] == 'z') {
      ++i;
    } else if (t[i] == '+' || t[i] == '-') {
      const int sign = t[i] == '-' ? -1 : 1;
      ++i;
      int oh, om;
      if (!number(2, oh) || !expect(":") || !number(2, om) || oh > 23 || om > 59)
        return std::nullopt;
      offset_minutes = sign * (oh * 60 + om);
    } else {
      return std::nullopt;
    }
  }
  if (i != t.size()) return std::nullopt;
  const year_month_day date{year{y}, month{static_cast<unsigned>(mo)},
                            day{static_cast<unsigned>(d)}};
  if (!date.ok()) return std::nullopt;
  const std::int64_t seconds_since =
      duration_cast<seconds>(sys_days{date}.time_since_epoch()).count() + h * 3600 + mi * 60 + s -
      offset_minutes * 60;
  return seconds_since * 1000 + ms;
}

std::string utc_rfc3339(double epoch_seconds) {
  const auto whole = static_cast<std::int64_t>(std::floor(epoch_seconds));
  return utc_rfc3339(std::chrono::system_clock::time_point(std::chrono::seconds(whole)));
}

}  // namespace qoewatch
