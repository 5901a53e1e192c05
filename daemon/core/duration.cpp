#include "duration.hpp"

#include <cstdint>
#include <cstdio>
#include <ctime>
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

std::string utc_rfc3339(std::chrono::system_clock::time_point t, bool millis) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(t);
  std::time_t whole = static_cast<std::time_t>(secs.time_since_epoch().count());
  std::tm tm{};
  gmtime_r(&whole, &tm);
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  if (millis) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - secs).count();
    n += static_cast<std::size_t>(
        std::snprintf(buf + n, sizeof buf - n, ".%03d", static_cast<int>(ms)));
  }
  return std::string(buf, n) + "Z";
}

}  // namespace qoewatch
