// The sessions-seen set against std::unordered_set: random hashes inserted, repeated and
// erased, with and without reserve(), and crafted runs of hashes that share a table and a
// home slot (where backward-shift deletion must keep every later entry findable).
#include "evaluate/seen_set.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <unordered_set>
#include <vector>

using namespace qoewatch;

namespace {

// Inserts like a population poll does: prefetch, then insert.
bool add(evaluate::seen_set& s, std::uint64_t h) {
  s.prefetch(h);
  return s.insert(h);
}

// A hash in table `table` whose low bits are `low` (its home slot in any table of up to
// 2^16 slots) and that differs from the others by `n`.
std::uint64_t crafted(std::uint64_t table, std::uint64_t low, std::uint64_t n) {
  return (table << 56) | (n << 16) | low;
}

}  // namespace

TEST(SeenSet, TellsFirstSightingsFromRepeats) {
  evaluate::seen_set s;
  EXPECT_TRUE(add(s, 42));
  EXPECT_FALSE(add(s, 42));
  EXPECT_TRUE(add(s, 43));
  EXPECT_EQ(s.size(), 2u);
  s.erase(42);
  s.erase(7);  // never seen: nothing happens
  EXPECT_EQ(s.size(), 1u);
  EXPECT_TRUE(add(s, 42));
  EXPECT_FALSE(add(s, 43));
}

TEST(SeenSet, AgreesWithAnUnorderedSetThroughGrowthReserveAndErasure) {
  for (const std::size_t reserve_after : {std::size_t{0}, std::size_t{1}, std::size_t{5000}}) {
    for (const std::size_t claim : {std::size_t{100}, std::size_t{20000}, std::size_t{300000}}) {
      SCOPED_TRACE("reserve(" + std::to_string(claim) + ") after " +
                   std::to_string(reserve_after));
      std::mt19937_64 rng(claim + reserve_after);
      evaluate::seen_set s;
      std::unordered_set<std::uint64_t> want;
      std::vector<std::uint64_t> added;
      for (std::size_t i = 0; i < 60000; ++i) {
        if (i == reserve_after) s.reserve(claim);
        std::uint64_t h = rng() | 1;
        if (!added.empty() && rng() % 4 == 0) h = added[rng() % added.size()];  // a repeat
        ASSERT_EQ(add(s, h), want.insert(h).second) << i;
        added.push_back(h);
        if (rng() % 10 == 0) {  // take back the last few, as a dropped page does
          for (int k = 0; k < 3 && !added.empty(); ++k) {
            const std::uint64_t gone = added.back();
            added.pop_back();
            if (want.erase(gone)) s.erase(gone);
          }
        }
      }
      ASSERT_EQ(s.size(), want.size());
      for (std::uint64_t h : want) ASSERT_FALSE(add(s, h)) << h;
      s.reserve(claim * 10);  // a second reserve changes nothing
      EXPECT_EQ(s.size(), want.size());
      for (std::uint64_t h : want) ASSERT_FALSE(add(s, h)) << h;
    }
  }
}

TEST(SeenSet, ErasingFromARunKeepsTheRestOfItFindable) {
  // Runs of hashes with one home slot, and others that wrap around the end of the table,
  // erased from the front, the middle and the back.
  for (const bool reserved : {false, true}) {
    for (std::size_t gone = 0; gone < 6; ++gone) {
      SCOPED_TRACE("erasing the " + std::to_string(gone) + "th" + (reserved ? ", reserved" : ""));
      evaluate::seen_set s;
      if (reserved) s.reserve(256 * 16);  // tables of 32 slots
      std::vector<std::uint64_t> run;
      for (std::uint64_t n = 1; n <= 3; ++n) run.push_back(crafted(9, 5, n));
      for (std::uint64_t n = 1; n <= 3; ++n) run.push_back(crafted(9, 0xffff, n));  // wraps
      for (std::uint64_t h : run) ASSERT_TRUE(add(s, h));
      s.erase(run[gone]);
      for (std::size_t i = 0; i < run.size(); ++i)
        EXPECT_EQ(add(s, run[i]), i == gone) << i;
    }
  }
}
