// The rule step as a table: what one poll of one rule decides (pairs, rows, incident,
// checkpoint, how it is written) for min_sessions, resolve_after, repeats across windows,
// catch-up slices, failed polls while firing, and rules removed while firing. These used to
// be checked only end to end, by running the daemon and sleeping.
#include "evaluate/step.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <set>
#include <tuple>
#include <boost/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "step_fixture.hpp"

using namespace qoewatch;
using namespace qoewatch::testing_step;
using evaluate::write;
using incident::transition;

TEST(Step, BelowMinSessionsNothingIsNotifiedAndOnlyTheCheckpointMoves) {
  fixture f("  - {name: slow, qoefilter: latency > 5, min_sessions: 3, sinks: [hook]}\n");
  auto fx = f.step(f.polled(1000, {{"a", 7}, {"b", 9}, {"c", 1}}));
  EXPECT_EQ(fx.durability, write::checkpoint_only);
  EXPECT_EQ(fx.commit.checkpoint, 1000);
  EXPECT_TRUE(fx.commit.notified.empty());
  EXPECT_TRUE(fx.commit.outbox.empty());
  EXPECT_FALSE(fx.commit.incident);
  EXPECT_EQ(fx.change, transition::none);
  EXPECT_EQ(fx.facts.offending, 2u);
  EXPECT_EQ(fx.facts.new_sessions, 0u);
  EXPECT_EQ(fx.facts.rows_fetched, 3u);
  EXPECT_EQ(f.state.checkpoint, 1000);
  EXPECT_FALSE(f.state.incident.firing);

  // The third offender fires it: all three are news now, the two earlier ones included.
  fx = f.step(f.polled(1030, {{"a", 7}, {"b", 9}, {"d", 6}}), t0 + 30);
  EXPECT_EQ(fx.change, transition::fired);
  EXPECT_EQ(fx.durability, write::grouped);
  EXPECT_EQ(notified_ids(fx.commit), (std::vector<std::string>{"a", "b", "d"}));
  ASSERT_EQ(sinks_of(fx.commit), std::vector<std::string>{"hook"});
  EXPECT_EQ(fx.commit.outbox[0].rule, "slow");
  EXPECT_EQ(fx.commit.outbox[0].sink_type, "webhook");
  EXPECT_EQ(fx.commit.outbox[0].created_at, t0 + 30);
  EXPECT_EQ(body(fx.commit.outbox[0]).at("alerts").as_array().size(), 3u);
  ASSERT_TRUE(fx.commit.incident);
  // Named after the window that fired it (polled(1030, ...)), not the poll's moment.
  EXPECT_EQ(fx.commit.incident->key, "slow/1030");
  EXPECT_EQ(fx.commit.incident->sinks, std::vector<std::string>{"hook"});
  EXPECT_EQ(fx.incident_key, fx.commit.incident->key);
}

TEST(Step, TwoProcessesJudgingOneWindowNameItsIncidentAlike) {
  // Two daemons poll the same window at different moments (their jitter, their load): the
  // incident, its Alertmanager label and PagerDuty dedup_key are the same; only when each
  // rendered its body differs.
  std::vector<std::string> keys, starts;
  for (const double now : {t0 + 3, t0 + 47}) {
    fixture f("  - {name: slow, qoefilter: latency > 5, sinks: [hook]}\n");
    auto fx = f.step(f.polled(1030, {{"a", 7}}), now);
    ASSERT_EQ(fx.change, transition::fired);
    keys.push_back(fx.incident_key);
    const boost::json::value b = body(fx.commit.outbox.at(0));
    starts.emplace_back(b.at("qoewatch").at("incident").at("startsAt").as_string());
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"slow/1030", "slow/1030"}));
  EXPECT_EQ(starts[0], starts[1]);
}

TEST(Step, EachSessionIsNotifiedOnceAcrossOverlappingWindows) {
  fixture f("  - {name: slow, qoefilter: latency > 5, sinks: [hook]}\n");
  auto fx = f.step(f.polled(1000, {{"a", 7}}));
  EXPECT_EQ(notified_ids(fx.commit), std::vector<std::string>{"a"});
  fx = f.step(f.polled(1030, {{"a", 7}, {"b", 8}}), t0 + 30);
  EXPECT_EQ(notified_ids(fx.commit), std::vector<std::string>{"b"});
  EXPECT_EQ(fx.facts.offending, 2u);
  // Nothing new, still firing, incident as committed: only the checkpoint moves.
  fx = f.step(f.polled(1060, {{"a", 7}, {"b", 8}}), t0 + 60);
  EXPECT_TRUE(fx.commit.outbox.empty());
  EXPECT_EQ(fx.durability, write::checkpoint_only);
  EXPECT_TRUE(f.state.incident.firing);
}

TEST(Step, ResolvesAfterResolveAfterQuietPollsWithOneResolvePerSink) {
  fixture f(
      "  - {name: slow, qoefilter: latency > 5, resolve_after: 2, sinks: [hook, am, pd]}\n");
  auto fired = f.step(f.polled(1000, {{"a", 7}}));
  ASSERT_EQ(fired.change, transition::fired);
  const std::string key = fired.incident_key;

  auto quiet = f.step(f.polled(1030, {}), t0 + 30);
  EXPECT_EQ(quiet.change, transition::none);
  EXPECT_TRUE(f.state.incident.firing);
  EXPECT_EQ(f.state.incident.polls_below, 1);
  // Still firing: Alertmanager alone hears it again (its alert expires otherwise), and the
  // incident row changed (polls_below), so it is written now.
  EXPECT_EQ(sinks_of(quiet.commit), std::vector<std::string>{"am"});
  EXPECT_EQ(quiet.durability, write::grouped);

  auto resolved = f.step(f.polled(1060, {}), t0 + 60);
  EXPECT_EQ(resolved.change, transition::resolved);
  EXPECT_EQ(resolved.incident_key, key);
  EXPECT_TRUE(resolved.commit.clear_incident);
  EXPECT_FALSE(resolved.commit.incident);
  EXPECT_EQ(sinks_of(resolved.commit), (std::vector<std::string>{"hook", "am", "pd"}));
  EXPECT_EQ(body(resolved.commit.outbox[0]).at("status"), "resolved");
  EXPECT_EQ(body(resolved.commit.outbox[2]).at("event_action"), "resolve");
  EXPECT_EQ(body(resolved.commit.outbox[2]).at("dedup_key").as_string(), key);
  EXPECT_FALSE(f.state.incident.firing);

  // Resolved and quiet: nothing to say any more.
  auto after = f.step(f.polled(1090, {}), t0 + 90);
  EXPECT_EQ(after.durability, write::checkpoint_only);
}

TEST(Step, AnOffenderAmongQuietPollsStartsTheCountAgain) {
  fixture f("  - {name: slow, qoefilter: latency > 5, resolve_after: 2, sinks: [hook]}\n");
  f.step(f.polled(1000, {{"a", 7}}));
  f.step(f.polled(1030, {}), t0 + 30);
  EXPECT_EQ(f.state.incident.polls_below, 1);
  f.step(f.polled(1060, {{"a", 7}}), t0 + 60);
  EXPECT_EQ(f.state.incident.polls_below, 0);
  EXPECT_EQ(f.step(f.polled(1090, {}), t0 + 90).change, transition::none);
  EXPECT_EQ(f.step(f.polled(1120, {}), t0 + 120).change, transition::resolved);
}

TEST(Step, AFailedPollKeepsTheAlertmanagerAlertAliveAndNothingElse) {
  fixture f("  - {name: slow, qoefilter: latency > 5, sinks: [hook, am]}\n");
  f.step(f.polled(1000, {{"a", 7}, {"b", 9}}));
  const evaluate::rule_state before = f.state;
  auto fx = f.step(f.failed(), t0 + 30);
  EXPECT_EQ(fx.durability, write::at_once);
  EXPECT_EQ(sinks_of(fx.commit), std::vector<std::string>{"am"});
  EXPECT_FALSE(fx.commit.checkpoint);
  EXPECT_TRUE(fx.commit.notified.empty());
  EXPECT_FALSE(fx.commit.incident);
  EXPECT_FALSE(fx.commit.clear_incident);
  EXPECT_EQ(fx.change, transition::none);
  // The incident alert, its endsAt pushed forward, saying how many offended last time.
  boost::json::array alerts = body(fx.commit.outbox[0]).as_array();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].at("labels").at("incident").as_string(), before.incident.key);
  // A failed poll neither fires nor resolves nor moves the checkpoint.
  EXPECT_FALSE(f.state.source_up);
  EXPECT_EQ(f.state.incident, before.incident);
  EXPECT_EQ(f.state.checkpoint, before.checkpoint);
  EXPECT_EQ(f.state.last_offending, 2u);
}

TEST(Step, AFailedPollSaysNothingWhenNotFiringOrWithoutAlertmanagerOrADatabase) {
  fixture quiet("  - {name: slow, qoefilter: latency > 5, sinks: [am]}\n");
  EXPECT_EQ(quiet.step(quiet.failed()).durability, write::nothing);
  EXPECT_TRUE(quiet.state.polled_once);

  fixture webhook_only("  - {name: slow, qoefilter: latency > 5, sinks: [hook, pd]}\n");
  webhook_only.step(webhook_only.polled(1000, {{"a", 7}}));
  EXPECT_EQ(webhook_only.step(webhook_only.failed()).durability, write::nothing);

  fixture dry("  - {name: slow, qoefilter: latency > 5, sinks: [am]}\n");
  dry.env.durable = false;
  dry.step(dry.polled(1000, {{"a", 7}}));
  EXPECT_EQ(dry.step(dry.failed()).durability, write::nothing);
}

TEST(Step, ARuleRemovedWhileFiringResolvesAtOnce) {
  fixture f("  - {name: slow, qoefilter: latency > 5, sinks: [hook, pd]}\n");
  const std::string key = f.step(f.polled(1000, {{"a", 7}})).incident_key;
  evaluate::poll_outcome gone;
  gone.what = kind::removed;
  auto fx = f.step(gone, t0 + 45);
  EXPECT_EQ(fx.change, transition::resolved);
  EXPECT_EQ(fx.durability, write::at_once);
  EXPECT_TRUE(fx.commit.clear_incident);
  EXPECT_FALSE(fx.commit.checkpoint);
  EXPECT_EQ(fx.incident_key, key);
  ASSERT_EQ(sinks_of(fx.commit), (std::vector<std::string>{"hook", "pd"}));
  EXPECT_EQ(body(fx.commit.outbox[0]).at("alerts").at(0).at("labels").at("incident").as_string(),
            key);
  EXPECT_FALSE(f.state.incident.firing);

  // Not firing: nothing to resolve.
  fixture idle("  - {name: slow, qoefilter: latency > 5, sinks: [hook]}\n");
  EXPECT_EQ(idle.step(gone).durability, write::nothing);
}

TEST(Step, SinksNoLongerConfiguredGetNoRows) {
  fixture f("  - {name: slow, qoefilter: latency > 5, sinks: [hook, am]}\n");
  std::erase_if(f.cfg.sinks, [](const config::sink_config& s) { return s.name == "am"; });
  EXPECT_EQ(sinks_of(f.step(f.polled(1000, {{"a", 7}})).commit),
            std::vector<std::string>{"hook"});
}

TEST(Step, CatchUpSlicesEachMoveTheCheckpointAndJudgeMinSessionsAlone) {
  fixture f("  - {name: slow, qoefilter: latency > 5, min_sessions: 2, sinks: [hook]}\n");
  // Two slices of a long outage, one offender each: neither fires, both move the checkpoint.
  auto first = f.step(f.polled(1000, {{"a", 7}}, true));
  EXPECT_EQ(first.commit.checkpoint, 1000);
  EXPECT_EQ(first.change, transition::none);
  auto second = f.step(f.polled(1600, {{"b", 7}}, true), t0 + 1);
  EXPECT_EQ(second.commit.checkpoint, 1600);
  EXPECT_EQ(second.change, transition::none);
  EXPECT_EQ(f.state.checkpoint, 1600);
  // The last slice holds two: it fires with both.
  auto last = f.step(f.polled(2200, {{"c", 7}, {"d", 8}}), t0 + 2);
  EXPECT_EQ(last.change, transition::fired);
  EXPECT_EQ(notified_ids(last.commit), (std::vector<std::string>{"c", "d"}));
}

TEST(Step, AFreshProcessWritesAFiringIncidentOnceThenDefers) {
  // After a restart the rule remembers its incident, but this process has not written it.
  fixture f("  - {name: slow, qoefilter: latency > 5, sinks: [hook]}\n");
  f.state.incident = {true, "slow/1", 1, 0, {}};
  f.notified.insert("slow", "a", 1000);
  auto fx = f.step(f.polled(1000, {{"a", 7}}));
  EXPECT_EQ(fx.durability, write::grouped);
  EXPECT_TRUE(fx.commit.outbox.empty());
  ASSERT_TRUE(f.state.committed_incident);
  EXPECT_EQ(f.state.committed_incident->key, "slow/1");
  EXPECT_EQ(f.step(f.polled(1030, {{"a", 7}})).durability, write::checkpoint_only);
}

std::vector<std::string> ids_of(const evaluate::step_effects& fx) {
  std::vector<std::string> out;
  for (const auto& r : fx.commit.outbox) out.push_back(r.id);
  return out;
}

TEST(Step, IdsComeFromWhatARowSaysSoTwoProcessesAgree) {
  // Two daemons step the same windows at different moments: every row gets the same id.
  const std::string rule = "  - {name: slow, qoefilter: latency > 5, sinks: [hook, am, pd]}\n";
  fixture a(rule), b(rule);
  std::vector<std::string> ids_a, ids_b;
  for (auto [f, ids, lag] : {std::tuple{&a, &ids_a, 3.0}, std::tuple{&b, &ids_b, 41.0}}) {
    for (const std::string& id : ids_of(f->step(f->polled(1000, {{"a", 7}}), t0 + lag)))
      ids->push_back(id);
    auto second = f->step(f->polled(1030, {{"a", 7}, {"b", 8}}), t0 + 30 + lag);
    for (const std::string& id : ids_of(second)) ids->push_back(id);
  }
  ASSERT_EQ(ids_a.size(), 6u);  // hook, am, pd, then hook (b), am (the window), pd (b)
  EXPECT_EQ(ids_a, ids_b);
  // The format receivers expect: "msg_" and 32 hex digits. Pinned: a change of what an id
  // covers changes every id, so replicas on two versions would page twice.
  for (const std::string& id : ids_a)
    EXPECT_TRUE(std::regex_match(id, std::regex("msg_[0-9a-f]{32}"))) << id;
  EXPECT_EQ(ids_a[0], "msg_9a1252caf464c4cd7cb0206cfd65c05d");
  // Every row is told apart: by sink, by window, by the sessions it lists.
  EXPECT_EQ(std::set<std::string>(ids_a.begin(), ids_a.end()).size(), ids_a.size());
}

TEST(Step, NewSessionsKeepTheirIdWhicheverWindowShowedThem) {
  // Of two replicas firing one incident, one saw the sessions first in a later window (it
  // restarted, say): its webhook row lists the same sessions under the same incident, so it
  // carries the same id. Alertmanager's rows are per window.
  const std::string rule = "  - {name: slow, qoefilter: latency > 5, sinks: [hook, am]}\n";
  fixture early(rule), late(rule);
  early.state.incident = late.state.incident = {true, "slow/970", 970, 0, {"hook"}};
  auto a = early.step(early.polled(1000, {{"a", 7}}));
  auto b = late.step(late.polled(1030, {{"a", 7}}));
  ASSERT_EQ(sinks_of(a.commit), (std::vector<std::string>{"hook", "am"}));
  EXPECT_EQ(ids_of(a).at(0), ids_of(b).at(0));
  EXPECT_NE(ids_of(a).at(1), ids_of(b).at(1));
}

TEST(Step, EachBatchOfSessionsHasItsOwnId) {
  fixture f("  - {name: slow, qoefilter: latency > 5, sinks: [hook]}\n");
  f.cfg.sinks.at(0).max_sessions_per_notification = 2;
  auto fx = f.step(f.polled(1000, {{"a", 7}, {"b", 7}, {"c", 7}, {"d", 7}, {"e", 7}}));
  const std::vector<std::string> ids = ids_of(fx);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 3u);
}

TEST(Step, AResolveHasOneIdWhetherTheRuleQuietedOrWasRemoved) {
  // One replica sees the rule quiet down, another (on a newer config) sees it removed: the
  // receiver must hear one resolve, so both carry the incident's resolve id.
  const std::string rule =
      "  - {name: slow, qoefilter: latency > 5, resolve_after: 1, sinks: [hook, pd]}\n";
  fixture quieted(rule), removed(rule);
  for (fixture* f : {&quieted, &removed}) f->step(f->polled(1000, {{"a", 7}}));
  auto resolved = quieted.step(quieted.polled(1030, {}), t0 + 30);
  ASSERT_EQ(resolved.change, transition::resolved);
  evaluate::poll_outcome gone;
  gone.what = kind::removed;
  auto dropped = removed.step(gone, t0 + 52);
  ASSERT_EQ(dropped.change, transition::resolved);
  EXPECT_EQ(ids_of(resolved), ids_of(dropped));
  EXPECT_EQ(ids_of(resolved).size(), 2u);
}

TEST(Step, AFailedPollsKeepAliveIsNotTheWindowsSend) {
  fixture f("  - {name: slow, qoefilter: latency > 5, sinks: [am]}\n");
  const std::string sent = ids_of(f.step(f.polled(1000, {{"a", 7}}))).at(0);
  // The keep-alive of a failed poll, then a second failure in the same 60 s slot (t0 + 40
  // is on the grid): one id for the slot, not the id of the window's own send.
  const std::string alive = ids_of(f.step(f.failed(), t0 + 45)).at(0);
  EXPECT_NE(alive, sent);
  EXPECT_EQ(ids_of(f.step(f.failed(), t0 + 50)).at(0), alive);
  EXPECT_NE(ids_of(f.step(f.failed(), t0 + 105)).at(0), alive);
}

TEST(Step, ADryRunRemembersWhatItNotifiedButBuildsNoRecordsForADatabase) {
  fixture f("  - {name: slow, qoefilter: latency > 5, sinks: [hook]}\n");
  f.env.durable = false;
  auto fx = f.step(f.polled(1000, {{"a", 7}}));
  EXPECT_TRUE(fx.commit.notified.empty());
  EXPECT_EQ(fx.commit.outbox.size(), 1u);  // printed instead of sent
  EXPECT_TRUE(f.notified.contains("slow", "a"));
  // Nothing new the next time: nothing is said again.
  EXPECT_TRUE(f.step(f.polled(1030, {{"a", 7}})).commit.outbox.empty());
}

namespace {
// A spill in memory, and a budget small enough that most rows of a poll go to it.
struct memory_spill : evaluate::spill {
  std::string bytes;
  void write(std::uint64_t offset, std::string_view b) override {
    if (bytes.size() < offset + b.size()) bytes.resize(offset + b.size());
    bytes.replace(offset, b.size(), b);
  }
  void read(std::uint64_t offset, std::span<char> out) override {
    ASSERT_LE(offset + out.size(), bytes.size());
    std::copy_n(bytes.data() + offset, out.size(), out.data());
  }
};
evaluate::row_log::options tiny_budget() {
  evaluate::row_log::options o;
  o.memory_budget = 1024;
  o.chunk_bytes = 512;
  o.make_spill = [] { return std::make_unique<memory_spill>(); };
  return o;
}
}  // namespace

TEST(Step, BodiesHandedOnOneAtATimeAreTheCommitsRowsInOrder) {
  // A dry run takes each row as it is rendered (env.each_row) from a poll whose rows are
  // mostly spilled: the same rows, ids, bodies and order as a poll collected in memory, for
  // the new sessions (webhook, PagerDuty) and the whole window (Alertmanager), batch by batch.
  const std::string rule = "  - {name: slow, qoefilter: latency > 5, sinks: [hook, am, pd]}\n";
  fixture whole(rule), streamed(rule);
  for (fixture* f : {&whole, &streamed}) {
    for (config::sink_config& s : f->cfg.sinks) s.max_sessions_per_notification = 7;
  }
  std::vector<state::outbox_row> handed;
  streamed.env.each_row = [&](state::outbox_row&& row) { handed.push_back(std::move(row)); };
  std::vector<std::pair<std::string, double>> first, second;
  for (int i = 0; i < 95; ++i) first.emplace_back("s" + std::to_string(i), i % 4 == 0 ? 2 : 6 + i);
  for (int i = 60; i < 130; ++i) second.emplace_back("s" + std::to_string(i), 6 + i % 9);
  for (const auto* sessions : {&first, &second}) {
    evaluate::poll_outcome a = whole.polled(1000, *sessions);
    evaluate::poll_outcome b = streamed.polled(1000, *sessions, false, tiny_budget());
    ASSERT_TRUE(b.acc->offending().spilled());
    auto fa = whole.step(a);
    handed.clear();
    auto fb = streamed.step(b);
    EXPECT_TRUE(fb.commit.outbox.empty());
    EXPECT_EQ(fb.outbox_rows, handed.size());
    EXPECT_EQ(fa.outbox_rows, fa.commit.outbox.size());
    EXPECT_EQ(handed, fa.commit.outbox);
    EXPECT_GT(handed.size(), 20u);
    std::set<std::string> ids;
    for (const state::outbox_row& r : handed) ids.insert(r.id);
    EXPECT_EQ(ids.size(), handed.size());
    EXPECT_EQ(fb.commit.notified, fa.commit.notified);
    EXPECT_EQ(fb.facts.new_sessions, fa.facts.new_sessions);
    EXPECT_EQ(streamed.notified.size(), whole.notified.size());
  }
  EXPECT_EQ(whole.notified.size(), 71u + 44u);  // the second poll: s95-s129 and 9 below before
}
