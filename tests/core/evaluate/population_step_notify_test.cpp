// What a population rule's step tells and writes: the notifications of a group that fires
// (every sink, with its dimensions, figures and evidence), Alertmanager's refresh while a
// group fires, how the commit is written (checkpoint only when nothing changed), and which
// groups are exported as metrics (max_groups, largest first, firing ones always).
// The group state machine itself is in population_step_test.cpp.
#include "evaluate/population_step.hpp"

#include <gtest/gtest.h>

#include <set>

#include "duration.hpp"
#include "population_fixture.hpp"

using namespace qoewatch;
using namespace qoewatch::testing_population;
using evaluate::write;
using incident::transition;

namespace {

std::string cdn_rule(const std::string& sinks, const std::string& extra = "") {
  return R"(  - name: cdn_rebuffering
    qoefilter: "cirrbufferingratio > 2"
    group_by: [cdn]
    when: "ratio > 10% AND p95(latency) > 4"
    resolve_when: "ratio < 5%"
    evidence: 3
    sinks: )" +
         sinks + "\n" + extra;
}

std::vector<std::string> sink_types(const state::poll_commit& c) {
  std::vector<std::string> out;
  for (const auto& r : c.outbox) out.push_back(r.sink_type);
  return out;
}

}  // namespace

TEST(PopulationStepNotify, AFiringGroupIsToldToEverySinkWithItsFiguresAndEvidence) {
  fixture f(cdn_rule("[hook, am, pd, chat]"));
  auto fx = f.poll({cdn("edgeA", 100, 2), cdn("edgeB", 100, 31)});
  const std::string key = f.key_at(0, "cdn=edgeB");
  ASSERT_EQ(sinks_of(fx.commit), (std::vector<std::string>{"hook", "am", "pd", "chat"}));
  EXPECT_EQ(sink_types(fx.commit),
            (std::vector<std::string>{"webhook", "alertmanager", "pagerduty", "slack"}));
  for (const state::outbox_row& r : fx.commit.outbox) {
    EXPECT_EQ(r.rule, "cdn_rebuffering");
    EXPECT_EQ(r.created_at, f.now() - 60);
  }

  // Webhook: the group alert, then the first `evidence` offending sessions.
  json::value hook = body(fx.commit.outbox[0]);
  EXPECT_EQ(str(hook.at("groupKey")), "qoewatch/cdn_rebuffering/cdn=edgeB");
  EXPECT_EQ(hook.at("status"), "firing");
  EXPECT_EQ(hook.at("receiver"), "hook");
  const json::array& alerts = hook.at("alerts").as_array();
  ASSERT_EQ(alerts.size(), 4u);
  EXPECT_EQ(alerts[0].at("labels"), (json::object{{"alertname", "cdn_rebuffering"},
                                                  {"severity", "warning"},
                                                  {"cdn", "edgeB"},
                                                  {"incident", key}}));
  const json::object& a = alerts[0].at("annotations").as_object();
  EXPECT_EQ(str(a.at("summary")),
            "cdn=edgeB: 31 % of 100 sessions have cirrbufferingratio > 2, p95(latency) 95 "
            "(ratio > 10% AND p95(latency) > 4)");
  EXPECT_EQ(a.at("sessions"), "100");
  EXPECT_EQ(a.at("offending"), "31");
  EXPECT_EQ(a.at("ratio"), "0.31");
  EXPECT_EQ(a.at("p95(latency)"), "95");
  EXPECT_EQ(str(alerts[0].at("startsAt")), utc_rfc3339(fixture::fired_at(0)));
  for (int i = 1; i <= 3; ++i) {
    EXPECT_EQ(alerts[i].at("labels"),
              (json::object{{"alertname", "cdn_rebuffering"},
                            {"severity", "warning"},
                            {"cdn", "edgeB"},
                            {"sessionid", "edgeB-" + std::to_string(i - 1)}}));
  }
  EXPECT_EQ(hook.at("qoewatch").at("group"), (json::object{{"cdn", "edgeB"}}));
  EXPECT_EQ(hook.at("qoewatch").at("aggregates"),
            json::parse(R"j({"sessions":100,"offending":31,"ratio":0.31,"p95(latency)":95.0})j"));

  // Alertmanager: the same alerts as postable alerts.
  json::array am = body(fx.commit.outbox[1]).as_array();
  ASSERT_EQ(am.size(), 4u);
  EXPECT_EQ(str(am[0].at("labels").at("incident")), key);
  EXPECT_EQ(str(am[0].at("endsAt")), utc_rfc3339(t0 + 4 * 60));
  // PagerDuty: one incident per group, the figures in custom_details.
  json::value pd = body(fx.commit.outbox[2]);
  EXPECT_EQ(pd.at("event_action"), "trigger");
  EXPECT_EQ(str(pd.at("dedup_key")), key);
  EXPECT_EQ(pd.at("payload").at("custom_details").at("aggregates"),
            hook.at("qoewatch").at("aggregates"));
  // Slack: one message with the numbers.
  EXPECT_EQ(str(body(fx.commit.outbox[3]).at("text")),
            "cdn_rebuffering: cdn=edgeB: 31 % of 100 sessions have cirrbufferingratio &gt; 2, "
            "p95(latency) 95 (ratio &gt; 10% AND p95(latency) &gt; 4)");
}

TEST(PopulationStepNotify, EachGroupGetsItsOwnNotificationsAndIncident) {
  fixture f(cdn_rule("[hook, pd]"));
  auto fx = f.poll({cdn("edgeA", 200, 50), cdn("edgeB", 100, 31), cdn("edgeC", 100, 1)});
  ASSERT_EQ(fx.group_changes.size(), 2u);
  ASSERT_EQ(sinks_of(fx.commit), (std::vector<std::string>{"hook", "pd", "hook", "pd"}));
  EXPECT_EQ(str(body(fx.commit.outbox[0]).at("groupKey")), "qoewatch/cdn_rebuffering/cdn=edgeA");
  EXPECT_EQ(str(body(fx.commit.outbox[1]).at("dedup_key")), f.key_at(0, "cdn=edgeA"));
  EXPECT_EQ(str(body(fx.commit.outbox[2]).at("groupKey")), "qoewatch/cdn_rebuffering/cdn=edgeB");
  EXPECT_EQ(str(body(fx.commit.outbox[3]).at("dedup_key")), f.key_at(0, "cdn=edgeB"));
  EXPECT_EQ(committed_keys(fx.commit),
            (std::vector<std::string>{f.key_at(0, "cdn=edgeA"), f.key_at(0, "cdn=edgeB")}));
}

TEST(PopulationStepNotify, EveryDimensionIsALabelInGroupByOrder) {
  fixture f(R"(  - name: by_cdn_platform
    qoefilter: "cirrbufferingratio > 2"
    group_by: [platform, cdn]
    when: "ratio > 10%"
    evidence: 1
    sinks: [hook]
)");
  auto fx = f.poll({cohort{{{"cdn", "edgeB"}, {"platform", "Android"}}, 100, 31, "a"},
                    cohort{{{"cdn", "edgeB"}, {"platform", "iOS"}}, 100, 0, "i"}});
  ASSERT_EQ(fx.group_changes.size(), 1u);
  EXPECT_EQ(fx.group_changes[0].label, "platform=Android,cdn=edgeB");
  json::value b = body(fx.commit.outbox.at(0));
  EXPECT_EQ(str(b.at("groupKey")), "qoewatch/by_cdn_platform/platform=Android,cdn=edgeB");
  EXPECT_EQ(
      b.at("groupLabels"),
      (json::object{{"alertname", "by_cdn_platform"}, {"platform", "Android"}, {"cdn", "edgeB"}}));
  EXPECT_EQ(b.at("alerts").at(0).at("labels").at("platform"), "Android");
  EXPECT_EQ(b.at("alerts").at(0).at("labels").at("cdn"), "edgeB");
  EXPECT_EQ(b.at("alerts").at(1).at("labels").at("platform"), "Android");
  EXPECT_EQ(b.at("alerts").at(1).at("labels").at("sessionid"), "a-0");
  EXPECT_EQ(fx.commit.groups->at(0).group, (std::vector<std::pair<std::string, std::string>>{
                                               {"platform", "Android"}, {"cdn", "edgeB"}}));
  EXPECT_EQ(f.key_at(0, "platform=Android,cdn=edgeB"),
            "by_cdn_platform/platform=Android,cdn=edgeB/1775749880");  // the window's end
  EXPECT_TRUE(f.group({"Android", "edgeB"}).firing);
}

TEST(PopulationStepNotify, AlertmanagerHearsAFiringGroupEveryPollAndNothingElseDoes) {
  fixture f(cdn_rule("[hook, am]", "    resolve_after: 3\n"));
  f.poll({cdn("edgeB", 100, 31)});
  const std::string key = f.group({"edgeB"}).key;
  auto still = f.poll({cdn("edgeB", 100, 31)});
  ASSERT_EQ(sinks_of(still.commit), std::vector<std::string>{"am"});
  json::array alerts = body(still.commit.outbox[0]).as_array();
  ASSERT_EQ(alerts.size(), 1u) << "the group alert alone: evidence went with the fire";
  EXPECT_EQ(str(alerts[0].at("labels").at("incident")), key);
  EXPECT_EQ(str(alerts[0].at("startsAt")), utc_rfc3339(fixture::fired_at(0)));
  EXPECT_EQ(str(alerts[0].at("endsAt")), utc_rfc3339(t0 + 60 + 4 * 60));
  EXPECT_EQ(still.durability, write::grouped);
  EXPECT_TRUE(still.group_changes.empty());

  // Absent from the window, still firing: still refreshed.
  auto absent = f.poll({cdn("edgeA", 100, 0)});
  ASSERT_EQ(sinks_of(absent.commit), std::vector<std::string>{"am"});
  EXPECT_EQ(str(body(absent.commit.outbox[0]).at(0).at("labels").at("incident")), key);
  // A failed poll refreshes it with the figures it last showed.
  auto failed = f.fail();
  ASSERT_EQ(sinks_of(failed.commit), std::vector<std::string>{"am"});
  EXPECT_EQ(body(failed.commit.outbox[0]).at(0).at("annotations").at("sessions"), "100");
  EXPECT_EQ(body(failed.commit.outbox[0]).at(0).at("annotations").at("ratio"), "0.31");

  // The resolve goes to every sink, Alertmanager's with endsAt now.
  f.poll({cdn("edgeB", 100, 1)});
  auto resolved = f.poll({cdn("edgeB", 100, 1)});
  ASSERT_EQ(resolved.group_changes.size(), 1u);
  ASSERT_EQ(sinks_of(resolved.commit), (std::vector<std::string>{"hook", "am"}));
  json::array gone = body(resolved.commit.outbox[1]).as_array();
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(str(gone[0].at("endsAt")), utc_rfc3339(f.now() - 60));
}

TEST(PopulationStepNotify, OnlyTheCheckpointMovesWhenNoGroupChanged) {
  fixture f(cdn_rule("[hook]", "    resolve_after: 3\n"));
  EXPECT_EQ(f.poll({cdn("edgeB", 100, 1)}).durability, write::checkpoint_only);
  auto fired = f.poll({cdn("edgeB", 100, 31)});
  EXPECT_EQ(fired.durability, write::grouped);
  auto same = f.poll({cdn("edgeB", 100, 31)});
  EXPECT_EQ(same.durability, write::checkpoint_only);
  EXPECT_FALSE(same.commit.groups) << "the groups as committed: not written again";
  EXPECT_EQ(same.commit.checkpoint, f.window_end() - 60);
  auto quiet = f.poll({cdn("edgeB", 100, 1)});  // polls_below 1: the row changed
  EXPECT_EQ(quiet.durability, write::grouped);
  EXPECT_EQ(f.poll({cdn("edgeB", 100, 7)}).durability, write::grouped);  // back to 0
  EXPECT_EQ(f.poll({cdn("edgeB", 100, 7)}).durability, write::checkpoint_only);
}

TEST(PopulationStepNotify, AFreshProcessWritesItsGroupsOnceAndARestartCarriesThemOn) {
  // No state database read yet: what is committed is unknown, so the first poll writes.
  fixture fresh(cdn_rule("[hook]"));
  fresh.state.committed_groups.reset();
  auto first = fresh.poll({cdn("edgeB", 100, 1)});
  EXPECT_EQ(first.durability, write::grouped);
  ASSERT_TRUE(first.commit.groups);
  EXPECT_TRUE(first.commit.groups->empty());
  EXPECT_EQ(fresh.poll({cdn("edgeB", 100, 1)}).durability, write::checkpoint_only);

  // After a restart, a firing group comes back from the database (as the rule runner puts
  // it back): the same incident goes on, nothing is said again, and it resolves with its key.
  fixture f(cdn_rule("[hook]", "    resolve_after: 1\n"));
  const state::incident_row row{"cdn_rebuffering", "cdn_rebuffering/cdn=edgeB/1", 1, 0, {"hook"},
                                {{"cdn", "edgeB"}}};
  f.state.groups[{"edgeB"}] = {0, true, row.key, row.started_at, 0, row.sinks};
  f.state.committed_groups = std::vector<state::incident_row>{row};
  auto on = f.poll({cdn("edgeB", 100, 31)});
  EXPECT_TRUE(on.group_changes.empty());
  EXPECT_TRUE(on.commit.outbox.empty());
  EXPECT_EQ(on.durability, write::checkpoint_only);
  auto resolved = f.poll({cdn("edgeB", 100, 1)});
  ASSERT_EQ(resolved.group_changes.size(), 1u);
  EXPECT_EQ(resolved.group_changes[0].incident_key, row.key);
  EXPECT_EQ(str(group_labels(resolved.commit.outbox.at(0)).at("incident")), row.key);
  EXPECT_EQ(str(body(resolved.commit.outbox.at(0)).at("alerts").at(0).at("startsAt")),
            "1970-01-01T00:00:01Z");
}

TEST(PopulationStepNotify, MaxGroupsExportsTheLargestAndAlwaysTheFiringOnes) {
  fixture f(R"(  - name: cdn_rebuffering
    qoefilter: "cirrbufferingratio > 2"
    group_by: [cdn]
    when: "ratio > 50%"
    max_groups: 2
    sinks: []
)");
  // e is the smallest group and the only one firing.
  auto fx = f.poll(
      {cdn("a", 100, 0), cdn("b", 80, 0), cdn("c", 60, 0), cdn("d", 40, 0), cdn("e", 30, 30)});
  EXPECT_TRUE(fx.facts.population);
  EXPECT_EQ(fx.facts.groups, 5u);
  EXPECT_EQ(fx.facts.offending, 30u);
  EXPECT_EQ(fx.facts.rows_fetched, 310u);
  EXPECT_EQ(labels_of(fx.facts), (std::vector<std::string>{"cdn=e", "cdn=a"}));
  EXPECT_TRUE(fx.facts.exported[0].firing);
  EXPECT_EQ(fx.facts.exported[0].info.sessions, 30u);
  EXPECT_DOUBLE_EQ(fx.facts.exported[0].info.ratio, 1.0);
  EXPECT_FALSE(fx.facts.exported[1].firing);
  EXPECT_EQ(fx.facts.exported[1].info.sessions, 100u);

  // e no longer in the window, still firing: exported with no sessions, a and b after it.
  fx = f.poll({cdn("a", 100, 0), cdn("b", 80, 0), cdn("c", 60, 0)});
  EXPECT_EQ(fx.facts.groups, 3u);
  ASSERT_EQ(labels_of(fx.facts), (std::vector<std::string>{"cdn=e", "cdn=a"}));
  EXPECT_TRUE(fx.facts.exported[0].firing);
  EXPECT_EQ(fx.facts.exported[0].info.sessions, 0u);
  EXPECT_FALSE(fx.facts.exported[0].info.measured);

  // More firing groups than max_groups: every one is exported.
  fixture many(R"(  - {name: r, qoefilter: "cirrbufferingratio > 2", group_by: [cdn],
     when: "ratio > 50%", max_groups: 1, sinks: []}
)");
  fx = many.poll({cdn("a", 100, 0), cdn("x", 40, 40), cdn("y", 30, 30), cdn("z", 20, 20)});
  EXPECT_EQ(labels_of(fx.facts), (std::vector<std::string>{"cdn=x", "cdn=y", "cdn=z"}));
}

TEST(PopulationStepNotify, ExportsCarryPendingCountsAndEveryGroupUpToMaxGroups) {
  fixture f(cdn_rule("[]", "    for: 3\n"));
  auto fx = f.poll({cdn("a", 30, 0), cdn("b", 100, 31), cdn("c", 50, 0)});
  ASSERT_EQ(labels_of(fx.facts), (std::vector<std::string>{"cdn=b", "cdn=c", "cdn=a"}));
  EXPECT_EQ(fx.facts.exported[0].pending, 1);
  EXPECT_EQ(fx.facts.exported[1].pending, 0);
  ASSERT_EQ(fx.facts.exported[0].info.aggregates.size(), 1u);
  EXPECT_EQ(fx.facts.exported[0].info.aggregates[0].first, "p95(latency)");
  EXPECT_EQ(fx.facts.exported[0].info.aggregates[0].second, 95);
  EXPECT_EQ(fx.facts.exported[1].info.aggregates[0].second, 48);  // rank ceil(0.95 * 50) = 48
}

TEST(PopulationStepNotify, SinksNoLongerConfiguredGetNoRows) {
  fixture f(cdn_rule("[hook, pd]"));
  std::erase_if(f.cfg.sinks, [](const config::sink_config& s) { return s.name == "pd"; });
  auto fx = f.poll({cdn("edgeB", 100, 31)});
  ASSERT_EQ(sinks_of(fx.commit), std::vector<std::string>{"hook"});
}

namespace {
std::vector<std::string> ids_of(const state::poll_commit& c) {
  std::vector<std::string> out;
  for (const auto& r : c.outbox) out.push_back(r.id);
  return out;
}
}  // namespace

TEST(PopulationStepNotify, TwoProcessesJudgingTheSameWindowsGiveEveryRowTheSameId) {
  // Their start jitters differ by 12 s (within one 60 s slot): the firing (with evidence),
  // the Alertmanager re-send, a failed poll's keep-alive and the resolve get the same ids.
  std::vector<std::vector<std::string>> seen;
  for (double lag : {0.0, 12.0}) {
    fixture f(cdn_rule("[hook, am, pd]", "    resolve_after: 1\n"));
    f.lag = lag;
    std::vector<std::string> ids;
    auto keep = [&ids](const evaluate::step_effects& fx) {
      for (const std::string& id : ids_of(fx.commit)) ids.push_back(id);
    };
    keep(f.poll({cdn("edgeA", 100, 0), cdn("edgeB", 100, 31)}));
    keep(f.poll({cdn("edgeB", 100, 31)}));
    keep(f.fail());
    keep(f.poll({cdn("edgeB", 100, 0)}));
    seen.push_back(std::move(ids));
  }
  // fired on three sinks, re-sent to am, kept alive on am, resolved on three sinks
  ASSERT_EQ(seen[0].size(), 8u);
  EXPECT_EQ(seen[0], seen[1]);
  EXPECT_EQ(std::set<std::string>(seen[0].begin(), seen[0].end()).size(), seen[0].size());
}

TEST(PopulationStepNotify, AGroupsResolveHasOneIdWhetherItQuietedOrItsRuleWasRemoved) {
  std::vector<std::vector<std::string>> resolves;
  for (bool remove : {false, true}) {
    fixture f(cdn_rule("[hook, pd]", "    resolve_after: 1\n"));
    f.poll({cdn("edgeB", 100, 31)});
    auto fx = remove ? f.remove() : f.poll({cdn("edgeB", 100, 0)});
    ASSERT_EQ(fx.group_changes.size(), 1u);
    ASSERT_EQ(fx.group_changes[0].change, transition::resolved);
    resolves.push_back(ids_of(fx.commit));
  }
  EXPECT_EQ(resolves[0].size(), 2u);
  EXPECT_EQ(resolves[0], resolves[1]);
}

TEST(PopulationStepNotify, ADryRunStillRendersWhatItWouldSend) {
  fixture f(cdn_rule("[hook]"));
  f.env.durable = false;
  auto fx = f.poll({cdn("edgeB", 100, 31)});
  EXPECT_EQ(fx.group_changes.size(), 1u);
  EXPECT_EQ(fx.commit.outbox.size(), 1u);  // printed instead of sent
  EXPECT_TRUE(fx.commit.notified.empty());
}
