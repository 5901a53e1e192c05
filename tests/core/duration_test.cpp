// Durations as written in config files: parse_duration / format_duration.
#include "duration.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <limits>
#include <optional>
#include <ostream>
#include <random>
#include <string>

namespace qoewatch {
namespace {

using namespace std::chrono_literals;

// The largest duration parse_duration accepts (it keeps headroom for sums).
constexpr std::int64_t kMaxMs = std::numeric_limits<std::int64_t>::max() / 4;

struct valid_case {
  const char* text;
  std::int64_t ms;
};

void PrintTo(const valid_case& c, std::ostream* os) {
  *os << "\"" << c.text << "\"";
}

class ParseDurationValid : public ::testing::TestWithParam<valid_case> {};

TEST_P(ParseDurationValid, ParsesToMilliseconds) {
  const valid_case& c = GetParam();
  std::optional<duration> d = parse_duration(c.text);
  ASSERT_TRUE(d.has_value()) << "text: \"" << c.text << "\"";
  EXPECT_EQ(d->count(), c.ms) << "text: \"" << c.text << "\"";
}

INSTANTIATE_TEST_SUITE_P(
    Forms, ParseDurationValid,
    ::testing::Values(valid_case{"250ms", 250}, valid_case{"30s", 30'000},
                      valid_case{"5m", 300'000}, valid_case{"1h", 3'600'000}, valid_case{"0s", 0},
                      valid_case{"0ms", 0}, valid_case{"0h", 0}, valid_case{"1ms", 1},
                      valid_case{"007s", 7'000},
                      valid_case{"90s", 90'000},  // no normalisation required
                      valid_case{"1h30m", 5'400'000}, valid_case{"1m30s", 90'000},
                      valid_case{"1s500ms", 1'500}, valid_case{"2h0m1s", 7'201'000},
                      valid_case{"1h2m3s4ms", 3'723'004},
                      // Parts are summed as written, in any order.
                      valid_case{"30m1h", 5'400'000}, valid_case{"1m1m", 120'000},
                      // `ms` wins over `m` followed by `s`.
                      valid_case{"5ms", 5}, valid_case{"5m5s", 305'000},
                      valid_case{"2305843009213693951ms", kMaxMs}));

class ParseDurationInvalid : public ::testing::TestWithParam<const char*> {};

TEST_P(ParseDurationInvalid, IsRejected) {
  std::optional<duration> d = parse_duration(GetParam());
  EXPECT_FALSE(d.has_value()) << "text: \"" << GetParam() << "\" parsed as " << d->count() << "ms";
}

INSTANTIATE_TEST_SUITE_P(Malformed, ParseDurationInvalid,
                         ::testing::Values("", " ", "10", "10x", "-5s", "+5s", "5 s", " 5s", "5s ",
                                           "1.5s", "1,5s", "s", "ms", "h1", "1h30", "5S", "5H",
                                           "5M", "5Ms", "5sec", "5min", "5mss", "5d", "1h 30m",
                                           "1h-30m", "5s5", "0x10s"));

INSTANTIATE_TEST_SUITE_P(
    Overflow, ParseDurationInvalid,
    ::testing::Values("2305843009213693952ms",  // one past the limit
                      "99999999999999999999ms", "9223372036854775807ms", "9223372036854775808ms",
                      "99999999999999999999999999999999s",
                      "640511947003h48m13s952ms",  // the limit plus 1ms, written compound
                      "2305843009213693951ms1ms", "18446744073709551616h", "3000000000000000h"));

TEST(ParseDuration, CompoundAtTheLimitIsAccepted) {
  std::optional<duration> d = parse_duration("640511947003h48m13s951ms");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->count(), kMaxMs);
}

struct format_case {
  std::int64_t ms;
  const char* text;
};

void PrintTo(const format_case& c, std::ostream* os) {
  *os << c.ms << "ms";
}

class FormatDuration : public ::testing::TestWithParam<format_case> {};

TEST_P(FormatDuration, PrintsShortestExactForm) {
  const format_case& c = GetParam();
  EXPECT_EQ(format_duration(duration{c.ms}), c.text) << "ms: " << c.ms;
}

INSTANTIATE_TEST_SUITE_P(
    Forms, FormatDuration,
    ::testing::Values(format_case{0, "0s"}, format_case{1, "1ms"}, format_case{250, "250ms"},
                      format_case{999, "999ms"}, format_case{1'000, "1s"},
                      format_case{1'500, "1s500ms"}, format_case{30'000, "30s"},
                      format_case{60'000, "1m"}, format_case{90'000, "1m30s"},
                      format_case{3'600'000, "1h"}, format_case{3'600'001, "1h1ms"},
                      format_case{5'400'000, "1h30m"}, format_case{3'723'004, "1h2m3s4ms"},
                      format_case{86'400'000, "24h"},  // no day unit
                      format_case{-1'500, "-1s500ms"}, format_case{-250, "-250ms"},
                      format_case{kMaxMs, "640511947003h48m13s951ms"}));

TEST(FormatDuration, ExtremeNegativeDoesNotOverflow) {
  // Negating INT64_MIN is undefined behaviour; the magnitude is computed unsigned.
  EXPECT_EQ(format_duration(duration::min()), "-2562047788015h12m55s808ms");
  EXPECT_EQ(format_duration(duration::max()), "2562047788015h12m55s807ms");
}

TEST(FormatDuration, ChronoLiteralsPrintAsExpected) {
  EXPECT_EQ(format_duration(std::chrono::duration_cast<duration>(2h + 5min)), "2h5m");
  EXPECT_EQ(format_duration(duration{10s}), "10s");
}

TEST(DurationRoundTrip, FormatThenParseIsIdentityOnRandomValues) {
  std::mt19937_64 rng(20240611);
  // Mix of magnitudes: small values hit single units, large ones hit every unit.
  std::uniform_int_distribution<int> magnitude(0, 5);
  for (int i = 0; i < 2000; ++i) {
    std::int64_t ms = 0;
    switch (magnitude(rng)) {
      case 0:
        ms = std::uniform_int_distribution<std::int64_t>(0, 1'000)(rng);
        break;
      case 1:
        ms = std::uniform_int_distribution<std::int64_t>(0, 100)(rng) * 1'000;
        break;
      case 2:
        ms = std::uniform_int_distribution<std::int64_t>(0, 100)(rng) * 60'000;
        break;
      case 3:
        ms = std::uniform_int_distribution<std::int64_t>(0, 10'000'000'000)(rng);
        break;
      case 4:
        ms = std::uniform_int_distribution<std::int64_t>(0, kMaxMs)(rng);
        break;
      default:
        ms = kMaxMs - std::uniform_int_distribution<std::int64_t>(0, 10'000)(rng);
        break;
    }
    std::string text = format_duration(duration{ms});
    std::optional<duration> back = parse_duration(text);
    ASSERT_TRUE(back.has_value()) << "ms=" << ms << " formatted as \"" << text << "\"";
    ASSERT_EQ(back->count(), ms) << "formatted as \"" << text << "\"";
  }
}

TEST(DurationRoundTrip, ParseThenFormatIsCanonical) {
  // Non-canonical spellings print canonically.
  EXPECT_EQ(format_duration(*parse_duration("90s")), "1m30s");
  EXPECT_EQ(format_duration(*parse_duration("30m1h")), "1h30m");
  EXPECT_EQ(format_duration(*parse_duration("1000ms")), "1s");
  EXPECT_EQ(format_duration(*parse_duration("0ms")), "0s");
}

}  // namespace
// What utc_rfc3339 printed before it did its own calendar arithmetic: gmtime_r + strftime.
std::string rfc3339_reference(std::int64_t secs, int ms, bool millis) {
  std::time_t whole = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&whole, &tm);
  char buf[64];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  if (millis) n += static_cast<std::size_t>(std::snprintf(buf + n, sizeof buf - n, ".%03d", ms));
  return std::string(buf, n) + "Z";
}

std::string rfc3339_of(std::int64_t secs, int ms, bool millis) {
  return utc_rfc3339(std::chrono::system_clock::time_point(std::chrono::seconds(secs) +
                                                           std::chrono::milliseconds(ms)),
                     millis);
}

TEST(UtcRfc3339, PrintsCalendarEdges) {
  EXPECT_EQ(rfc3339_of(0, 0, false), "1970-01-01T00:00:00Z");
  EXPECT_EQ(rfc3339_of(-1, 0, false), "1969-12-31T23:59:59Z");
  EXPECT_EQ(rfc3339_of(951782400, 0, false), "2000-02-29T00:00:00Z");
  EXPECT_EQ(rfc3339_of(1709251199, 999, true), "2024-02-29T23:59:59.999Z");
  EXPECT_EQ(rfc3339_of(1795762591, 7, true), "2026-11-27T06:56:31.007Z");
  // The ends of what system_clock (64-bit nanoseconds) holds.
  EXPECT_EQ(rfc3339_of(-9'223'372'036, 0, false), "1677-09-21T00:12:44Z");
  EXPECT_EQ(rfc3339_of(9'223'372'035, 0, false), "2262-04-11T23:47:15Z");
}

TEST(UtcRfc3339, AgreesWithGmtimeAndStrftimeOnRandomInstants) {
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<std::int64_t> secs(-9'223'372'036, 9'223'372'035);
  std::uniform_int_distribution<int> ms(0, 999);
  for (int i = 0; i < 20000; ++i) {
    const std::int64_t s = secs(rng);
    const int m = ms(rng);
    const bool millis = i % 2 == 0;
    ASSERT_EQ(rfc3339_of(s, m, millis), rfc3339_reference(s, m, millis)) << s << " " << m;
  }
}

TEST(Rfc3339, EpochSecondsDropTheirFraction) {
  EXPECT_EQ(utc_rfc3339(0.0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(utc_rfc3339(1775749980.9), "2026-04-09T15:53:00Z");
  EXPECT_EQ(utc_rfc3339(-0.5), "1969-12-31T23:59:59Z");  // rounded down, not toward zero
}

}  // namespace qoewatch

TEST(Rfc3339, ParsesWhatAmtoolAndAlertmanagerClientsSend) {
  const std::int64_t at = 1'764'962'003'846;  // 2025-12-05T19:13:23.846Z
  EXPECT_EQ(qoewatch::parse_rfc3339_ms("2025-12-05T19:13:23.846Z"), at);
  EXPECT_EQ(qoewatch::parse_rfc3339_ms("2025-12-05T21:13:23.846+02:00"), at);
  EXPECT_EQ(qoewatch::parse_rfc3339_ms("2025-12-05T18:43:23.846-00:30"), at);
  EXPECT_EQ(qoewatch::parse_rfc3339_ms("2025-12-05T19:13:23.846999999Z"), at);  // truncated
  EXPECT_EQ(qoewatch::parse_rfc3339_ms("2025-12-05t19:13:23.846z"), at);
  EXPECT_EQ(qoewatch::parse_rfc3339_ms("2025-12-05 19:13:23.846"), at);  // no zone: UTC
  EXPECT_EQ(qoewatch::parse_rfc3339_ms("2025-12-05T19:13:23Z"), at - 846);
  EXPECT_EQ(qoewatch::parse_rfc3339_ms("2025-12-05T19:13:23.8Z"), at - 46);
  EXPECT_EQ(qoewatch::parse_rfc3339_ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(qoewatch::parse_rfc3339_ms("2024-02-29T00:00:00Z"), 1'709'164'800'000);
  for (const char* bad :
       {"", "2025-12-05", "2025-12-05T19:13Z", "2025-13-05T19:13:23Z", "2025-02-29T00:00:00Z",
        "2025-12-05T24:00:00Z", "2025-12-05T19:13:23.Z", "2025-12-05T19:13:23+0200",
        "2025-12-05T19:13:23Zjunk", "1764962003", "0001-01-01T00:00:00Z"})
    EXPECT_FALSE(qoewatch::parse_rfc3339_ms(bad)) << bad;
  // The formatter's output reads back.
  const auto t = std::chrono::system_clock::time_point(std::chrono::milliseconds(at));
  EXPECT_EQ(qoewatch::parse_rfc3339_ms(qoewatch::utc_rfc3339(t, true)), at);
}
