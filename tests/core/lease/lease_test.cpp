// One lease round as an operator of a replicated qoewatch would notice it: which rules a
// replica keeps, takes and gives up, and when; how the names are spread; how long a renewal
// may be trusted locally. The rounds of whole clusters are in lease_simulation_test.cpp.
#include "lease/lease.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

using namespace qoewatch::lease;
using namespace std::chrono_literals;

namespace {

constexpr db_time now = 1'700'000'000'000;
constexpr std::chrono::milliseconds ttl = 15s;
constexpr std::chrono::milliseconds renew = 5s;
const std::string a = "host-a/101/0a0a0a0a";
const std::string b = "host-b/202/0b0b0b0b";
const std::string c = "host-c/303/0c0c0c0c";

std::vector<wanted_name> rules(const std::vector<std::string>& names) {
  std::vector<wanted_name> out;
  for (const auto& n : names) out.push_back(wanted_name{.kind = kind::rule, .name = n});
  return out;
}

lease_row rule_row(std::string name, std::string owner, std::int64_t epoch, db_time expires_at) {
  return lease_row{.kind = kind::rule,
                   .name = std::move(name),
                   .owner = std::move(owner),
                   .epoch = epoch,
                   .expires_at = expires_at,
                   .declined_by = "",
                   .declined_wants = ""};
}

// A replica up for a minute, with a heartbeat a second ago.
replica_row settled(const std::string& owner) {
  return replica_row{
      .owner = owner, .since = now - 60'000, .heartbeat_at = now - 1000, .wants = ""};
}

round_input round_of(const std::string& me, std::vector<wanted_name> wanted,
                     std::vector<lease_row> leases, std::vector<replica_row> replicas) {
  return round_input{.me = me,
                     .now = now,
                     .ttl = ttl,
                     .renew = renew,
                     .wanted = std::move(wanted),
                     .leases = std::move(leases),
                     .replicas = std::move(replicas)};
}

// A rule name that, alone in play among `owners`, is spread to `owner`.
std::string name_for(const std::string& owner, const std::vector<std::string>& owners) {
  for (int i = 0;; ++i) {
    std::string name = "rule-" + std::to_string(i);
    const std::vector<std::string> one{name};
    if (owners[spread(one, owners)[0]] == owner) return name;
  }
}

std::vector<std::string> names_of(const std::vector<renewal>& v) {
  std::vector<std::string> out;
  for (const auto& x : v) out.push_back(x.name);
  return out;
}

}  // namespace

TEST(LeasePlan, RenewsWhatItHoldsAndStillWants) {
  const auto plan = plan_round(round_of(a, rules({"r1"}), {rule_row("r1", a, 3, now + 9000)}, {}));
  EXPECT_EQ(plan.renewals, (std::vector<renewal>{{.kind = kind::rule, .name = "r1", .epoch = 3}}));
  EXPECT_TRUE(plan.acquisitions.empty());
  EXPECT_TRUE(plan.releases.empty());
  EXPECT_TRUE(plan.new_rows.empty());
}

TEST(LeasePlan, TakesAnExpiredLeaseSpreadToIt) {
  const std::vector<std::string> owners{a, b};
  const std::string mine = name_for(a, owners);
  const std::vector<lease_row> rows{rule_row(mine, b, 7, now - 1)};
  const std::vector<replica_row> replicas{settled(a), settled(b)};

  const auto plan = plan_round(round_of(a, rules({mine}), rows, replicas));
  EXPECT_EQ(plan.acquisitions, (std::vector<acquisition>{{.kind = kind::rule,
                                                          .name = mine,
                                                          .epoch = 7,
                                                          .declined_by = "",
                                                          .declined_wants = ""}}));
  // b wants it too, but it is spread to a, and a renew period has not passed.
  EXPECT_TRUE(plan_round(round_of(b, rules({mine}), rows, replicas)).acquisitions.empty());
  // Expiry is inclusive: at expires_at the lease is free.
  EXPECT_EQ(plan_round(round_of(a, rules({mine}), {rule_row(mine, b, 7, now)}, replicas))
                .acquisitions.size(),
            1u);
  EXPECT_TRUE(plan_round(round_of(a, rules({mine}), {rule_row(mine, b, 7, now + 1)}, replicas))
                  .acquisitions.empty());
}

TEST(LeasePlan, AnyoneWantingItTakesALeaseExpiredForARenewPeriod) {
  const std::vector<std::string> owners{a, b};
  const std::string theirs = name_for(b, owners);
  replica_row b_row = settled(b);
  b_row.wants = "b-config";
  auto plan_at = [&](db_time expired_at) {
    return plan_round(
        round_of(a, rules({theirs}), {rule_row(theirs, c, 4, expired_at)}, {settled(a), b_row}));
  };
  EXPECT_TRUE(plan_at(now - renew.count() + 1).acquisitions.empty());
  // b ran a round (heartbeat now - 1 s) after the lease expired and left it: it does not
  // want it, and the row says so.
  EXPECT_EQ(plan_at(now - renew.count()).acquisitions,
            (std::vector<acquisition>{{.kind = kind::rule,
                                       .name = theirs,
                                       .epoch = 4,
                                       .declined_by = b,
                                       .declined_wants = "b-config"}}));
  // b has not run a round since: it may be slow, not unwilling, so nothing is noted.
  b_row.heartbeat_at = now - 8000;
  const auto slow = plan_at(now - 6000).acquisitions;
  ASSERT_EQ(slow.size(), 1u);
  EXPECT_EQ(slow[0].declined_by, "");
  EXPECT_EQ(slow[0].declined_wants, "");
}

TEST(LeasePlan, LeavesALeaseHeldByAnotherAloneEvenWhenItIsSpreadToMe) {
  const std::string mine = name_for(a, {a, b});
  const auto plan = plan_round(
      round_of(a, rules({mine}), {rule_row(mine, b, 2, now + 1)}, {settled(a), settled(b)}));
  EXPECT_EQ(plan, (round_plan{.heartbeat = plan.heartbeat,
                              .new_rows = {},
                              .renewals = {},
                              .acquisitions = {},
                              .releases = {}}));
}

TEST(LeasePlan, AWantedNameWithoutARowIsCreatedAndTakenByItsReplicaOnly) {
  const std::vector<std::string> owners{a, b};
  const std::string mine = name_for(a, owners);
  const std::string theirs = name_for(b, owners);
  const auto plan = plan_round(round_of(a, rules({mine, theirs}), {}, {settled(a), settled(b)}));
  auto expected_rows = rules({mine, theirs});
  std::sort(expected_rows.begin(), expected_rows.end(),
            [](const wanted_name& x, const wanted_name& y) { return x.name < y.name; });
  EXPECT_EQ(plan.new_rows, expected_rows);
  EXPECT_EQ(plan.acquisitions, (std::vector<acquisition>{{.kind = kind::rule,
                                                          .name = mine,
                                                          .epoch = 0,
                                                          .declined_by = "",
                                                          .declined_wants = ""}}));
}

TEST(LeasePlan, AReplicaSilentForATtlIsNoLongerLive) {
  const std::string theirs = name_for(b, {a, b});
  auto plan_with_b_heard = [&](db_time heartbeat_at) {
    replica_row b_row = settled(b);
    b_row.heartbeat_at = heartbeat_at;
    return plan_round(
        round_of(a, rules({theirs}), {rule_row(theirs, b, 1, now - 1)}, {settled(a), b_row}));
  };
  EXPECT_TRUE(plan_with_b_heard(now - ttl.count() + 1).acquisitions.empty());
  // b is gone: the name is spread over a alone, which takes it at once.
  EXPECT_EQ(plan_with_b_heard(now - ttl.count()).acquisitions.size(), 1u);
}

TEST(LeasePlan, MyLapsedLeaseIsAcquiredAgainUnderANewEpoch) {
  const auto plan = plan_round(round_of(a, rules({"r1"}), {rule_row("r1", a, 5, now - 1)}, {}));
  EXPECT_TRUE(plan.renewals.empty());
  ASSERT_EQ(plan.acquisitions.size(), 1u);
  EXPECT_EQ(plan.acquisitions[0].epoch, 5);  // the UPDATE sets 6: old commits are fenced out
}

TEST(LeasePlan, HandsALeaseOverOnlyToAReplicaLiveForATtl) {
  const std::string theirs = name_for(b, {a, b});
  auto plan_with_b_since = [&](db_time since) {
    replica_row b_row = settled(b);
    b_row.since = since;
    return plan_round(
        round_of(a, rules({theirs}), {rule_row(theirs, a, 3, now + 9000)}, {settled(a), b_row}));
  };
  const auto young = plan_with_b_since(now - ttl.count() + 1);
  EXPECT_EQ(names_of(young.renewals), std::vector<std::string>{theirs});
  EXPECT_TRUE(young.releases.empty());

  const auto grown = plan_with_b_since(now - ttl.count());
  EXPECT_TRUE(grown.renewals.empty());
  EXPECT_EQ(
      grown.releases,
      (std::vector<release>{
          {.kind = kind::rule, .name = theirs, .epoch = 3, .why = release::reason::rebalanced}}));
}

TEST(LeasePlan, DoesNotHandANameBackToAReplicaThatDeclinedItUnderTheSameConfig) {
  const std::string theirs = name_for(b, {a, b});
  replica_row b_row = settled(b);
  b_row.wants = "v1";
  lease_row row = rule_row(theirs, a, 3, now + 9000);
  row.declined_by = b;
  row.declined_wants = "v1";
  auto plan = [&] { return plan_round(round_of(a, rules({theirs}), {row}, {settled(a), b_row})); };
  EXPECT_EQ(names_of(plan().renewals), std::vector<std::string>{theirs});
  // b reloaded: it may want the name now, so it is offered again (once per config).
  b_row.wants = "v2";
  EXPECT_EQ(plan().releases.size(), 1u);
  // A declined mark for another replica does not hold the name back from b.
  b_row.wants = "v1";
  row.declined_by = c;
  EXPECT_EQ(plan().releases.size(), 1u);
}

TEST(LeasePlan, HandsOverAtMostATenthOfWhatItHoldsPerRound) {
  // a holds every name; with b live, about half are spread to b.
  auto plan_holding = [&](int count) {
    std::vector<std::string> names;
    std::vector<lease_row> rows;
    for (int i = 0; i < count; ++i) {
      names.push_back("rule-" + std::to_string(i));
      rows.push_back(rule_row(names.back(), a, 1, now + 9000));
    }
    return plan_round(round_of(a, rules(names), rows, {settled(a), settled(b)}));
  };
  const auto fifty = plan_holding(50);
  EXPECT_EQ(fifty.releases.size(), 5u);
  EXPECT_EQ(fifty.renewals.size(), 45u);
  const auto nine = plan_holding(9);  // a tenth rounds down to none, but one always goes
  EXPECT_EQ(nine.releases.size(), 1u);
  EXPECT_EQ(nine.renewals.size(), 8u);
}

TEST(LeasePlan, ReleasesWhatItNoLongerWantsAtOnceWithoutACap) {
  std::vector<lease_row> rows;
  for (int i = 0; i < 30; ++i) rows.push_back(rule_row("old-" + std::to_string(i), a, 2, now + 1));
  rows.push_back(rule_row("kept", a, 2, now + 1));
  const auto plan = plan_round(round_of(a, rules({"kept"}), rows, {settled(a), settled(b)}));
  ASSERT_EQ(plan.releases.size(), 30u);
  for (const auto& r : plan.releases) EXPECT_EQ(r.why, release::reason::unwanted) << r.name;
  EXPECT_EQ(names_of(plan.renewals), std::vector<std::string>{"kept"});
}

TEST(LeasePlan, NeverTakesANameItDoesNotWant) {
  const auto plan = plan_round(
      round_of(a, rules({}), {rule_row("r1", "", 0, now - 600'000), rule_row("r2", b, 1, now - 1)},
               {settled(a)}));
  EXPECT_TRUE(plan.acquisitions.empty());
  EXPECT_TRUE(plan.new_rows.empty());
}

TEST(LeasePlan, HeartbeatKeepsItsSinceOnlyThroughAnUnbrokenRun) {
  auto since_after = [&](std::vector<replica_row> replicas) {
    return plan_round(round_of(a, rules({"r1"}), {}, std::move(replicas))).heartbeat.since;
  };
  EXPECT_EQ(since_after({}), now);  // first round
  EXPECT_EQ(
      since_after({replica_row{
          .owner = a, .since = now - 90'000, .heartbeat_at = now - ttl.count() + 1, .wants = ""}}),
      now - 90'000);
  // Paused (or cut off) for a ttl: its leases have lapsed, it starts over as a newcomer.
  EXPECT_EQ(
      since_after({replica_row{
          .owner = a, .since = now - 90'000, .heartbeat_at = now - ttl.count(), .wants = ""}}),
      now);
  const auto beat = plan_round(round_of(a, rules({"r1"}), {}, {})).heartbeat;
  EXPECT_EQ(
      beat,
      (replica_row{
          .owner = a, .since = now, .heartbeat_at = now, .wants = wants_digest(rules({"r1"}))}));
}

TEST(LeasePlan, ThePlanDoesNotDependOnTheOrderOfRows) {
  // Every state at once: held, lapsed, others', missing, unwanted, declined.
  std::vector<wanted_name> wanted;
  std::vector<lease_row> rows;
  for (int i = 0; i < 60; ++i) {
    const std::string name = "rule-" + std::to_string(i);
    if (i % 7 != 0) wanted.push_back(wanted_name{.kind = kind::rule, .name = name});
    const std::string& owner = i % 3 == 0 ? a : i % 3 == 1 ? b : c;
    if (i % 5 == 4) continue;  // no row yet
    rows.push_back(rule_row(name, owner, i, i % 4 == 0 ? now - 700 * i : now + 100 * i));
    if (i % 11 == 0) rows.back().declined_by = b;
  }
  wanted.push_back(wanted_name{.kind = kind::sink, .name = "pager"});
  std::vector<replica_row> replicas{settled(a), settled(b), settled(c)};
  replicas[2].since = now - 2000;

  const auto plan = plan_round(round_of(a, wanted, rows, replicas));
  EXPECT_FALSE(plan.renewals.empty());
  EXPECT_FALSE(plan.acquisitions.empty());
  EXPECT_FALSE(plan.releases.empty());
  EXPECT_FALSE(plan.new_rows.empty());
  std::reverse(wanted.begin(), wanted.end());
  std::reverse(rows.begin(), rows.end());
  std::rotate(replicas.begin(), replicas.begin() + 1, replicas.end());
  wanted.push_back(wanted[3]);  // a duplicate in the config changes nothing either
  EXPECT_EQ(plan_round(round_of(a, wanted, rows, replicas)), plan);
}

TEST(LeasePlan, RulesAndSinksAreSpreadSeparately) {
  // Three sinks over three replicas: one each, whatever the rules do.
  const std::vector<wanted_name> wanted{{.kind = kind::sink, .name = "pager"},
                                        {.kind = kind::sink, .name = "slack"},
                                        {.kind = kind::sink, .name = "webhook"},
                                        {.kind = kind::rule, .name = "pager"}};
  std::size_t sinks_taken = 0;
  for (const auto& me : {a, b, c}) {
    const auto plan = plan_round(round_of(me, wanted, {}, {settled(a), settled(b), settled(c)}));
    for (const auto& x : plan.acquisitions) sinks_taken += x.kind == kind::sink ? 1 : 0;
    EXPECT_EQ(std::count_if(plan.acquisitions.begin(), plan.acquisitions.end(),
                            [](const acquisition& x) { return x.kind == kind::sink; }),
              1)
        << me;
  }
  EXPECT_EQ(sinks_taken, 3u);
  // A rule row named like a sink does not stand for the sink.
  const auto plan = plan_round(round_of(a, wanted, {rule_row("pager", a, 1, now + 1)}, {}));
  EXPECT_EQ(plan.new_rows.size(), 3u);
  EXPECT_EQ(names_of(plan.renewals), std::vector<std::string>{"pager"});
}

TEST(LeaseSpread, SharesDifferByAtMostOne) {
  std::vector<std::string> names;
  for (int i = 0; i < 1000; ++i) names.push_back("rule-" + std::to_string(i));
  const std::vector<std::string> owners{a, b, c};
  std::vector<int> share(3, 0);
  for (std::size_t o : spread(names, owners)) ++share[o];
  EXPECT_EQ(*std::max_element(share.begin(), share.end()), 334);
  EXPECT_EQ(*std::min_element(share.begin(), share.end()), 333);
}

TEST(LeaseSpread, AReplicaLeavingOrJoiningMovesLittleMoreThanItsShare) {
  std::vector<std::string> names;
  for (int i = 0; i < 300; ++i) names.push_back("rule-" + std::to_string(i));
  const std::vector<std::string> three{a, b, c};
  const std::vector<std::string> two{a, b};
  const std::vector<std::string> four{a, b, c, "host-d/404/0d0d0d0d"};
  const auto with_three = spread(names, three);
  const auto with_two = spread(names, two);
  const auto with_four = spread(names, four);
  int moved_on_leave = 0;
  int moved_on_join = 0;
  for (std::size_t i = 0; i < names.size(); ++i) {
    // Names of a and b that changed hands although their holder stayed.
    if (with_three[i] != 2 && with_two[i] != with_three[i]) ++moved_on_leave;
    // Names that moved between the old three instead of to the newcomer.
    if (with_four[i] != 3 && with_four[i] != with_three[i]) ++moved_on_join;
  }
  EXPECT_LE(moved_on_leave, 9);  // 3% of the names
  EXPECT_LE(moved_on_join, 9);
}

TEST(LeaseSpread, TiesGoToTheSmallerOwnerWhateverTheInputOrder) {
  auto all_equal = [](std::string_view, std::string_view) { return std::uint64_t{42}; };
  std::vector<std::string> names;
  for (int i = 0; i < 7; ++i) names.push_back("rule-" + std::to_string(i));
  std::vector<std::string> owners{c, a, b};
  auto shares = [&] {
    std::vector<int> out(3, 0);  // a, b, c
    const auto to = spread(names, owners, all_equal);
    for (std::size_t i = 0; i < names.size(); ++i)
      ++out[owners[to[i]] == a ? 0 : owners[to[i]] == b ? 1 : 2];
    return out;
  };
  // Shares of 7 over 3 are 2 each and one more for the first to fill: a fills first (3),
  // then b and c (2 each).
  EXPECT_EQ(shares(), (std::vector<int>{3, 2, 2}));
  std::reverse(owners.begin(), owners.end());
  std::reverse(names.begin(), names.end());
  EXPECT_EQ(shares(), (std::vector<int>{3, 2, 2}));
  // Which names b gets does not depend on the order either.
  const auto first = spread(names, owners);
  std::vector<std::string> names_reversed(names.rbegin(), names.rend());
  const auto second = spread(names_reversed, owners);
  for (std::size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(first[i], second[names.size() - 1 - i]) << names[i];
  }
}

TEST(LeaseDigest, IsTheSetOfNamesNotTheirOrder) {
  const std::vector<wanted_name> one{{.kind = kind::rule, .name = "x"},
                                     {.kind = kind::sink, .name = "pager"}};
  const std::vector<wanted_name> same{{.kind = kind::sink, .name = "pager"},
                                      {.kind = kind::rule, .name = "x"},
                                      {.kind = kind::rule, .name = "x"}};
  const std::vector<wanted_name> other_kind{{.kind = kind::sink, .name = "x"},
                                            {.kind = kind::sink, .name = "pager"}};
  const std::vector<wanted_name> more{{.kind = kind::rule, .name = "x"},
                                      {.kind = kind::sink, .name = "pager"},
                                      {.kind = kind::rule, .name = "y"}};
  EXPECT_EQ(wants_digest(one), wants_digest(same));
  EXPECT_NE(wants_digest(one), wants_digest(other_kind));
  EXPECT_NE(wants_digest(one), wants_digest(more));
  EXPECT_EQ(wants_digest(one).size(), 16u);
}

TEST(LeaseDeadline, IsTheSendTimePlusTtlMinusTheMargin) {
  const std::chrono::steady_clock::time_point sent{std::chrono::seconds(1000)};
  EXPECT_EQ(held_until(sent, 15s, 2s), sent + 13s);
  EXPECT_EQ(held_until(sent, 15s, 0s), sent + 15s);
  EXPECT_EQ(held_until(sent, 15s, 15s), sent);
  EXPECT_EQ(held_until(sent, 15s, 20s), sent);
  EXPECT_EQ(held_until(sent, 15s, -5s), sent + 15s);  // never beyond the database's expiry
  EXPECT_TRUE(held(sent, 15s, 2s, sent + 13s - 1ms));
  EXPECT_FALSE(held(sent, 15s, 2s, sent + 13s));
}

TEST(LeaseKind, ReadsAndWritesTheKindColumn) {
  EXPECT_EQ(to_string(kind::rule), "rule");
  EXPECT_EQ(to_string(kind::sink), "sink");
  EXPECT_EQ(parse_kind("rule"), kind::rule);
  EXPECT_EQ(parse_kind("sink"), kind::sink);
  EXPECT_EQ(parse_kind("Rule"), std::nullopt);
  EXPECT_EQ(parse_kind(""), std::nullopt);
}
