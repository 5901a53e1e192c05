// Delivery decisions a receiver's operator notices: which answers are retried, how far apart
// the retries are, how fast a sink may be hit.
#include "deliver/policy.hpp"

#include <gtest/gtest.h>


using namespace qoewatch;
using namespace std::chrono_literals;
using deliver::verdict;

TEST(Delivery, AnswersAreClassifiedAsTheIssueSays) {
  EXPECT_EQ(deliver::classify(200), verdict::delivered);
  EXPECT_EQ(deliver::classify(202), verdict::delivered);
  EXPECT_EQ(deliver::classify(204), verdict::delivered);
  EXPECT_EQ(deliver::classify(408), verdict::retry);
  EXPECT_EQ(deliver::classify(429), verdict::retry);
  EXPECT_EQ(deliver::classify(500), verdict::retry);
  EXPECT_EQ(deliver::classify(503), verdict::retry);
  EXPECT_EQ(deliver::classify(599), verdict::retry);
  EXPECT_EQ(deliver::classify(400), verdict::dead);
  EXPECT_EQ(deliver::classify(401), verdict::dead);
  EXPECT_EQ(deliver::classify(404), verdict::dead);
  EXPECT_EQ(deliver::classify(413), verdict::dead);
  EXPECT_EQ(deliver::classify(301), verdict::dead);  // redirects are not followed
}

TEST(Delivery, BackoffDoublesFromOneSecondToFiveMinutes) {
  // The ceiling is what unit -> 1 approaches.
  auto ceiling = [](int failures) {
    return static_cast<double>(deliver::retry_delay(failures, 0.999999, {}).count());
  };
  EXPECT_NEAR(ceiling(1), 1000, 1);
  EXPECT_NEAR(ceiling(2), 2000, 1);
  EXPECT_NEAR(ceiling(3), 4000, 1);
  EXPECT_NEAR(ceiling(9), 256000, 1);
  EXPECT_NEAR(ceiling(10), 300000, 1);  // 512 s capped at 5 min
  EXPECT_NEAR(ceiling(10000), 300000, 1);
  EXPECT_EQ(deliver::retry_delay(0, 0.5, {}).count(), 500);  // nonsense input stays sane
}

TEST(Delivery, FullJitterSpreadsOverTheWholeRange) {
  EXPECT_EQ(deliver::retry_delay(4, 0.0, {}).count(), 0);
  EXPECT_EQ(deliver::retry_delay(4, 0.25, {}).count(), 2000);
  EXPECT_EQ(deliver::retry_delay(4, 0.5, {}).count(), 4000);
}

TEST(Delivery, RetryAfterIsAFloor) {
  EXPECT_EQ(deliver::retry_delay(1, 0.1, 30s), 30000ms);
  EXPECT_EQ(deliver::retry_delay(10, 0.9, 1s).count(), 270000);
}

TEST(Delivery, TokenBucketAllowsTheBurstThenTheRate) {
  using clock = deliver::token_bucket::clock;
  clock::time_point t0{};
  deliver::token_bucket b(1.0, 2, t0);
  EXPECT_EQ(b.take(t0), 0ms);
  EXPECT_EQ(b.take(t0), 0ms);
  EXPECT_EQ(b.take(t0), 1000ms);  // empty: the next token is a second away
  EXPECT_EQ(b.take(t0 + 400ms), 600ms);
  EXPECT_EQ(b.take(t0 + 1000ms), 0ms);
  // A long quiet spell refills to the burst, not beyond.
  clock::time_point later = t0 + 1h;
  EXPECT_EQ(b.take(later), 0ms);
  EXPECT_EQ(b.take(later), 0ms);
  EXPECT_GT(b.take(later), 0ms);
}

TEST(Delivery, SlackPaceIsOnePerSecond) {
  using clock = deliver::token_bucket::clock;
  clock::time_point t{};
  deliver::token_bucket b(1.0, 1, t);
  int sent = 0;
  for (int ms = 0; ms < 10000; ms += 10) {
    if (b.take(t + std::chrono::milliseconds(ms)) == 0ms) ++sent;
  }
  EXPECT_EQ(sent, 10);
}

