// A population rule's group as on-call sees it: pending while `when` holds for fewer than
// `for` successful polls in a row, firing with a key that names the group, resolving after
// resolve_after quiet polls in a row, and a comeback that starts the quiet count again.
#include "incident/group.hpp"

#include <gtest/gtest.h>

using namespace qoewatch;
using incident::transition;

namespace {

config::rule_config rule(int for_polls, int resolve_after) {
  config::rule_config r;
  r.name = "cdn_rebuffering";
  r.group_by = {"cdn"};
  r.for_polls = for_polls;
  r.resolve_after = resolve_after;
  return r;
}

constexpr incident::group_verdict holds{true, false};
constexpr incident::group_verdict between{false, false};  // when no longer, resolve_when not yet
constexpr incident::group_verdict quiet{false, true};

}  // namespace

TEST(GroupIncident, KeysNameTheRuleTheGroupAndTheSecondItFired) {
  EXPECT_EQ(incident::group_key_for("r", "cdn=edgeB", 1775750580.7), "r/cdn=edgeB/1775750580");
  EXPECT_EQ(incident::group_key_for("r", "cdn=edgeB,platform=iOS", 5),
            "r/cdn=edgeB,platform=iOS/5");
  EXPECT_EQ(incident::group_key_for("r", "", 5), incident::key_for("r", 5)) << "no group_by";
}

TEST(GroupIncident, TheWholeLifeOfAGroupAsATable) {
  struct row {
    incident::group_verdict verdict;
    transition change;
    int pending;
    bool firing;
    int polls_below;
  };
  // for: 2, resolve_after: 2.
  const row rows[] = {
      {quiet, transition::none, 0, false, 0},     {holds, transition::none, 1, false, 0},
      {quiet, transition::none, 0, false, 0},     {holds, transition::none, 1, false, 0},
      {holds, transition::fired, 0, true, 0},     {holds, transition::none, 0, true, 0},
      {between, transition::none, 0, true, 0},    {quiet, transition::none, 0, true, 1},
      {between, transition::none, 0, true, 0},    {quiet, transition::none, 0, true, 1},
      {quiet, transition::resolved, 0, false, 0}, {holds, transition::none, 1, false, 0},
  };
  const config::rule_config r = rule(2, 2);
  incident::group_state s;
  double now = 1000;
  std::string key;
  for (std::size_t i = 0; i < std::size(rows); ++i) {
    incident::group_step_result got = incident::step_group(r, s, rows[i].verdict, "cdn=edgeB", now);
    EXPECT_EQ(got.change, rows[i].change) << "poll " << i;
    EXPECT_EQ(got.next.pending, rows[i].pending) << "poll " << i;
    EXPECT_EQ(got.next.firing, rows[i].firing) << "poll " << i;
    EXPECT_EQ(got.next.polls_below, rows[i].polls_below) << "poll " << i;
    if (got.change == transition::fired) {
      key = got.next.key;
      EXPECT_EQ(key, "cdn_rebuffering/cdn=edgeB/" + std::to_string(std::int64_t(now)));
      EXPECT_EQ(got.next.started_at, now);
    }
    EXPECT_EQ(got.next.key, got.next.firing ? key : "") << "one key while it fires, poll " << i;
    s = got.next;
    now += 60;
  }
}

TEST(GroupIncident, ForAndResolveAfterOfOneAndBelowActAtOnce) {
  for (int n : {1, 0, -3}) {
    const config::rule_config r = rule(n, n);
    incident::group_step_result fired = incident::step_group(r, {}, holds, "cdn=A", 1);
    EXPECT_EQ(fired.change, transition::fired) << n;
    EXPECT_EQ(incident::step_group(r, fired.next, quiet, "cdn=A", 2).change, transition::resolved)
        << n;
  }
}
