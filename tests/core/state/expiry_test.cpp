// The expiry policy on a clock the test moves: noted bounds are applied together once a
// minute, kept when the database refused them, and dropped by a reload.
#include "state/expiry.hpp"

#include <gtest/gtest.h>

using namespace qoewatch;
using bounds = std::map<std::string, std::int64_t>;

TEST(Expiry, BoundsAreAppliedTogetherOnceAMinute) {
  state::expiry_schedule s;
  s.note("a", 100);
  s.note("b", 200);
  s.note("a", 150);  // the newest bound of a rule wins
  auto due = s.due(1000);
  ASSERT_TRUE(due);
  EXPECT_EQ(*due, (bounds{{"a", 150}, {"b", 200}}));
  s.forgotten();
  s.note("a", 300);
  EXPECT_FALSE(s.due(1059));
  ASSERT_TRUE(s.due(1060));
  EXPECT_EQ(*s.due(1120), (bounds{{"a", 300}}));
}

TEST(Expiry, BoundsTheDatabaseRefusedAreTriedAgainAMinuteLater) {
  state::expiry_schedule s;
  s.note("a", 100);
  ASSERT_TRUE(s.due(1000));  // the write fails: forgotten() is not called
  s.note("b", 5);
  EXPECT_FALSE(s.due(1030));
  EXPECT_EQ(*s.due(1060), (bounds{{"a", 100}, {"b", 5}}));
}

TEST(Expiry, AReloadDropsBoundsComputedWithOldSettings) {
  state::expiry_schedule s;
  s.note("a", 100);
  s.clear();
  auto due = s.due(1000);
  ASSERT_TRUE(due);
  EXPECT_TRUE(due->empty());
}
