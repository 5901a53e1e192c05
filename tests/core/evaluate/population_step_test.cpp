// The population rule step as a table: each group of the window goes through pending (for),
// firing and resolving on its own: hysteresis with resolve_when, resolve_after quiet polls,
// the min_sample guard, a group that stops appearing, the `unknown` group, failed polls and a
// rule removed while groups fire. What is asserted is what on-call sees: which group fires or
// resolves, under which incident key, and which groups are committed as firing.
// Notifications, durability and metrics exports are in population_step_notify_test.cpp.
#include "evaluate/population_step.hpp"

#include <gtest/gtest.h>

#include <optional>

#include "population_fixture.hpp"

using namespace qoewatch;
using namespace qoewatch::testing_population;
using evaluate::write;
using incident::transition;

namespace {

const char* const cdn_rule = R"(  - name: cdn_rebuffering
    qoefilter: "cirrbufferingratio > 2"
    group_by: [cdn]
    when: "ratio > 10% AND p95(latency) > 4"
    resolve_when: "ratio < 5%"
    evidence: 3
    sinks: [hook]
)";

std::string rule_with(const std::string& extra) {
  return cdn_rule + extra;
}

std::vector<std::string> changed(const evaluate::step_effects& fx, transition t) {
  std::vector<std::string> out;
  for (const evaluate::group_change& c : fx.group_changes)
    if (c.change == t) out.push_back(c.label);
  return out;
}

}  // namespace

TEST(PopulationStep, AGroupIsPendingForForPollsThenFiresWithItsOwnIncident) {
  fixture f(rule_with("    for: 2\n"));
  // edgeB: 31 % rebuffer; edgeA: 2 %.
  auto first = f.poll({cdn("edgeA", 100, 2), cdn("edgeB", 100, 31)});
  EXPECT_TRUE(first.group_changes.empty());
  EXPECT_TRUE(first.commit.outbox.empty());
  EXPECT_EQ(f.group({"edgeB"}).pending, 1);
  EXPECT_FALSE(f.group({"edgeB"}).firing);
  EXPECT_FALSE(f.state.groups.contains({"edgeA"})) << "a group that does not hold has no state";
  EXPECT_EQ(first.durability, write::checkpoint_only) << "pending is not written down";

  auto second = f.poll({cdn("edgeA", 100, 2), cdn("edgeB", 100, 31)});
  EXPECT_EQ(changed(second, transition::fired), std::vector<std::string>{"cdn=edgeB"});
  EXPECT_EQ(second.change, transition::fired);
  const std::string key = f.key_at(1, "cdn=edgeB");
  // Named after the end of the second poll's window, not the moment of the poll.
  EXPECT_EQ(key, "cdn_rebuffering/cdn=edgeB/" + std::to_string(f.window_end() - 60));
  ASSERT_EQ(second.group_changes.size(), 1u);
  EXPECT_EQ(second.group_changes[0].incident_key, key);
  EXPECT_EQ(second.group_changes[0].figures.offending, 31u);
  EXPECT_EQ(sinks_of(second.commit), std::vector<std::string>{"hook"});
  EXPECT_EQ(str(group_labels(second.commit.outbox[0]).at("incident")), key);
  // The firing group is committed with its dimensions.
  ASSERT_TRUE(second.commit.groups);
  ASSERT_EQ(second.commit.groups->size(), 1u);
  const state::incident_row& row = second.commit.groups->front();
  EXPECT_EQ(row.rule, "cdn_rebuffering");
  EXPECT_EQ(row.key, key);
  EXPECT_EQ(row.started_at, fixture::fired_at(1));
  EXPECT_EQ(row.polls_below, 0);
  EXPECT_EQ(row.sinks, std::vector<std::string>{"hook"});
  EXPECT_EQ(row.group, (std::vector<std::pair<std::string, std::string>>{{"cdn", "edgeB"}}));
  EXPECT_EQ(second.durability, write::grouped);
  EXPECT_EQ(second.commit.checkpoint, f.window_end() - 60);

  // Firing on: no second notification, the same incident.
  auto third = f.poll({cdn("edgeA", 100, 2), cdn("edgeB", 100, 31)});
  EXPECT_TRUE(third.group_changes.empty());
  EXPECT_TRUE(third.commit.outbox.empty());
  EXPECT_EQ(f.group({"edgeB"}).key, key);
  EXPECT_EQ(third.durability, write::checkpoint_only);
}

TEST(PopulationStep, ABreakInWhenStartsThePendingCountAgain) {
  fixture f(rule_with("    for: 3\n"));
  f.poll({cdn("edgeB", 100, 31)});
  f.poll({cdn("edgeB", 100, 31)});
  EXPECT_EQ(f.group({"edgeB"}).pending, 2);
  f.poll({cdn("edgeB", 100, 2)});
  EXPECT_FALSE(f.state.groups.contains({"edgeB"}));
  f.poll({cdn("edgeB", 100, 31)});
  f.poll({cdn("edgeB", 100, 31)});
  EXPECT_TRUE(f.state.groups.at({"edgeB"}).pending == 2);
  auto fx = f.poll({cdn("edgeB", 100, 31)});
  EXPECT_EQ(changed(fx, transition::fired), std::vector<std::string>{"cdn=edgeB"});
  EXPECT_EQ(fx.group_changes[0].incident_key, f.key_at(5, "cdn=edgeB"));
}

TEST(PopulationStep, BetweenWhenAndResolveWhenAFiringGroupStaysFiring) {
  fixture f(rule_with("    resolve_after: 2\n"));
  const std::string key = f.poll({cdn("edgeB", 100, 31)}).group_changes.at(0).incident_key;
  // 7 %: no longer over 10 %, not yet under 5 %: no flapping.
  for (int i = 0; i < 3; ++i) {
    auto fx = f.poll({cdn("edgeB", 100, 7)});
    EXPECT_TRUE(fx.group_changes.empty());
    EXPECT_TRUE(f.group({"edgeB"}).firing);
    EXPECT_EQ(f.group({"edgeB"}).polls_below, 0);
  }
  // 3 % once: a quiet poll, not yet a resolve; the committed row counts it.
  auto quiet = f.poll({cdn("edgeB", 100, 3)});
  EXPECT_TRUE(quiet.group_changes.empty());
  EXPECT_TRUE(quiet.commit.outbox.empty());
  EXPECT_EQ(f.group({"edgeB"}).polls_below, 1);
  ASSERT_TRUE(quiet.commit.groups);
  EXPECT_EQ(quiet.commit.groups->at(0).polls_below, 1);
  EXPECT_EQ(quiet.durability, write::grouped);
  // Back between the thresholds: the quiet count starts again.
  f.poll({cdn("edgeB", 100, 7)});
  EXPECT_EQ(f.group({"edgeB"}).polls_below, 0);
  EXPECT_TRUE(f.poll({cdn("edgeB", 100, 3)}).group_changes.empty());
  auto resolved = f.poll({cdn("edgeB", 100, 3)});
  EXPECT_EQ(changed(resolved, transition::resolved), std::vector<std::string>{"cdn=edgeB"});
  EXPECT_EQ(resolved.group_changes[0].incident_key, key);
  EXPECT_FALSE(f.state.groups.contains({"edgeB"}));
  ASSERT_TRUE(resolved.commit.groups);
  EXPECT_TRUE(resolved.commit.groups->empty()) << "the resolved group's row is cleared";
  EXPECT_EQ(resolved.durability, write::grouped);
  json::value b = body(resolved.commit.outbox.at(0));
  EXPECT_EQ(b.at("status"), "resolved");
  EXPECT_EQ(b.at("alerts").as_array().size(), 1u) << "no evidence with a resolve";
  EXPECT_EQ(str(b.at("alerts").at(0).at("labels").at("incident")), key);
  EXPECT_EQ(b.at("alerts").at(0).at("annotations").at("ratio"), "0.03");

  // Firing again later is a new incident.
  auto again = f.poll({cdn("edgeB", 100, 31)});
  ASSERT_EQ(again.group_changes.size(), 1u);
  EXPECT_NE(again.group_changes[0].incident_key, key);
}

TEST(PopulationStep, WithoutResolveWhenAGroupIsQuietWhenWhenNoLongerHolds) {
  fixture f(R"(  - name: cdn_rebuffering
    qoefilter: "cirrbufferingratio > 2"
    group_by: [cdn]
    when: "ratio > 10%"
    resolve_after: 1
    sinks: [hook]
)");
  f.poll({cdn("edgeB", 100, 31)});
  auto fx = f.poll({cdn("edgeB", 100, 7)});
  EXPECT_EQ(changed(fx, transition::resolved), std::vector<std::string>{"cdn=edgeB"});
}

TEST(PopulationStep, AGroupUnderMinSampleNeitherFiresNorKeepsFiring) {
  fixture f(R"(  - name: cdn_rebuffering
    qoefilter: "cirrbufferingratio > 2"
    group_by: [cdn]
    when: "ratio > 10%"
    min_sample: 50
    sinks: [hook]
)");
  // Every one of 49 sessions offends, but 49 is too few to judge a CDN.
  auto small = f.poll({cdn("edgeB", 49, 49)});
  EXPECT_TRUE(small.group_changes.empty());
  EXPECT_TRUE(f.state.groups.empty());
  auto enough = f.poll({cdn("edgeB", 50, 6)});
  EXPECT_EQ(changed(enough, transition::fired), std::vector<std::string>{"cdn=edgeB"});
  // Firing, then too few sessions: quiet polls (resolve_after 2), however bad they look.
  EXPECT_TRUE(f.poll({cdn("edgeB", 10, 10)}).group_changes.empty());
  EXPECT_EQ(f.group({"edgeB"}).polls_below, 1);
  auto resolved = f.poll({cdn("edgeB", 10, 10)});
  EXPECT_EQ(changed(resolved, transition::resolved), std::vector<std::string>{"cdn=edgeB"});

  // The default guard is 20 sessions.
  fixture d(R"(  - {name: r, qoefilter: "cirrbufferingratio > 2", group_by: [cdn],
     when: "ratio > 10%", sinks: [hook]}
)");
  EXPECT_EQ(d.rule.min_sample, 20);
  EXPECT_TRUE(d.poll({cdn("edgeB", 19, 19)}).group_changes.empty());
  EXPECT_EQ(d.poll({cdn("edgeB", 20, 3)}).group_changes.size(), 1u);
}

TEST(PopulationStep, AGroupThatStopsAppearingCountsAsQuietAndResolvesWithItsLastFigures) {
  fixture f(rule_with("    resolve_after: 2\n"));
  const std::string key =
      f.poll({cdn("edgeA", 100, 0), cdn("edgeB", 100, 31)}).group_changes.at(0).incident_key;
  auto gone = f.poll({cdn("edgeA", 100, 0)});
  EXPECT_TRUE(gone.group_changes.empty());
  EXPECT_TRUE(f.group({"edgeB"}).firing);
  EXPECT_EQ(f.group({"edgeB"}).polls_below, 1);
  auto resolved = f.poll({cdn("edgeA", 100, 0)});
  ASSERT_EQ(changed(resolved, transition::resolved), std::vector<std::string>{"cdn=edgeB"});
  EXPECT_EQ(resolved.group_changes[0].incident_key, key);
  // The resolve says what the group showed when last seen, and that it was not in the window.
  json::value b = body(resolved.commit.outbox.at(0));
  const json::value& annotations = b.at("alerts").at(0).at("annotations");
  EXPECT_EQ(annotations.at("sessions"), "100");
  EXPECT_EQ(annotations.at("offending"), "31");
  EXPECT_EQ(annotations.at("ratio"), "0.31");
  EXPECT_EQ(str(annotations.at("summary")),
            "Resolved: cdn_rebuffering: cdn=edgeB: not in the window (no longer ratio > 10% AND "
            "p95(latency) > 4)");
  EXPECT_TRUE(f.state.groups.empty());
}

TEST(PopulationStep, SessionsWithoutTheDimensionFormTheUnknownGroup) {
  fixture f(rule_with(""));
  // 30 rows lack cdn, 30 have it empty: one group of 60, cdn=unknown.
  auto fx = f.poll({cohort{{}, 30, 30, "nocdn"}, cdn("", 30, 30), cdn("edgeA", 100, 0)});
  ASSERT_EQ(changed(fx, transition::fired), std::vector<std::string>{"cdn=unknown"});
  EXPECT_EQ(fx.group_changes[0].figures.sessions, 60u);
  EXPECT_TRUE(f.group({"unknown"}).firing);
  EXPECT_EQ(group_labels(fx.commit.outbox.at(0)).at("cdn"), "unknown");
  EXPECT_EQ(fx.commit.groups->at(0).group,
            (std::vector<std::pair<std::string, std::string>>{{"cdn", "unknown"}}));
  EXPECT_EQ(fx.facts.groups, 2u);
}

TEST(PopulationStep, AFailedPollNeitherFiresNorResolvesAndKeepsAlertmanagerInformed) {
  fixture f(R"(  - name: cdn_rebuffering
    qoefilter: "cirrbufferingratio > 2"
    group_by: [cdn]
    when: "ratio > 10%"
    for: 2
    resolve_after: 2
    sinks: [hook, am]
)");
  f.poll({cdn("edgeB", 100, 31)});
  f.poll({cdn("edgeA", 100, 20), cdn("edgeB", 100, 31)});  // edgeB fires, edgeA pending
  const evaluate::rule_state before = f.state;
  const std::string key = f.group({"edgeB"}).key;

  auto failed = f.fail();
  EXPECT_TRUE(failed.group_changes.empty());
  EXPECT_EQ(f.state.groups, before.groups);
  EXPECT_FALSE(f.state.source_up);
  EXPECT_EQ(f.state.checkpoint, before.checkpoint);
  EXPECT_FALSE(failed.commit.checkpoint);
  EXPECT_FALSE(failed.commit.groups);
  // Alertmanager alone hears the firing group again, with the figures it last showed.
  ASSERT_EQ(sinks_of(failed.commit), std::vector<std::string>{"am"});
  EXPECT_EQ(failed.durability, write::at_once);
  json::array alerts = body(failed.commit.outbox[0]).as_array();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(str(alerts[0].at("labels").at("incident")), key);
  EXPECT_EQ(alerts[0].at("labels").at("cdn"), "edgeB");
  EXPECT_EQ(alerts[0].at("annotations").at("sessions"), "100");
  EXPECT_EQ(alerts[0].at("annotations").at("offending"), "31");

  // The next good poll carries on where the last one left off: edgeA's second poll fires it.
  auto next = f.poll({cdn("edgeA", 100, 20)});
  EXPECT_EQ(changed(next, transition::fired), std::vector<std::string>{"cdn=edgeA"});
  EXPECT_EQ(f.group({"edgeB"}).polls_below, 1);
  f.fail();
  EXPECT_TRUE(f.group({"edgeB"}).firing) << "a failed poll is not a quiet poll";
  EXPECT_EQ(f.group({"edgeB"}).polls_below, 1);
  auto resolved = f.poll({cdn("edgeA", 100, 20)});
  EXPECT_EQ(changed(resolved, transition::resolved), std::vector<std::string>{"cdn=edgeB"});
}

TEST(PopulationStep, AFailedPollSaysNothingWithoutAFiringGroupAlertmanagerOrADatabase) {
  const std::string rule = R"(  - name: r
    qoefilter: "cirrbufferingratio > 2"
    group_by: [cdn]
    when: "ratio > 10%"
)";
  fixture pending(rule + "    for: 2\n    sinks: [am]\n");
  pending.poll({cdn("edgeB", 100, 31)});
  auto fx = pending.fail();
  EXPECT_EQ(fx.durability, write::nothing);
  EXPECT_TRUE(fx.commit.outbox.empty());
  EXPECT_EQ(pending.group({"edgeB"}).pending, 1);
  EXPECT_TRUE(pending.state.polled_once);

  fixture no_am(rule + "    sinks: [hook, pd, chat]\n");
  no_am.poll({cdn("edgeB", 100, 31)});
  EXPECT_EQ(no_am.fail().durability, write::nothing);

  fixture dry(rule + "    sinks: [am]\n");
  dry.env.durable = false;
  dry.poll({cdn("edgeB", 100, 31)});
  fx = dry.fail();
  EXPECT_EQ(fx.durability, write::nothing);
  EXPECT_TRUE(fx.commit.outbox.empty()) << "nothing outlives a dry run: no alert to keep alive";
}

TEST(PopulationStep, ARemovedRuleResolvesEveryFiringGroupAtOnce) {
  fixture f(R"(  - name: cdn_rebuffering
    qoefilter: "cirrbufferingratio > 2"
    group_by: [cdn]
    when: "ratio > 10%"
    sinks: [hook, pd]
)");
  f.poll({cdn("edgeA", 100, 40), cdn("edgeB", 100, 31)});
  const std::string key_a = f.group({"edgeA"}).key, key_b = f.group({"edgeB"}).key;
  auto fx = f.remove();
  EXPECT_EQ(changed(fx, transition::resolved),
            (std::vector<std::string>{"cdn=edgeA", "cdn=edgeB"}));
  EXPECT_EQ(fx.change, transition::resolved);
  EXPECT_EQ(fx.durability, write::at_once);
  EXPECT_FALSE(fx.commit.checkpoint);
  ASSERT_TRUE(fx.commit.groups);
  EXPECT_TRUE(fx.commit.groups->empty());
  EXPECT_TRUE(f.state.groups.empty());
  ASSERT_EQ(sinks_of(fx.commit), (std::vector<std::string>{"hook", "pd", "hook", "pd"}));
  EXPECT_EQ(body(fx.commit.outbox[0]).at("status"), "resolved");
  EXPECT_EQ(str(group_labels(fx.commit.outbox[0]).at("incident")), key_a);
  EXPECT_EQ(body(fx.commit.outbox[1]).at("event_action"), "resolve");
  EXPECT_EQ(str(body(fx.commit.outbox[1]).at("dedup_key")), key_a);
  EXPECT_EQ(str(group_labels(fx.commit.outbox[2]).at("incident")), key_b);
  EXPECT_EQ(str(body(fx.commit.outbox[3]).at("dedup_key")), key_b);

  // Nothing firing: nothing to resolve, nothing to write.
  fixture idle(R"(  - {name: r, qoefilter: "cirrbufferingratio > 2", when: "ratio > 10%"}
)");
  idle.poll({cdn("edgeA", 100, 0)});
  auto none = idle.remove();
  EXPECT_EQ(none.durability, write::nothing);
  EXPECT_TRUE(none.commit.outbox.empty());
}

TEST(PopulationStep, WithoutGroupByTheWholeWindowIsOneGroup) {
  fixture f(R"(  - name: rebuffering
    qoefilter: "cirrbufferingratio > 2"
    when: "ratio > 10% AND sessions >= 100"
    labels: {team: player}
    sinks: [hook]
)");
  auto quiet = f.poll({cdn("edgeA", 50, 25), cdn("edgeB", 49, 25)});
  EXPECT_TRUE(quiet.group_changes.empty()) << "99 sessions: the when does not hold";
  auto fx = f.poll({cdn("edgeA", 50, 0), cdn("edgeB", 50, 11)});
  ASSERT_EQ(changed(fx, transition::fired), std::vector<std::string>{""});
  EXPECT_EQ(fx.group_changes[0].figures.sessions, 100u);
  const std::string key = "rebuffering/" + std::to_string(f.window_end() - 60);
  EXPECT_EQ(fx.group_changes[0].incident_key, key);
  EXPECT_TRUE(f.group({}).firing);
  json::value b = body(fx.commit.outbox.at(0));
  EXPECT_EQ(str(b.at("groupKey")), "qoewatch/rebuffering/");
  EXPECT_EQ(b.at("alerts").at(0).at("labels"), (json::object{{"alertname", "rebuffering"},
                                                             {"severity", "warning"},
                                                             {"team", "player"},
                                                             {"incident", key}}));
  EXPECT_EQ(b.at("qoewatch").at("group"), json::object{});
  EXPECT_TRUE(fx.commit.groups->at(0).group.empty());
  EXPECT_EQ(labels_of(fx.facts), std::vector<std::string>{""});
}

TEST(PopulationStep, JudgeReadsTheGroupsFiguresAndTheGuards) {
  fixture f(R"(  - name: r
    qoefilter: "cirrbufferingratio > 2"
    group_by: [cdn]
    when: "ratio > 10% AND p95(latency) > 4"
    resolve_when: "ratio < 5% OR avg(watchtime) < 1"
    min_sample: 50
)");
  auto info = [](std::size_t sessions, double ratio, std::optional<double> p95,
                 std::optional<double> watchtime) {
    notify::group_info g;
    g.values = {"edgeB"};
    g.measured = true;
    g.sessions = sessions;
    g.offending = static_cast<std::size_t>(ratio * static_cast<double>(sessions));
    g.ratio = ratio;
    g.aggregates = {{"p95(latency)", p95}, {"avg(watchtime)", watchtime}};
    return g;
  };
  struct row {
    notify::group_info g;
    bool holds, quiet;
  };
  notify::group_info absent;
  absent.values = {"edgeB"};
  const row rows[] = {
      {info(100, 0.2, 5, 10), true, false},
      {info(100, 0.2, 3, 10), false, false},             // p95 too low: between
      {info(100, 0.03, 5, 10), false, true},             // resolve_when holds
      {info(100, 0.2, 5, 0.5), true, false},             // both hold: when wins, no flapping
      {info(49, 1.0, 9, 10), false, true},               // under min_sample
      {info(100, 0.2, std::nullopt, 10), false, false},  // no latency: cannot hold
      {info(100, 0.2, 5, std::nullopt), true, false},    // resolve_when unjudgeable
      {info(100, 0.03, 5, std::nullopt), false, true},   // ... and when does not hold
      {absent, false, true},                             // not in the window
  };
  for (std::size_t i = 0; i < std::size(rows); ++i) {
    incident::group_verdict v = evaluate::judge(f.rule, rows[i].g);
    EXPECT_EQ(v.holds, rows[i].holds) << "row " << i;
    EXPECT_EQ(v.quiet, rows[i].quiet) << "row " << i;
  }
}

TEST(PopulationStep, AGroupThatStillMeetsWhenNeverResolvesWhateverResolveWhenSays) {
  // No session carries watchtime: resolve_when cannot be judged, which counts as quiet; but
  // the group is still over 10 %, and resolving it would only fire it again next poll.
  fixture f(R"(  - name: r
    qoefilter: "cirrbufferingratio > 2"
    group_by: [cdn]
    when: "ratio > 10%"
    resolve_when: "ratio < 5% OR avg(watchtime) < 1"
    resolve_after: 1
    sinks: [hook]
)");
  ASSERT_EQ(f.poll({cdn("edgeB", 100, 31)}).group_changes.size(), 1u);
  for (int i = 0; i < 3; ++i) {
    auto fx = f.poll({cdn("edgeB", 100, 31)});
    EXPECT_TRUE(fx.group_changes.empty()) << "poll " << i;
    EXPECT_TRUE(fx.commit.outbox.empty()) << "poll " << i;
  }
  EXPECT_EQ(f.group({"edgeB"}).key, f.key_at(0, "cdn=edgeB"));
  // Under 10 %: now the unjudgeable resolve_when lets it resolve.
  EXPECT_EQ(f.poll({cdn("edgeB", 100, 7)}).group_changes.size(), 1u);
}
