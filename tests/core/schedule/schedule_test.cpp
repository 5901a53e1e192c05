// When a rule polls: the cadence kept through overruns (due times passed are skipped and
// counted), and the start jitter that spreads rules over their interval.
#include "schedule/schedule.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

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
    EXPECT_EQ(j % schedule::jitter_step, 0ms) << j.count();  // due together, polled together
    seen.insert(j.count());
    EXPECT_LT(schedule::start_jitter("rule_" + std::to_string(i), 2s), 500ms);
  }
  EXPECT_GT(seen.size(), 30u);  // 50 rules on 150 steps: 39 distinct
  EXPECT_EQ(schedule::start_jitter("x", 0ms), 0ms);
}

TEST(Schedule, CatchUpSlicesFollowAtOnceAndRetryAfterPushesThePollBack) {
  using schedule::clock;
  const clock::time_point t0{1h};
  // A successful catch-up slice: the next one starts now; the grid goes on from the last
  // due time the slices reached, and they skip nothing.
  schedule::following f = schedule::next(t0, t0 + 3s, 30s, {.behind = true, .retry_after = {}});
  EXPECT_EQ(f.wake, t0 + 3s);
  EXPECT_EQ(f.next.due, t0);
  EXPECT_EQ(f.next.skipped, 0u);
  f = schedule::next(t0, t0 + 75s, 30s, {.behind = true, .retry_after = {}});
  EXPECT_EQ(f.wake, t0 + 75s);
  EXPECT_EQ(f.next.due, t0 + 60s);
  EXPECT_EQ(f.next.skipped, 0u);
  f = schedule::next(f.next.due, t0 + 80s, 30s, {});  // the catch-up is over
  EXPECT_EQ(f.wake, t0 + 90s);
  EXPECT_EQ(f.next.skipped, 0u);
  // Retry-After beyond the next due time wakes the poll later, and the grid stays.
  f = schedule::next(t0, t0 + 2s, 30s, {.behind = false, .retry_after = 60s});
  EXPECT_EQ(f.wake, t0 + 62s);
  EXPECT_EQ(f.next.due, t0 + 30s);
  EXPECT_TRUE(f.retried);
  f = schedule::next(t0, t0 + 2s, 30s, {.behind = false, .retry_after = 10s});
  EXPECT_EQ(f.wake, t0 + 30s);
  EXPECT_FALSE(f.retried);
  // An overrun still counts what it skipped.
  f = schedule::next(t0, t0 + 95s, 30s, {});
  EXPECT_EQ(f.wake, t0 + 120s);
  EXPECT_EQ(f.next.due, t0 + 120s);
  EXPECT_EQ(f.next.skipped, 3u);
}

namespace {
config::rule_config rule_every(std::string name, duration interval, duration delay) {
  config::rule_config r;
  r.name = std::move(name);
  r.interval = interval;
  r.window = 10 * interval;
  r.delay = delay;
  return r;
}
}  // namespace

TEST(Schedule, WindowsEndOnTheIntervalGridWhateverTheMomentOfThePoll) {
  using schedule::clock;
  const clock::time_point t{1775750640s};  // a multiple of 60 s and of 30 s
  const struct {
    duration interval, delay;
    clock::time_point now;
    std::int64_t end;
  } cases[] = {
      {60s, 0s, t, 1775750640},                  // on the grid
      {60s, 0s, t + 59999ms, 1775750640},        // just before the next end
      {60s, 0s, t + 60s, 1775750700},            // the next end
      {60s, 0s, t - 1ms, 1775750580},            // just before this one
      {60s, 120s, t + 10s, 1775750520},          // delay: the grid of now - delay
      {60s, 90s, t + 10s, 1775750520},           // a delay off the grid: now - 90 s, floored
      {30s, 120s, t + 700ms, 1775750520},
      {1500ms, 0s, t + 2s, 1775750641},          // a grid of 1.5 s: 1775750641.5, floored
      {1s, 0s, clock::time_point{} + 500ms, 0},  // near the epoch
      {1s, 2s, clock::time_point{} + 500ms, -2},  // before it (a test clock)
  };
  for (const auto& c : cases) {
    const config::rule_config r = rule_every("r", c.interval, c.delay);
    EXPECT_EQ(schedule::aligned_end(r, c.now), c.end)
        << format_duration(c.interval) << " / " << format_duration(c.delay) << " at "
        << c.now.time_since_epoch().count();
  }
}

TEST(Schedule, ProcessesStartedAnyTimeJudgeTheSameWindowsAtTheSameDueTimes) {
  using schedule::clock;
  const config::rule_config r = rule_every("cdn_rebuffering", 60s, 120s);
  const duration jitter = schedule::start_jitter(r.name, r.interval);
  ASSERT_GT(jitter, 0s);
  const clock::time_point t{1775750640s};
  // The poll of the window ending at E is due at E + delay + jitter, and judges E: jitter
  // moves when, never what.
  EXPECT_EQ(schedule::due_for(r, 1775750520), t + jitter);
  EXPECT_EQ(schedule::aligned_end(r, schedule::due_for(r, 1775750520)), 1775750520);
  // Processes started 17 s, 31 s and 59 s apart: the same first window, due at one instant
  // (already past for the later ones, which then poll at once), then the same grid.
  std::set<clock::time_point::rep> firsts;
  for (const duration started : {duration{0}, duration{17s}, duration{31s}, duration{59s}}) {
    const clock::time_point now = t + started;
    const clock::time_point due = schedule::first_due(r, now);
    firsts.insert(due.time_since_epoch().count());
    EXPECT_EQ(schedule::aligned_end(r, std::max(due, now)), 1775750520);
    const schedule::following f = schedule::next(due, std::max(due, now) + 500ms, r.interval, {});
    EXPECT_EQ(f.next.due, t + 60s + jitter);
    EXPECT_EQ(schedule::aligned_end(r, f.wake), 1775750580);
  }
  EXPECT_EQ(firsts.size(), 1u);
}
