// Durations as written in config files: `250ms`, `30s`, `5m`, `1h`, and sums of these
// written together (`1h30m`). Pure code.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace qoewatch {

using duration = std::chrono::milliseconds;

/// Parses a duration; std::nullopt when the text is not one (no unit, unknown unit,
/// negative, overflow).
std::optional<duration> parse_duration(std::string_view text);

/// Prints the shortest exact form, largest units first: 90000ms -> "1m30s", 250ms -> "250ms",
/// 0 -> "0s". For every d that parse_duration can return (0 up to
/// INT64_MAX/4 ms), parse_duration(format_duration(d)) == d.
std::string format_duration(duration d);

/// A wall-clock time as seconds since the epoch, with fractions (what the state database,
/// the metrics and the payloads store).
inline double epoch_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

/// The wall-clock time `seconds` after the epoch: the inverse of epoch_seconds.
inline std::chrono::system_clock::time_point from_epoch_seconds(double seconds) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::duration<double>(seconds)));
}

/// Epoch seconds as whole milliseconds since the epoch, rounded down: how silences and the
/// Alertmanager API keep times.
inline std::int64_t epoch_ms(double seconds) {
  return static_cast<std::int64_t>(std::floor(seconds * 1000.0));
}

/// `d` in whole seconds (truncated): what windows, checkpoints and expiries count in.
inline std::int64_t whole_seconds(duration d) {
  return std::chrono::duration_cast<std::chrono::seconds>(d).count();
}

/// `t` in UTC as RFC 3339, "2026-11-27T05:33:18Z" (the second rounded down), or with
/// milliseconds, "2026-11-27T05:33:18.314Z".
std::string utc_rfc3339(std::chrono::system_clock::time_point t, bool millis = false);

/// Epoch seconds in UTC as RFC 3339 with whole seconds, "2026-04-09T15:53:00Z" (the fraction
/// dropped, rounding down): how payloads, logs and the dead-letter list write times.
std::string utc_rfc3339(double epoch_seconds);

/// Parses an RFC 3339 time, "2026-12-05T19:13:23.846Z" or with an offset, "+02:00" (a space
/// for the T, a lowercase t or z, and no zone at all, read as UTC, are accepted too, as
/// Alertmanager accepts them): milliseconds since the epoch, the fraction truncated.
/// std::nullopt when the text is not such a time (or names no real day, or years outside
/// 1678..2261).
std::optional<std::int64_t> parse_rfc3339_ms(std::string_view text);

}  // namespace qoewatch
