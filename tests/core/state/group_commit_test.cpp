// The group-commit policy on a clock the test moves: a lone commit is written at once, a burst
// shares one transaction per window, checkpoints that moved alone wait up to a second, and a
// failed write is retried a second later. The e2e test that counts the daemon's disk syncs
// with strace checks the same on the real binary.
#include "state/group_commit.hpp"

#include <gtest/gtest.h>

using namespace qoewatch;
using namespace std::chrono_literals;
using policy = state::group_commit_policy;

TEST(GroupCommit, ALoneCommitIsWrittenAtOnceAndABurstWaitsForTheWindow) {
  policy p;
  const policy::time_point t{1h};
  EXPECT_EQ(p.write_at(t), t);  // nothing written yet
  p.wrote(t);
  // Commits queued within the window are written when it ends, together.
  EXPECT_EQ(p.write_at(t + 1ms), t + 50ms);
  EXPECT_EQ(p.write_at(t + 49ms), t + 50ms);
  // After an idle window: at once again.
  EXPECT_EQ(p.write_at(t + 50ms), t + 50ms);
  EXPECT_EQ(p.write_at(t + 5s), t + 5s);
}

TEST(GroupCommit, CheckpointsThatMovedAloneWaitUpToASecond) {
  policy p;
  const policy::time_point t{1h};
  EXPECT_TRUE(p.checkpoints_due(t));
  p.wrote(t);
  EXPECT_FALSE(p.checkpoints_due(t + 999ms));
  EXPECT_TRUE(p.checkpoints_due(t + 1s));
}

TEST(GroupCommit, AFailedWriteIsRetriedASecondLater) {
  policy p;
  const policy::time_point t{1h};
  p.wrote(t);
  EXPECT_EQ(p.retry_at(t), t + 1s);
}
