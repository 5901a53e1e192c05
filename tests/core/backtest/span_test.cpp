// What a backtest plans before it fetches: the times of the command line, each rule's polls
// over the span, which rules share a fetch, and how long the next chunk is.
#include <gtest/gtest.h>

#include "backtest/span.hpp"
#include "config/load.hpp"

using namespace qoewatch;

namespace {

constexpr std::int64_t now = 1'796'500'000;  // 2026-12-05T19:46:40Z

config::daemon_config config_with(const std::string& rules) {
  config::load_result r = config::load_from_string(
      "smartsight: {customer_id: 7, api_key_env: K}\nrules:\n" + rules, "t.yaml");
  for (const auto& d : r.errors) ADD_FAILURE() << d.to_string();
  return r.config ? *r.config : config::daemon_config{};
}

}  // namespace

TEST(BacktestTime, ReadsRfc3339NowAndTimesRelativeToNow) {
  struct row {
    std::string text;
    std::optional<std::int64_t> want;
  };
  const std::vector<row> rows = {
      {"now", now},
      {"-7d", now - 7 * 86'400},
      {"-36h", now - 36 * 3'600},
      {"-90m", now - 90 * 60},
      {"-1d12h", now - 86'400 - 12 * 3'600},
      {"-30s", now - 30},
      {"2026-11-29T00:00:00Z", 1'795'910'400},
      {"2026-11-29T01:00:00+01:00", 1'795'910'400},
      {"2026-11-29T00:00:00.900Z", 1'795'910'400},
      {"7d", std::nullopt},  // a time, not a duration
      {"-7", std::nullopt},  // no unit
      {"-d", std::nullopt},
      {"-7w", std::nullopt},
      {"yesterday", std::nullopt},
      {"", std::nullopt},
  };
  for (const row& r : rows) {
    backtest::time_result t = backtest::parse_time(r.text, now);
    EXPECT_EQ(t.value, r.want) << r.text;
    if (!r.want) {
      EXPECT_EQ(t.error, "'" + r.text +
                             "' is not a time (RFC 3339 like 2026-11-29T00:00:00Z, now, or "
                             "relative like -7d, -36h, -90m)");
    }
  }
}

TEST(BacktestSpan, PollsTheWindowsOfTheGridThatFitTheSpanAtTheirDueTimes) {
  config::daemon_config cfg = config_with(
      "  - {name: a, qoefilter: \"latency > 5\", interval: 60s, window: 10m, delay: 2m}\n");
  const config::rule_config& rule = cfg.rules[0];
  const std::int64_t from = 1'800'000'000 + 7;  // 7 s past a minute
  // An explicit --to: the last window ends on the grid at or before it.
  backtest::rule_span s = backtest::span_of(rule, 0, from, from + 3'600, now);
  ASSERT_FALSE(s.ends.empty());
  EXPECT_EQ(s.window, 600);
  EXPECT_EQ(s.ends.front(), 1'800'000'000 + 660);  // the first window starting at or after from
  EXPECT_GE(s.ends.front() - s.window, from);
  EXPECT_EQ(s.ends.back(), 1'800'000'000 + 3'600);
  EXPECT_EQ(s.ends.size(), 50u);
  for (std::size_t i = 1; i < s.ends.size(); ++i) EXPECT_EQ(s.ends[i] - s.ends[i - 1], 60);
  // Each poll at its end + delay + the rule's jitter, as the daemon's schedule puts it.
  const double t = backtest::poll_time(rule, s.ends.front());
  EXPECT_GE(t, static_cast<double>(s.ends.front() + 120));
  EXPECT_LT(t, static_cast<double>(s.ends.front() + 120 + 15));

  // No --to: the latest window a poll at `now` would judge (now - delay, on the grid).
  s = backtest::span_of(rule, 0, now - 3'600, std::nullopt, now);
  EXPECT_EQ(s.ends.back(), (now - 120) / 60 * 60);

  // A span shorter than the window holds no poll.
  s = backtest::span_of(rule, 0, from, from + 300, now);
  EXPECT_TRUE(s.ends.empty());
}

TEST(BacktestSpan, RulesSendingTheSameQueryShareOneFetch) {
  config::daemon_config cfg = config_with(
      "  - {name: a, qoefilter: \"latency > 5\", fields: [cdn], interval: 60s, window: 10m}\n"
      "  - {name: b, qoefilter: \"latency > 9\", fields: [cdn], interval: 60s, window: 10m}\n"
      "  - {name: c, qoefilter: \"latency > 5\", fields: [cdn], interval: 30s, window: 30m}\n"
      "  - {name: d, qoefilter: \"latency > 5\", fields: [cdn], interval: 60s, window: 10m}\n");
  std::vector<backtest::rule_span> spans;
  for (std::size_t i = 0; i < cfg.rules.size(); ++i)
    spans.push_back(backtest::span_of(cfg.rules[i], i, now - 86'400, std::nullopt, now));
  std::vector<backtest::fetch_group> groups = backtest::group_fetches(cfg, spans);
  ASSERT_EQ(groups.size(), 2u);
  // a, c and d ask for the same rows (the window and interval are not part of the query).
  EXPECT_EQ(groups[0].rules, (std::vector<std::size_t>{0, 2, 3}));
  EXPECT_EQ(groups[1].rules, (std::vector<std::size_t>{1}));
  // The fetch reaches back to the longest window's start and on to the latest end.
  EXPECT_EQ(groups[0].start, spans[2].ends.front() - 1'800);
  EXPECT_EQ(groups[0].end, std::max(spans[0].ends.back(), spans[2].ends.back()));
}

TEST(BacktestSpan, TheNextChunkAimsAtAFewPagesAndGrowsAtMostTwofold) {
  struct row {
    std::int64_t length;
    std::size_t rows;
    std::int64_t want;
  };
  const std::vector<row> rows = {
      {600, 4000, 600},      // on target
      {600, 8000, 300},      // twice the rows: half the length
      {600, 100, 1200},      // a quiet night: twice, not 40 times
      {600, 0, 1200},        // nothing: twice
      {600, 4'000'000, 60},  // a flood: never below the shortest
      {86'400, 0, 86'400},   // never over a day
  };
  for (const row& r : rows)
    EXPECT_EQ(backtest::next_chunk(r.length, r.rows, 4000, 60), r.want)
        << r.length << " s with " << r.rows << " rows";
}
