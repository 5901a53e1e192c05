// Whole clusters of replicas running lease rounds against one in-memory table (cluster.hpp),
// with the failures the issue names: a replica killed, paused, joining, stopped, configured
// differently from the others, or racing another for the same rows. Simulated time: 300
// simulated seconds take milliseconds.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "cluster.hpp"

using namespace lease_sim;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> owners{"host-a/4101/3f9a1c07", "host-b/977/b26e0d44",
                                      "host-c/31337/0c5e7a91", "host-d/12/e4d2f680"};
// Rounds of different replicas do not line up: each has its own phase within `renew`.
constexpr db_time phase[] = {0, 1700, 3300, 900};

cluster with_replicas(int count, const std::vector<wanted_name>& wanted) {
  cluster c;
  for (int i = 0; i < count; ++i) c.join(owners[i], wanted, start + phase[i]);
  return c;
}

std::size_t total(const std::vector<std::size_t>& v) {
  return std::accumulate(v.begin(), v.end(), std::size_t{0});
}

// The name with `prefix` that, among 300 rules and itself, is spread to `owner` of `among`.
std::string extra_name_for(const std::string& owner, std::vector<std::string> among,
                           const std::string& prefix) {
  std::sort(among.begin(), among.end());
  for (int i = 0;; ++i) {
    std::vector<std::string> names;
    for (const auto& w : rules(300)) names.push_back(w.name);
    names.push_back(prefix + std::to_string(i));
    std::sort(names.begin(), names.end());
    const auto to = spread(names, among);
    const auto at = std::find(names.begin(), names.end(), prefix + std::to_string(i));
    if (among[to[static_cast<std::size_t>(at - names.begin())]] == owner) return *at;
  }
}

}  // namespace

TEST(LeaseSimulation, ThreeReplicasShare300RulesEvenly) {
  cluster c = with_replicas(3, rules(300));
  // Settled: everything owned and the shares even, from then on.
  db_time settled = 0;
  bool even_now = false;
  while (c.step(start + 300'000)) {
    const auto shares = c.owned_rules(c.now);
    const bool even =
        c.unowned(c.now) == 0 && std::all_of(shares.begin(), shares.end(),
                                             [](std::size_t s) { return s >= 85 && s <= 115; });
    if (even && !even_now) settled = c.now;
    even_now = even;
  }
  EXPECT_TRUE(even_now);
  const auto shares = c.owned_rules(c.now);
  for (std::size_t s : shares) EXPECT_NEAR(static_cast<double>(s), 100.0, 15.0);
  EXPECT_EQ(total(shares), 300u);
  EXPECT_NE(settled, 0);
  EXPECT_LE(settled - start, 120'000) << "a cold start of three settles within two minutes";
  EXPECT_EQ(c.acquisitions_since(start + 200'000), 0u) << "settled leases stay put";
  EXPECT_EQ(c.double_holds, 0u);
  EXPECT_EQ(c.beliefs_beyond_lease, 0u);
  EXPECT_EQ(c.cap_overruns, 0u);
  RecordProperty("shares", ::testing::PrintToString(shares));
  RecordProperty("settled_after_ms", std::to_string(settled - start));
}

TEST(LeaseSimulation, ThousandRulesOverThreeReplicasSettleWithin15PercentImbalance) {
  cluster c = with_replicas(3, rules(1000));
  c.run_until(start + 200'000);
  const auto shares = c.owned_rules(c.now);
  const auto [least, most] = std::minmax_element(shares.begin(), shares.end());
  EXPECT_EQ(total(shares), 1000u);
  EXPECT_LE(static_cast<double>(*most - *least), 0.15 * 1000.0 / 3.0)
      << ::testing::PrintToString(shares);
  EXPECT_EQ(c.acquisitions_since(start + 150'000), 0u);
  EXPECT_EQ(c.double_holds, 0u);
  EXPECT_EQ(c.beliefs_beyond_lease, 0u);
  EXPECT_EQ(c.cap_overruns, 0u);
  RecordProperty("shares", ::testing::PrintToString(shares));
}

TEST(LeaseSimulation, OneReplicaOwnsEverythingFromItsFirstRoundOn) {
  auto wanted = rules(300);
  wanted.push_back(wanted_name{.kind = kind::sink, .name = "pager"});
  wanted.push_back(wanted_name{.kind = kind::sink, .name = "slack"});
  cluster c = with_replicas(1, wanted);
  while (c.step(start + 100'000)) {
    EXPECT_EQ(c.unowned(c.now), 0u);
    EXPECT_EQ(c.owned(owners[0], kind::sink, c.now), 2u);
  }
  EXPECT_EQ(c.owned(owners[0], kind::rule, c.now), 300u);
  // Renewed all along, never lost and taken again.
  for (const auto& [key, row] : c.leases) EXPECT_EQ(row.epoch, 1) << key.name;
}

TEST(LeaseSimulation, AKilledReplicasRulesAreTakenOverWithinTtlPlusRenew) {
  auto wanted = rules(300);
  for (const char* sink : {"pager", "slack", "webhook"}) {
    wanted.push_back(wanted_name{.kind = kind::sink, .name = sink});
  }
  cluster c = with_replicas(3, wanted);
  c.run_until(start + 300'000);
  for (std::size_t r = 0; r < 3; ++r) EXPECT_EQ(c.owned(owners[r], kind::sink, c.now), 1u);

  // SIGKILL right after a round: its leases have the longest to run.
  while (c.step(start + 400'000) && c.rounds.back().replica != 2) {
  }
  const db_time killed = c.now;
  std::vector<name_key> its;
  for (const auto& [key, row] : c.leases) {
    if (row.owner == owners[2] && killed < row.expires_at) its.push_back(key);
  }
  ASSERT_EQ(its.size(), 101u);  // 100 rules and a sink
  c.replicas[2].dead = true;

  db_time taken_over = 0;
  std::size_t rounds = 0;
  while (taken_over == 0 && c.step(killed + 60'000)) {
    ++rounds;
    const bool all = std::all_of(its.begin(), its.end(), [&](const name_key& k) {
      const lease_row& row = c.leases.at(k);
      return row.owner != owners[2] && c.now < row.expires_at;
    });
    if (all) taken_over = c.now;
  }
  ASSERT_NE(taken_over, 0);
  EXPECT_LE(taken_over - killed, (c.ttl + c.renew).count());
  c.run_until(c.now + 120'000);
  EXPECT_EQ(c.owned_rules(c.now), (std::vector<std::size_t>{150, 150, 0}));
  EXPECT_EQ(c.unowned(c.now), 0u);
  EXPECT_EQ(c.double_holds, 0u);
  EXPECT_EQ(c.beliefs_beyond_lease, 0u);
  RecordProperty("takeover_ms", std::to_string(taken_over - killed));
  RecordProperty("takeover_rounds", std::to_string(rounds));
}

TEST(LeaseSimulation, AJoiningReplicaGetsItsShareAFewRulesPerRound) {
  cluster c = with_replicas(2, rules(300));
  c.run_until(start + 300'000);
  ASSERT_EQ(c.owned_rules(c.now), (std::vector<std::size_t>{150, 150}));

  const db_time joined = c.now + 1;
  c.join(owners[2], rules(300), joined);
  db_time got_share = 0;
  while (got_share == 0 && c.step(joined + 120'000)) {
    const std::size_t its = c.owned(owners[2], kind::rule, c.now);
    // Nothing is handed to it before it has stayed up for a ttl: a replica crashing in a
    // loop must not pull rules away from the others.
    if (c.now < joined + c.ttl.count()) {
      EXPECT_EQ(its, 0u) << c.now - joined;
    }
    if (its == 100) got_share = c.now;
  }
  ASSERT_NE(got_share, 0);
  // A newcomer is trusted after a ttl; then 15, 13, 12, 11 of 150 per round go to it.
  EXPECT_LE(got_share - joined, (c.ttl + 6 * c.renew).count());
  EXPECT_EQ(c.most_handed_over(joined), 15u);
  EXPECT_EQ(c.cap_overruns, 0u);
  c.run_until(c.now + 60'000);
  EXPECT_EQ(c.owned_rules(c.now), (std::vector<std::size_t>{100, 100, 100}));
  EXPECT_EQ(c.double_holds, 0u);
  EXPECT_EQ(c.beliefs_beyond_lease, 0u);
  RecordProperty("share_after_ms", std::to_string(got_share - joined));
}

TEST(LeaseSimulation, APausedOwnerFindsItsEpochsSupersededAndCommitsNothing) {
  cluster c = with_replicas(3, rules(300));
  c.run_until(start + 300'000);
  while (c.step(start + 400'000) && c.rounds.back().replica != 0) {
  }
  // SIGSTOP right after a round, for 3 x ttl.
  const db_time paused = c.now;
  const auto held_before = c.replicas[0].held;
  const round_plan plan_before = c.replicas[0].last_plan;
  ASSERT_EQ(held_before.size(), 100u);
  ASSERT_EQ(plan_before.renewals.size(), 100u);
  c.replicas[0].paused_until = paused + 3 * c.ttl.count();
  c.run_until(c.replicas[0].paused_until - 1);

  const db_time resumed = c.replicas[0].next_round;
  c.run_until(resumed - 1);
  // Its own deadline passed long ago, and the database would refuse its commits anyway.
  EXPECT_FALSE(held(cluster::steady(paused), c.ttl, c.margin, cluster::steady(resumed)));
  for (const auto& [key, holding] : held_before) {
    const lease_row& row = c.leases.at(key);
    EXPECT_NE(row.owner, owners[0]) << key.name;
    EXPECT_GT(row.epoch, holding.epoch) << key.name;
    EXPECT_FALSE(c.fence(owners[0], key, holding.epoch, resumed)) << key.name;
  }
  EXPECT_EQ(c.owned(owners[0], kind::rule, resumed), 0u);

  // The transaction it was in the middle of goes through late: nothing of it holds.
  const auto leases_before = c.leases.size();
  std::map<name_key, std::int64_t> epochs;
  for (const auto& [key, row] : c.leases) epochs[key] = row.epoch;
  EXPECT_EQ(c.apply(0, plan_before, resumed), 0u);
  EXPECT_EQ(c.leases.size(), leases_before);
  for (const auto& [key, row] : c.leases) EXPECT_EQ(row.epoch, epochs[key]) << key.name;
  EXPECT_TRUE(c.replicas[0].held.empty());

  // Its next round sees it as a newcomer: nothing to renew, nothing handed to it for a ttl.
  const round_plan fresh = c.plan(0, resumed);
  EXPECT_TRUE(fresh.renewals.empty());
  EXPECT_TRUE(fresh.acquisitions.empty());
  EXPECT_EQ(fresh.heartbeat.since, resumed);
  c.run_until(resumed + 120'000);
  EXPECT_EQ(c.owned_rules(c.now), (std::vector<std::size_t>{100, 100, 100}));
  EXPECT_EQ(c.double_holds, 0u);
  EXPECT_EQ(c.beliefs_beyond_lease, 0u);
}

TEST(LeaseSimulation, ANameOnlyOneReplicaWantsStaysOwnedAndDoesNotBounce) {
  // Spread to b, which does not want it: handed to b once at most, then kept by a.
  const std::string solo = extra_name_for(owners[1], {owners[0], owners[1], owners[2]}, "solo-");
  auto a_wants = rules(300);
  a_wants.push_back(wanted_name{.kind = kind::rule, .name = solo});
  cluster c;
  c.join(owners[0], a_wants, start + phase[0]);
  c.join(owners[1], rules(300), start + phase[1]);
  c.join(owners[2], rules(300), start + phase[2]);

  const name_key key{kind::rule, solo};
  db_time unowned_since = 0;
  db_time longest_gap = 0;
  std::size_t times_released = 0;
  while (c.step(start + 600'000)) {
    const auto& plan = c.replicas[c.rounds.back().replica].last_plan;
    for (const auto& x : plan.releases) times_released += x.name == solo ? 1 : 0;
    const lease_row& row = c.leases.at(key);
    if (c.now < row.expires_at) {
      unowned_since = 0;
    } else if (unowned_since == 0) {
      unowned_since = row.expires_at;
    } else {
      longest_gap = std::max(longest_gap, c.now - unowned_since);
    }
  }
  const lease_row& row = c.leases.at(key);
  EXPECT_EQ(row.owner, owners[0]);
  EXPECT_LT(c.now, row.expires_at);
  EXPECT_LE(times_released, 1u);
  // A renew period for b to take it, then a's next round.
  EXPECT_LE(longest_gap, 2 * c.renew.count());
  EXPECT_LE(row.epoch, 2);
  // 301 names in play: b's share counts the one it declined.
  const auto shares = c.owned_rules(c.now);
  EXPECT_EQ(total(shares), 301u);
  for (std::size_t s : shares) EXPECT_NEAR(static_cast<double>(s), 100.0, 2.0);
  EXPECT_EQ(c.double_holds, 0u);
  EXPECT_EQ(c.beliefs_beyond_lease, 0u);
  RecordProperty("solo_epoch", std::to_string(row.epoch));
}

TEST(LeaseSimulation, AReloadThatGivesTheNameToItsReplicaHandsItOver) {
  const std::string shared = extra_name_for(owners[1], {owners[0], owners[1], owners[2]}, "new-");
  auto with_it = rules(300);
  with_it.push_back(wanted_name{.kind = kind::rule, .name = shared});
  cluster c;
  c.join(owners[0], with_it, start + phase[0]);
  c.join(owners[1], rules(300), start + phase[1]);
  c.join(owners[2], with_it, start + phase[2]);
  c.run_until(start + 300'000);
  const name_key key{kind::rule, shared};
  ASSERT_NE(c.leases.at(key).owner, owners[1]);
  ASSERT_EQ(c.leases.at(key).declined_by, owners[1]);

  // b reloads a config that has it: b's `wants` changes, so the holder offers it once more.
  c.replicas[1].wanted = with_it;
  const db_time reloaded = c.now;
  c.run_until(reloaded + 4 * c.renew.count());
  EXPECT_EQ(c.leases.at(key).owner, owners[1]);
  const auto epoch = c.leases.at(key).epoch;
  c.run_until(reloaded + 300'000);
  EXPECT_EQ(c.leases.at(key).owner, owners[1]);
  EXPECT_EQ(c.leases.at(key).epoch, epoch);
  EXPECT_EQ(c.double_holds, 0u);
  EXPECT_EQ(c.beliefs_beyond_lease, 0u);
}

TEST(LeaseSimulation, RacingRoundsGiveEachNameOneOwner) {
  // Three replicas start together on an empty table: each plans alone against the same
  // snapshot and believes it should take everything. The conditional UPDATEs decide.
  cluster c = with_replicas(3, rules(300));
  std::vector<round_plan> plans;
  for (std::size_t r = 0; r < 3; ++r) plans.push_back(c.plan(r, start));
  for (std::size_t r = 0; r < 3; ++r) EXPECT_EQ(plans[r].acquisitions.size(), 300u);
  for (std::size_t r : {2u, 1u, 0u}) c.apply(r, plans[r], start);
  EXPECT_EQ(c.owned_rules(start), (std::vector<std::size_t>{0, 0, 300}));
  for (const auto& [key, row] : c.leases) EXPECT_EQ(row.epoch, 1) << key.name;
  EXPECT_EQ(c.double_holds, 0u);
  EXPECT_EQ(c.beliefs_beyond_lease, 0u);

  for (std::size_t r = 0; r < 3; ++r) c.replicas[r].next_round = start + 5000 + phase[r];
  c.run_until(start + 300'000);
  EXPECT_EQ(c.owned_rules(c.now), (std::vector<std::size_t>{100, 100, 100}));
  EXPECT_EQ(c.double_holds, 0u);
  EXPECT_EQ(c.beliefs_beyond_lease, 0u);
  EXPECT_EQ(c.cap_overruns, 0u);
}

TEST(LeaseSimulation, AGracefulStopHandsOverWithinOneRenewPeriod) {
  cluster c = with_replicas(3, rules(300));
  c.run_until(start + 300'000);
  // Stopping: one last round that wants nothing (everything released), and its replica row
  // deleted, so the others spread its names among themselves at once.
  const db_time stopped = c.now + 1;
  round_input in = c.input_for(2, stopped);
  in.wanted.clear();
  const round_plan last = plan_round(in);
  ASSERT_EQ(last.releases.size(), 100u);
  c.apply(2, last, stopped);
  c.replicas[2].dead = true;
  c.replicas_table.erase(owners[2]);
  c.run_until(stopped + c.renew.count());
  for (const auto& x : last.releases) {
    const lease_row& row = c.leases.at(name_key{x.kind, x.name});
    EXPECT_NE(row.owner, owners[2]) << x.name;
    EXPECT_LT(c.now, row.expires_at) << x.name;
  }
  c.run_until(stopped + 60'000);
  EXPECT_EQ(c.owned_rules(c.now), (std::vector<std::size_t>{150, 150, 0}));
  EXPECT_EQ(c.double_holds, 0u);
  EXPECT_EQ(c.beliefs_beyond_lease, 0u);
}

TEST(LeaseSimulation, RulesDroppedFromEveryConfigAreReleasedAndLeaveTheShares) {
  cluster c = with_replicas(3, rules(300));
  c.run_until(start + 300'000);
  // A reload everywhere drops 60 rules: their holders let them go at once, and what is left
  // is spread as if they had never been.
  const auto all = rules(300);
  const std::vector<wanted_name> kept(all.begin() + 60, all.end());
  for (auto& r : c.replicas) r.wanted = kept;
  const db_time reloaded = c.now;
  c.run_until(reloaded + c.renew.count());
  for (int i = 0; i < 60; ++i) {
    const lease_row& row = c.leases.at(name_key{kind::rule, "rule-" + std::to_string(i)});
    EXPECT_LE(row.expires_at, c.now) << row.name;
  }
  c.run_until(reloaded + 120'000);
  EXPECT_EQ(c.owned_rules(c.now), (std::vector<std::size_t>{80, 80, 80}));
  EXPECT_EQ(c.unowned(c.now), 0u);
  EXPECT_EQ(c.double_holds, 0u);
  EXPECT_EQ(c.beliefs_beyond_lease, 0u);
}

TEST(LeaseSimulation, RulesAddedBackAfterALongAbsenceGoToTheirOwnReplicas) {
  cluster c = with_replicas(3, rules(300));
  c.run_until(start + 300'000);
  const auto all = rules(300);
  const std::vector<wanted_name> kept(all.begin() + 60, all.end());
  for (auto& r : c.replicas) r.wanted = kept;
  c.run_until(start + 600'000);
  // A rolling reload brings them back, a replica every 20 s. The first to reload takes the
  // others' names as declined (they run rounds without taking them), but each reload changes
  // that replica's `wants`, so its names are offered to it again and it takes them.
  for (std::size_t r = 0; r < 3; ++r) {
    c.replicas[r].wanted = all;
    c.run_until(c.now + 20'000);
  }
  c.run_until(start + 900'000);
  EXPECT_EQ(c.owned_rules(c.now), (std::vector<std::size_t>{100, 100, 100}));
  for (int i = 0; i < 60; ++i) {
    const lease_row& row = c.leases.at(name_key{kind::rule, "rule-" + std::to_string(i)});
    EXPECT_EQ(row.declined_by, "") << row.name;
  }
  EXPECT_EQ(c.double_holds, 0u);
  EXPECT_EQ(c.beliefs_beyond_lease, 0u);
}
