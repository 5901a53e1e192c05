// Running a rule test: when each rule polls, what SmartSight would have answered each poll,
// and what the daemon's rule step made of it by each evaluation time.
#include "ruletest/run.hpp"

#include <gtest/gtest.h>

#include "ruletest_fixtures.hpp"

using namespace qoewatch;
using namespace qoewatch::testing_ruletest;

namespace {

const double t0 = ruletest::default_start;

ruletest::test_file loaded(const ruletest::load_result& r) {
  EXPECT_TRUE(r.value) << testing::PrintToString(texts(r));
  return r.value ? *r.value : ruletest::test_file{};
}

std::vector<std::string> ids(const fetch::page& p) {
  std::vector<std::string> out;
  for (const fetch::session_row& row : p.rows) out.push_back(row.sessionid);
  return out;
}

}  // namespace

TEST(RuleTestRun, EachRulePollsOnItsGridFromTheStart) {
  temp_dir dir;
  const ruletest::test_file f = loaded(
      load_tests(dir, "tests: [{name: n, expect: [{at: 0s, rule: slow, firing: false}]}]\n"));
  const config::rule_config& slow = f.cfg.rules.at(0);  // every 60 s, delay 1m
  // The first poll judges the latest complete window at once; the next ones at end + delay.
  EXPECT_EQ(ruletest::poll_times(slow, t0, t0 + 180),
            (std::vector<ruletest::poll_time>{{t0, static_cast<std::int64_t>(t0) - 60},
                                              {t0 + 60, static_cast<std::int64_t>(t0)},
                                              {t0 + 120, static_cast<std::int64_t>(t0) + 60},
                                              {t0 + 180, static_cast<std::int64_t>(t0) + 120}}));
  // A start off the grid: the window that ended on it before, judged at the start.
  EXPECT_EQ(ruletest::poll_times(slow, t0 + 30, t0 + 90),
            (std::vector<ruletest::poll_time>{{t0 + 30, static_cast<std::int64_t>(t0) - 60},
                                              {t0 + 60, static_cast<std::int64_t>(t0)}}));
  EXPECT_TRUE(ruletest::poll_times(slow, t0, t0 - 1).empty());
}

TEST(RuleTestRun, APollGetsWhatSmartSightWouldAnswer) {
  temp_dir dir;
  const ruletest::test_file f = loaded(load_tests(dir, R"(tests:
  - name: n
    sessions:
      - {sessionid: slow, endtime: -2m, platform: Android, latency: 7}
      - {sessionid: quoted, endtime: -2m, platform: Android, latency: "8"}
      - {sessionid: ios, endtime: -2m, platform: iOS, latency: 9}
      - {sessionid: fast, endtime: -2m, platform: Android, latency: 3}
      - {sessionid: unmeasured, endtime: -2m, platform: Android}
      - {sessionid: first, endtime: -6m, platform: Android, latency: 6}
      - {sessionid: last, endtime: -1m, platform: Android, latency: 6}
      - {sessionid: after, endtime: -59s, platform: Android, latency: 6}
      - {sessionid: rebuffering, endtime: -2m, cdn: a, cirrbufferingratio: 4}
      - {sessionid: garbled, endtime: -2m, cdn: a, cirrbufferingratio: "n/a"}
    expect: [{at: 0s, rule: slow, firing: false}]
)"));
  const ruletest::test_case& t = f.tests.at(0);
  const fetch::window w{static_cast<std::int64_t>(t0) - 360, static_cast<std::int64_t>(t0) - 60};
  // slow: only Android ([platform=Android] goes to the server), only latency > 5 (the part of
  // the qoefilter the server is sent), both ends of the window included; the quoted number
  // reads as a number, as the daemon reads it.
  fetch::page p = ruletest::page_for(f.cfg.rules.at(0), t.rows, w);
  EXPECT_EQ(ids(p), (std::vector<std::string>{"first", "slow", "quoted", "last"}));
  EXPECT_EQ(p.rows_in_page, 4u);
  ASSERT_EQ(p.rows[1].metrics.size(), 1u);
  EXPECT_EQ(p.rows[2].metrics[0], 8);
  // cdn_rebuffering sends no qoefilter: every session of the window, judged here; those it
  // cannot judge are skipped and counted, as the daemon counts them.
  p = ruletest::page_for(f.cfg.rules.at(1), t.rows, w);
  EXPECT_EQ(p.rows_in_page, 9u);
  EXPECT_EQ(ids(p), (std::vector<std::string>{"rebuffering"}));
  EXPECT_EQ(p.skipped[static_cast<std::size_t>(fetch::skip_reason::missing_metric)], 7u);
  EXPECT_EQ(p.skipped[static_cast<std::size_t>(fetch::skip_reason::not_a_number)], 1u);
}

TEST(RuleTestRun, APerSessionRuleNotifiesEachSessionOnceAndResolvesWhenQuiet) {
  temp_dir dir;
  const ruletest::test_file f = loaded(load_tests(dir, R"(tests:
  - name: n
    sessions:
      - {sessionid: a, endtime: -90s, platform: Android, latency: 7}
      - {sessionid: b, endtime: +2m, platform: Android, latency: 9}
    expect:
      - {at: 0s, rule: slow, firing: true}
      - {at: +3m, rule: slow, firing: true}
      - {at: +10m, rule: slow, firing: false}
)"));
  std::size_t polls = 0, metrics = 0;
  std::vector<std::size_t> pairs;
  ruletest::hooks h;
  h.polled = [&](const ruletest::poll_done& p) {
    if (p.rule.name == "slow") {
      ++polls;
      pairs.push_back(p.notified_pairs);
    }
  };
  h.metrics = [&] { return "m" + std::to_string(++metrics); };
  const std::vector<ruletest::evaluation> e = ruletest::run(f, f.tests.at(0), h);
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].at, t0);
  EXPECT_EQ(e[2].metrics, "m3");
  const ruletest::rule_observation& first = e[0].rules.at(0);
  EXPECT_EQ(first.polls, 1u);
  ASSERT_EQ(first.fired.size(), 1u);
  EXPECT_FALSE(first.fired[0].population);
  EXPECT_EQ(first.fired[0].figures.offending, 1u);
  EXPECT_EQ(first.notified, std::vector<std::string>{"a"});
  EXPECT_TRUE(first.firing);
  // a is in the next windows too, but told once; b ends at +2m and is in the window judged
  // at +3m ([-2m, +3m] ends a minute earlier: delay).
  const ruletest::rule_observation& second = e[1].rules.at(0);
  EXPECT_EQ(second.polls, 3u);
  EXPECT_TRUE(second.fired.empty());
  EXPECT_EQ(second.notified, std::vector<std::string>{"b"});
  // b is last in the window judged at +8m ([+2m, +7m]); +9m and +10m are quiet: resolved.
  const ruletest::rule_observation& third = e[2].rules.at(0);
  EXPECT_EQ(third.polls, 7u);
  ASSERT_EQ(third.resolved.size(), 1u);
  EXPECT_EQ(third.resolved[0].figures.offending, 0u);
  EXPECT_TRUE(third.notified.empty());
  EXPECT_FALSE(third.firing);
  EXPECT_EQ(polls, 11u);
  // The pairs remembered grow as sessions are told and shrink once no window can hold them.
  EXPECT_EQ(pairs.front(), 1u);
  EXPECT_EQ(pairs.at(3), 2u);
  EXPECT_EQ(pairs.back(), 0u);
}

TEST(RuleTestRun, APopulationGroupIsPendingFiresWithEvidenceAndResolves) {
  temp_dir dir;
  const ruletest::test_file f = loaded(load_tests(dir, R"(tests:
  - name: n
    series:
      - {sessionid: "b-{i}", count: 20, endtime: -5m, step: 5s,
         values: {cdn: edgeB, cirrbufferingratio: [4, 0.5], latency: 1}}
      - {sessionid: "a-{i}", count: 20, endtime: -5m, step: 5s,
         values: {cdn: edgeA, cirrbufferingratio: 0.5, latency: 1}}
      - {sessionid: "c-{i}", count: 5, endtime: -5m, step: 5s,
         values: {cdn: edgeC, cirrbufferingratio: 9, latency: 1}}
    expect:
      - {at: 0s, rule: cdn_rebuffering, firing: false}
      - {at: +1m, rule: cdn_rebuffering, firing: true}
      - {at: +2m, rule: cdn_rebuffering, firing: false}
)"));
  const std::vector<ruletest::evaluation> e = ruletest::run(f, f.tests.at(0));
  ASSERT_EQ(e.size(), 3u);
  // for: 2. edgeC is all bad but smaller than min_sample (10): never judged.
  const ruletest::rule_observation& first = e[0].rules.at(1);
  EXPECT_TRUE(first.fired.empty());
  EXPECT_EQ(first.pending, std::vector<ruletest::group_values>{{"edgeB"}});
  const ruletest::rule_observation& second = e[1].rules.at(1);
  ASSERT_EQ(second.fired.size(), 1u);
  const notify::group_info& fired = second.fired[0].figures;
  EXPECT_TRUE(second.fired[0].population);
  EXPECT_EQ(fired.values, std::vector<std::string>{"edgeB"});
  EXPECT_EQ(fired.sessions, 20u);
  EXPECT_EQ(fired.offending, 10u);
  EXPECT_EQ(fired.ratio, 0.5);
  ASSERT_EQ(fired.aggregates.size(), 1u);
  EXPECT_EQ(fired.aggregates[0].second, 1);
  EXPECT_EQ(second.notified, (std::vector<std::string>{"b-1", "b-3"}));  // evidence: 2
  EXPECT_EQ(second.firing_groups, std::vector<ruletest::group_values>{{"edgeB"}});
  EXPECT_TRUE(second.pending.empty());
  // At +2m the window starts at -4m: 8 of edgeB's sessions, under min_sample: quiet, and
  // resolve_after is 1.
  const ruletest::rule_observation& third = e[2].rules.at(1);
  ASSERT_EQ(third.resolved.size(), 1u);
  EXPECT_EQ(third.resolved[0].figures.sessions, 8u);
  EXPECT_EQ(third.resolved[0].figures.offending, 4u);
  EXPECT_FALSE(third.firing);
  EXPECT_TRUE(third.firing_groups.empty());
}

TEST(RuleTestRun, AMaintenanceWindowHoldsWhatItWouldHaveNotified) {
  temp_dir dir;
  dir.write("muted.yaml", R"(rules:
  - {name: r, qoefilter: latency > 5, interval: 60s, window: 5m, delay: 0s,
     mute_time_intervals: [first_two_minutes]}
  - {name: g, qoefilter: latency > 5, group_by: [cdn], when: ratio > 50%, min_sample: 1,
     interval: 60s, window: 3m, delay: 0s, mute_time_intervals: [first_two_minutes]}
)");
  const std::string file = dir.write("t.yaml", R"(rule_files: [muted.yaml]
time_intervals:
  - name: first_two_minutes
    time_intervals: [{times: [{start_time: "00:00", end_time: "00:02"}]}]
tests:
  - name: n
    sessions:
      - {sessionid: held, endtime: -30s, cdn: x, latency: 7}
      - {sessionid: told, endtime: +150s, cdn: y, latency: 7}
    expect:
      - {at: +1m, rule: r, firing: true}
      - {at: +2m, rule: r, firing: true}
      - {at: +3m, rule: r, firing: true}
)");
  const ruletest::test_file f = loaded(ruletest::load(file));
  const std::vector<ruletest::evaluation> e = ruletest::run(f, f.tests.at(0));
  ASSERT_EQ(e.size(), 3u);
  // r: "held" offends while the rule is muted: never told (the daemon remembers it as
  // notified all the same); "told" ends after the window.
  EXPECT_EQ(e[0].rules.at(0).fired.size(), 1u);
  EXPECT_TRUE(e[0].rules.at(0).notified.empty());
  EXPECT_TRUE(e[1].rules.at(0).notified.empty());
  EXPECT_EQ(e[2].rules.at(0).notified, std::vector<std::string>{"told"});
  // g: group cdn=x fires while muted; it is told, with its evidence, at 00:02.
  EXPECT_EQ(e[0].rules.at(1).fired.size(), 1u);
  EXPECT_TRUE(e[0].rules.at(1).notified.empty());
  EXPECT_EQ(e[1].rules.at(1).notified, std::vector<std::string>{"held"});
  EXPECT_EQ(e[2].rules.at(1).notified, std::vector<std::string>{"told"});
}
