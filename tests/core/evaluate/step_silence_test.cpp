// What silences and maintenance windows hold back in the rule step, as a table: a held
// notification is not written but counted per sink; sessions held are recorded as notified
// and never told later; an incident or group told to no sink is told once it is no longer
// held; a resolve reaches only the sinks told of the firing; pending and expired silences
// hold nothing; evaluation goes on regardless.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "config/time_interval.hpp"
#include "population_fixture.hpp"
#include "silence/silence.hpp"
#include "step_fixture.hpp"

using namespace qoewatch;
using evaluate::write;
using incident::transition;

namespace {

using silenced_map = std::map<std::string, std::size_t>;
using names = std::vector<std::string>;

// A silence of `matchers` from `from` to `to` (epoch seconds).
silence::silence silence_of(const std::vector<std::string>& matchers, double from, double to) {
  silence::silence s;
  s.id = "3f6a3f2e-0000-4000-8000-000000000001";
  for (const std::string& m : matchers) {
    silence::matcher_result r = silence::parse_matcher(m);
    EXPECT_TRUE(r.ok) << m << ": " << r.error;
    if (r.ok) s.matchers.push_back(*r.ok);
  }
  s.starts_at = static_cast<std::int64_t>(from * 1000);
  s.ends_at = static_cast<std::int64_t>(to * 1000);
  s.created_by = "oncall";
  s.comment = "edgeB maintenance";
  return s;
}

std::vector<std::string> session_ids(const boost::json::value& webhook_body) {
  std::vector<std::string> out;
  for (const auto& a : webhook_body.at("alerts").as_array())
    if (const auto* id = a.at("labels").as_object().if_contains("sessionid"))
      out.emplace_back(id->as_string());
  return out;
}

// An interval holding every day from 00:00 to 12:00 UTC, and its complement.
config::named_time_interval interval(const std::string& name, const std::string& start,
                                     const std::string& end) {
  config::time_interval iv;
  iv.times = std::vector<config::time_range>{*config::parse_times(start, end).ok};
  return {name, {iv}};
}

const std::string slow_rule =
    "  - {name: slow, qoefilter: latency > 5, resolve_after: 1, sinks: [hook, am, pd]}\n";

}  // namespace

// ---- per-session rules ----

TEST(StepSilence, ASilencedIncidentWritesNothingButIsJudgedRecordedAndCounted) {
  testing_step::fixture f(slow_rule);
  std::vector<silence::silence> silences{
      silence_of({"alertname=slow"}, testing_step::t0 - 60, testing_step::t0 + 3600)};
  f.env.silences = &silences;
  auto fx = f.step(f.polled(1000, {{"a", 7}, {"b", 9}, {"c", 1}}));
  EXPECT_EQ(fx.change, transition::fired);
  EXPECT_TRUE(fx.commit.outbox.empty());
  EXPECT_EQ(fx.silenced, (silenced_map{{"hook", 1}, {"am", 1}, {"pd", 1}}));
  // Evaluation goes on: the facts, the incident and the sessions recorded as told.
  EXPECT_EQ(fx.facts.offending, 2u);
  EXPECT_EQ(testing_step::notified_ids(fx.commit), (names{"a", "b"}));
  ASSERT_TRUE(fx.commit.incident);
  EXPECT_TRUE(fx.commit.incident->sinks.empty());
  EXPECT_EQ(fx.durability, write::grouped);
  EXPECT_TRUE(f.state.incident.firing);
  EXPECT_TRUE(f.state.incident.told.empty());
}

TEST(StepSilence, SessionsHeldAreNeverToldAndTheIncidentReachesSinksOnceTheSilenceEnds) {
  testing_step::fixture f(slow_rule);
  const double t0 = testing_step::t0;
  std::vector<silence::silence> silences{silence_of({"alertname=slow"}, t0 - 60, t0 + 30)};
  f.env.silences = &silences;
  f.step(f.polled(1000, {{"a", 7}, {"b", 9}}));
  // The silence ended at t0 + 30: a, b stay untold; c is new and told; Alertmanager, which
  // hears the whole window each poll, hears all three.
  auto fx = f.step(f.polled(1060, {{"a", 7}, {"b", 9}, {"c", 8}}), t0 + 60);
  EXPECT_TRUE(fx.silenced.empty());
  ASSERT_EQ(testing_step::sinks_of(fx.commit), (names{"hook", "am", "pd"}));
  EXPECT_EQ(session_ids(testing_step::body(fx.commit.outbox[0])), names{"c"});
  EXPECT_EQ(testing_step::body(fx.commit.outbox[1]).as_array().size(), 4u);  // incident + 3
  ASSERT_TRUE(fx.commit.incident);
  EXPECT_EQ(fx.commit.incident->sinks, (names{"hook", "am", "pd"}));
  EXPECT_EQ(f.state.incident.told, (names{"hook", "am", "pd"}));
  // And the resolve reaches all three.
  auto resolved = f.step(f.polled(1120, {}), t0 + 120);
  EXPECT_EQ(resolved.change, transition::resolved);
  EXPECT_EQ(testing_step::sinks_of(resolved.commit), (names{"hook", "am", "pd"}));
}

TEST(StepSilence, AResolveGoesOnlyToTheSinksToldOfTheFiring) {
  testing_step::fixture f(slow_rule);
  const double t0 = testing_step::t0;
  std::vector<silence::silence> silences{silence_of({"alertname=slow"}, t0 - 60, t0 + 3600)};
  f.env.silences = &silences;
  f.step(f.polled(1000, {{"a", 7}}));
  auto resolved = f.step(f.polled(1060, {}), t0 + 60);
  EXPECT_EQ(resolved.change, transition::resolved);
  EXPECT_TRUE(resolved.commit.outbox.empty());
  EXPECT_TRUE(resolved.silenced.empty());  // a resolve is never held: it is not sent at all

  // Told only to Alertmanager (the webhook and PagerDuty had no new session to hear once the
  // silence of the sessions ended): only Alertmanager hears the resolve, even when removed.
  testing_step::fixture g(slow_rule);
  std::vector<silence::silence> one{silence_of({"sessionid=~\"a|b\""}, t0 - 60, t0 + 3600)};
  g.env.silences = &one;
  auto fired = g.step(g.polled(1000, {{"a", 7}, {"b", 8}}));
  EXPECT_EQ(testing_step::sinks_of(fired.commit), names{"am"});
  EXPECT_EQ(fired.silenced, (silenced_map{{"hook", 1}, {"am", 1}, {"pd", 1}}));
  evaluate::poll_outcome gone;
  gone.what = evaluate::poll_outcome::kind::removed;
  EXPECT_EQ(testing_step::sinks_of(g.step(gone, t0 + 30).commit), names{"am"});
}

TEST(StepSilence, ASilenceOfOneSessionLeavesItOutOfTheBodyThatTellsTheOthers) {
  testing_step::fixture f(slow_rule);
  const double t0 = testing_step::t0;
  std::vector<silence::silence> silences{silence_of({"sessionid=b"}, t0 - 60, t0 + 3600)};
  f.env.silences = &silences;
  auto fx = f.step(f.polled(1000, {{"a", 7}, {"b", 9}}));
  ASSERT_EQ(testing_step::sinks_of(fx.commit), (names{"hook", "am", "pd"}));
  EXPECT_EQ(session_ids(testing_step::body(fx.commit.outbox[0])), names{"a"});
  EXPECT_EQ(testing_step::body(fx.commit.outbox[1]).as_array().size(), 2u);  // incident + a
  EXPECT_EQ(fx.silenced, (silenced_map{{"hook", 1}, {"am", 1}, {"pd", 1}}));
  EXPECT_EQ(testing_step::notified_ids(fx.commit), (names{"a", "b"}));
  EXPECT_EQ(f.state.incident.told, (names{"hook", "am", "pd"}));
}

TEST(StepSilence, MatchersSeeTheIncidentOnEveryAlertAndOnlyActiveSilencesHold) {
  const double t0 = testing_step::t0;
  struct row {
    std::vector<std::string> matchers;
    double from, to;
    bool held;
  };
  const std::vector<row> table = {
      {{"incident=~\"slow/.*\""}, t0 - 60, t0 + 60, true},
      {{"alertname=slow", "severity=warning"}, t0 - 60, t0 + 60, true},
      {{"alertname=slow", "severity=critical"}, t0 - 60, t0 + 60, false},
      {{"alertname=~\"sl\""}, t0 - 60, t0 + 60, false},  // anchored: matches "sl" only
      {{"alertname!=slow"}, t0 - 60, t0 + 60, false},
      {{"alertname=slow"}, t0 + 1, t0 + 60, false},  // pending
      {{"alertname=slow"}, t0 - 60, t0, false},      // expired at t0
      {{"alertname=slow"}, t0, t0 + 60, true},       // active from its start
  };
  for (const row& r : table) {
    testing_step::fixture f(slow_rule);
    std::vector<silence::silence> silences{silence_of(r.matchers, r.from, r.to)};
    f.env.silences = &silences;
    auto fx = f.step(f.polled(1000, {{"a", 7}}));
    EXPECT_EQ(fx.commit.outbox.empty(), r.held) << r.matchers.front();
  }
}

TEST(StepSilence, AMutedRuleIsHeldAsUnderASilenceAndAnActiveIntervalUnmutesIt) {
  // t0 is 2026-04-09 15:00 UTC.
  testing_step::fixture f(slow_rule);
  f.cfg.time_intervals = {interval("afternoon", "12:00", "18:00"),
                          interval("morning", "00:00", "12:00")};
  f.rule.mute_time_intervals = {"afternoon"};
  auto muted = f.step(f.polled(1000, {{"a", 7}}));
  EXPECT_TRUE(muted.commit.outbox.empty());
  EXPECT_EQ(muted.silenced, (silenced_map{{"hook", 1}, {"am", 1}, {"pd", 1}}));
  EXPECT_EQ(muted.change, transition::fired);

  testing_step::fixture g(slow_rule);
  g.cfg.time_intervals = f.cfg.time_intervals;
  g.rule.active_time_intervals = {"morning"};  // outside it: muted
  EXPECT_TRUE(g.step(g.polled(1000, {{"a", 7}})).commit.outbox.empty());
  g.rule.active_time_intervals = {"morning", "afternoon"};
  EXPECT_EQ(
      testing_step::sinks_of(g.step(g.polled(1030, {{"b", 7}}), testing_step::t0 + 30).commit),
      (names{"hook", "am", "pd"}));
}

TEST(StepSilence, AFailedPollTellsAlertmanagerOnceTheSilenceEndsAndRecordsIt) {
  testing_step::fixture f(slow_rule);
  const double t0 = testing_step::t0;
  std::vector<silence::silence> silences{silence_of({"alertname=slow"}, t0 - 60, t0 + 30)};
  f.env.silences = &silences;
  f.step(f.polled(1000, {{"a", 7}}));
  auto held = f.step(f.failed(), t0 + 20);
  EXPECT_TRUE(held.commit.outbox.empty());
  EXPECT_EQ(held.silenced, (silenced_map{{"am", 1}}));
  auto after = f.step(f.failed(), t0 + 40);
  EXPECT_EQ(testing_step::sinks_of(after.commit), names{"am"});
  ASSERT_TRUE(after.commit.incident);
  EXPECT_EQ(after.commit.incident->sinks, names{"am"});
  EXPECT_EQ(after.durability, write::at_once);
  EXPECT_EQ(f.state.incident.told, names{"am"});
}

// ---- population rules ----

namespace {

using namespace qoewatch::testing_population;

std::string cdn_rule() {
  return R"(  - name: cdn_rebuffering
    qoefilter: "cirrbufferingratio > 2"
    group_by: [cdn]
    when: "ratio > 10%"
    resolve_after: 1
    evidence: 2
    sinks: [hook, am, pd, chat]
)";
}

}  // namespace

TEST(StepSilence, ASilencedGroupIsToldToEverySinkOnceItsSilenceEnds) {
  testing_population::fixture f(cdn_rule());
  std::vector<silence::silence> silences{
      silence_of({"alertname=cdn_rebuffering", "cdn=edgeB"}, t0 - 60, t0 + 90)};
  f.env.silences = &silences;
  // edgeA and edgeB fire; edgeB is silenced.
  auto fired = f.poll({cdn("edgeA", 100, 20), cdn("edgeB", 100, 31)});
  EXPECT_EQ(sinks_of(fired.commit), (names{"hook", "am", "pd", "chat"}));
  for (const auto& r : fired.commit.outbox)
    EXPECT_NE(r.body.find("edgeA"), std::string::npos) << r.sink;
  EXPECT_EQ(fired.silenced, (silenced_map{{"hook", 1}, {"am", 1}, {"pd", 1}, {"chat", 1}}));
  EXPECT_EQ(fired.group_changes.size(), 2u);
  EXPECT_TRUE(f.group({"edgeB"}).told.empty());
  ASSERT_TRUE(fired.commit.groups);
  for (const state::incident_row& row : *fired.commit.groups)
    EXPECT_EQ(row.sinks,
              (row.group.at(0).second == "edgeA" ? names{"hook", "am", "pd", "chat"} : names{}));

  // Still silenced: Alertmanager's re-send of edgeB is held (edgeA's is not); no late news.
  auto still = f.poll({cdn("edgeA", 100, 20), cdn("edgeB", 100, 31)});
  EXPECT_EQ(sinks_of(still.commit), names{"am"});
  EXPECT_EQ(still.silenced, (silenced_map{{"am", 1}}));

  // t0 + 120: the silence ended at t0 + 90. edgeB is told now, with its evidence, to every sink.
  auto late = f.poll({cdn("edgeA", 100, 20), cdn("edgeB", 100, 31)});
  EXPECT_TRUE(late.silenced.empty());
  EXPECT_TRUE(late.group_changes.empty());
  std::vector<std::string> edge_b;
  for (const auto& r : late.commit.outbox)
    if (r.body.find("edgeB") != std::string::npos) edge_b.push_back(r.sink);
  EXPECT_EQ(edge_b, (names{"am", "hook", "pd", "chat"}));
  const json::value hook = body(late.commit.outbox.at(2));
  EXPECT_EQ(hook.at("alerts").as_array().size(), 3u);  // the group and 2 evidence sessions
  EXPECT_EQ(f.group({"edgeB"}).told, (names{"am", "hook", "pd", "chat"}));
  ASSERT_TRUE(late.commit.groups);

  // Told once: the next poll re-sends to Alertmanager only.
  EXPECT_EQ(sinks_of(f.poll({cdn("edgeA", 100, 20), cdn("edgeB", 100, 31)}).commit),
            (names{"am", "am"}));
}

TEST(StepSilence, AGroupHeldThroughoutResolvesToNoOneAndOthersAreUntouched) {
  testing_population::fixture f(cdn_rule());
  std::vector<silence::silence> silences{silence_of({"cdn=~\"edge(B|C)\""}, t0 - 60, t0 + 3600)};
  f.env.silences = &silences;
  f.poll({cdn("edgeB", 100, 31)});
  auto resolved = f.poll({cdn("edgeB", 100, 0)});
  ASSERT_EQ(resolved.group_changes.size(), 1u);
  EXPECT_EQ(resolved.group_changes[0].change, transition::resolved);
  EXPECT_TRUE(resolved.commit.outbox.empty());
  EXPECT_TRUE(resolved.silenced.empty());
}

TEST(StepSilence, AFailedPollHoldsTheRefreshAndTellsAlertmanagerWhenTheSilenceHasEnded) {
  testing_population::fixture f(cdn_rule());
  std::vector<silence::silence> silences{silence_of({"cdn=edgeB"}, t0 - 60, t0 + 90)};
  f.env.silences = &silences;
  f.poll({cdn("edgeB", 100, 31)});
  auto held = f.fail();  // t0 + 60
  EXPECT_TRUE(held.commit.outbox.empty());
  EXPECT_EQ(held.silenced, (silenced_map{{"am", 1}}));
  auto told = f.fail();  // t0 + 120
  EXPECT_EQ(sinks_of(told.commit), names{"am"});
  ASSERT_TRUE(told.commit.groups);
  ASSERT_EQ(told.commit.groups->size(), 1u);
  EXPECT_EQ(told.commit.groups->at(0).sinks, names{"am"});
  EXPECT_EQ(told.durability, write::at_once);
}

TEST(StepSilence, ASinkTheRuleNoLongerNamesStillHearsTheResolveOfWhatItWasTold) {
  testing_step::fixture f(slow_rule);
  f.step(f.polled(1000, {{"a", 7}}));
  EXPECT_EQ(f.state.incident.told, (names{"hook", "am", "pd"}));
  f.rule.sinks = {"hook"};  // a reload took PagerDuty and Alertmanager off the rule
  auto resolved = f.step(f.polled(1060, {}), testing_step::t0 + 60);
  EXPECT_EQ(resolved.change, transition::resolved);
  EXPECT_EQ(testing_step::sinks_of(resolved.commit), (names{"hook", "am", "pd"}));

  testing_population::fixture g(cdn_rule());
  g.poll({cdn("edgeB", 100, 31)});
  g.rule.sinks = {"chat"};
  auto quiet = g.poll({cdn("edgeB", 100, 0)});
  ASSERT_EQ(quiet.group_changes.size(), 1u);
  EXPECT_EQ(sinks_of(quiet.commit), (names{"hook", "am", "pd", "chat"}));
}

TEST(StepSilence, APerSessionIncidentHeldIsNotToldLaterWithoutNewSessions) {
  // Its notifications are about sessions: those held are never sent; Alertmanager, which is
  // sent the window each poll, hears the incident once the silence is over.
  testing_step::fixture f(slow_rule);
  const double start = testing_step::t0;  // (t0 alone would name testing_population's)
  std::vector<silence::silence> silences{silence_of({"alertname=slow"}, start - 60, start + 30)};
  f.env.silences = &silences;
  f.step(f.polled(1000, {{"a", 7}}));
  auto after = f.step(f.polled(1060, {{"a", 7}}), start + 60);
  EXPECT_EQ(testing_step::sinks_of(after.commit), names{"am"});
  EXPECT_EQ(f.state.incident.told, names{"am"});
}
