// A rule's incident as on-call sees it: it fires on the first window with min_sessions
// offending sessions, keeps one key while it lasts, resolves only after resolve_after
// consecutive successful polls below the threshold, and a comeback resets that count.
#include "incident/incident.hpp"

#include <gtest/gtest.h>


using namespace qoewatch;

namespace {

config::rule_config rule(int min_sessions, int resolve_after) {
  config::rule_config r;
  r.name = "slow-start";
  r.min_sessions = min_sessions;
  r.resolve_after = resolve_after;
  return r;
}

}  // namespace

TEST(Incident, QuietRuleStaysQuiet) {
  incident::step_result r = incident::step(rule(1, 2), {}, 0, 100);
  EXPECT_EQ(r.change, incident::transition::none);
  EXPECT_FALSE(r.next.firing);
}

TEST(Incident, FiresAtMinSessionsWithAStableKey) {
  config::rule_config rl = rule(3, 2);
  incident::step_result below = incident::step(rl, {}, 2, 100);
  EXPECT_EQ(below.change, incident::transition::none);
  incident::step_result fired = incident::step(rl, below.next, 3, 160.7);
  EXPECT_EQ(fired.change, incident::transition::fired);
  EXPECT_TRUE(fired.next.firing);
  EXPECT_EQ(fired.next.key, "slow-start/160");
  EXPECT_DOUBLE_EQ(fired.next.started_at, 160.7);
  incident::step_result still = incident::step(rl, fired.next, 50, 220);
  EXPECT_EQ(still.change, incident::transition::none);
  EXPECT_EQ(still.next.key, "slow-start/160");
}

TEST(Incident, ResolvesOnlyAfterConsecutivePollsBelow) {
  config::rule_config rl = rule(1, 3);
  incident::state s = incident::step(rl, {}, 4, 0).next;
  s = incident::step(rl, s, 0, 60).next;
  s = incident::step(rl, s, 0, 120).next;
  EXPECT_TRUE(s.firing);
  EXPECT_EQ(s.polls_below, 2);
  // A window above the threshold again resets the count: two quiet polls are not enough.
  s = incident::step(rl, s, 1, 180).next;
  EXPECT_EQ(s.polls_below, 0);
  s = incident::step(rl, s, 0, 240).next;
  s = incident::step(rl, s, 0, 300).next;
  incident::step_result last = incident::step(rl, s, 0, 360);
  EXPECT_EQ(last.change, incident::transition::resolved);
  EXPECT_FALSE(last.next.firing);
  EXPECT_TRUE(last.next.key.empty());
}

TEST(Incident, ANewIncidentAfterAResolveGetsANewKey) {
  config::rule_config rl = rule(1, 1);
  incident::state s = incident::step(rl, {}, 1, 1000).next;
  std::string first = s.key;
  s = incident::step(rl, s, 0, 1060).next;
  EXPECT_FALSE(s.firing);
  incident::step_result again = incident::step(rl, s, 2, 1120);
  EXPECT_EQ(again.change, incident::transition::fired);
  EXPECT_NE(again.next.key, first);
}

TEST(Incident, NonsenseThresholdsActAsOne) {
  config::rule_config rl = rule(0, 0);
  EXPECT_EQ(incident::step(rl, {}, 0, 1).change, incident::transition::none);
  incident::state s = incident::step(rl, {}, 1, 1).next;
  EXPECT_EQ(incident::step(rl, s, 0, 2).change, incident::transition::resolved);
}
