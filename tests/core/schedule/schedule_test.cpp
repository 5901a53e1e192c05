// When a rule polls: the cadence kept through overruns (due times passed are skipped and
// counted), and the start jitter that spreads rules over their interval.
#include "schedule/schedule.hpp"

#include <gtest/gtest.h>

#include <set>

using namespace qoewatch;
using namespace std::chrono_literals;

TEST(Schedule, PollsKeepTheirCadenceAndSkipWhatAnOverrunMissed) {
  using schedule::clock;
  clock::time_point t0{};
  schedule::next_poll n = schedule::after(t0, t0 + 2s, 30s);
  EXPECT_EQ(n.due, t0 + 30s);  // measured from when it was due, not when it finished
  EXPECT_EQ(n.skipped, 0u);
  n = schedule::after(t0, t0 + 30s, 30s);
  EXPECT_EQ(n.due, t0 + 60s);
  EXPECT_EQ(n.skipped, 1u);
  n = schedule::after(t0, t0 + 95s, 30s);
  EXPECT_EQ(n.due, t0 + 120s);
  EXPECT_EQ(n.skipped, 3u);
}

TEST(Schedule, StartJitterIsStableBoundedAndSpreadsRules) {
  EXPECT_EQ(schedule::start_jitter("a", 60s), schedule::start_jitter("a", 60s));
  std::set<duration::rep> seen;
  for (int i = 0; i < 50; ++i) {
    duration j = schedule::start_jitter("rule_" + std::to_string(i), 60s);
    EXPECT_GE(j, 0s);
    EXPECT_LT(j, 15s);
    seen.insert(j.count());
    EXPECT_LT(schedule::start_jitter("rule_" + std::to_string(i), 2s), 500ms);
  }
  EXPECT_GT(seen.size(), 40u);
  EXPECT_EQ(schedule::start_jitter("x", 0ms), 0ms);
}

TEST(Schedule, CatchUpSlicesFollowAtOnceAndRetryAfterPushesThePollBack) {
  using schedule::clock;
  const clock::time_point t0{1h};
  // A successful catch-up slice: the next one starts now, and the cadence restarts from it.
  schedule::following f = schedule::next(t0, t0 + 3s, 30s, {.behind = true, .retry_after = {}});
  EXPECT_EQ(f.next.due, t0 + 3s);
  EXPECT_EQ(f.next.skipped, 0u);
  // Retry-After beyond the next due time wins; within it, the cadence does.
  f = schedule::next(t0, t0 + 2s, 30s, {.behind = false, .retry_after = 60s});
  EXPECT_EQ(f.next.due, t0 + 62s);
  EXPECT_TRUE(f.retried);
  f = schedule::next(t0, t0 + 2s, 30s, {.behind = false, .retry_after = 10s});
  EXPECT_EQ(f.next.due, t0 + 30s);
  EXPECT_FALSE(f.retried);
  // An overrun still counts what it skipped.
  f = schedule::next(t0, t0 + 95s, 30s, {});
  EXPECT_EQ(f.next.due, t0 + 120s);
  EXPECT_EQ(f.next.skipped, 3u);
}

