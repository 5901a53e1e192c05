// Reading a population condition's operands: every aggregate the issue names, and for each
// mistake what is wrong and what would be right.
#include "rules/aggregate.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace qoewatch::rules {

namespace {

const std::vector<std::string_view> metrics = {"latency", "cirrbufferingratio", "errors"};

}  // namespace

TEST(Aggregate, ReadsEveryAggregate) {
  struct row {
    std::string_view text;
    aggregate_fn fn;
    std::string_view metric;
    bool of_metric;
    int percentile;
  };
  const row rows[] = {
      {"sessions", aggregate_fn::sessions, "", false, 0},
      {"offending", aggregate_fn::offending, "", false, 0},
      {"ratio", aggregate_fn::ratio, "", false, 0},
      {"avg(latency)", aggregate_fn::avg, "latency", true, 0},
      {"min(latency)", aggregate_fn::min, "latency", true, 0},
      {"max(errors)", aggregate_fn::max, "errors", true, 0},
      {"sum(errors)", aggregate_fn::sum, "errors", true, 0},
      {"p50(latency)", aggregate_fn::p50, "latency", true, 50},
      {"p75(latency)", aggregate_fn::p75, "latency", true, 75},
      {"p90(latency)", aggregate_fn::p90, "latency", true, 90},
      {"p95(cirrbufferingratio)", aggregate_fn::p95, "cirrbufferingratio", true, 95},
      {"p99(latency)", aggregate_fn::p99, "latency", true, 99},
  };
  ASSERT_EQ(std::size(rows), aggregate_fns.size()) << "a row for every aggregate";
  for (const row& r : rows) {
    aggregate_result got = read_aggregate(r.text, metrics);
    ASSERT_TRUE(got.value) << r.text << ": " << got.error;
    EXPECT_EQ(*got.value, (aggregate{r.fn, std::string(r.metric), std::string(r.text)}));
    EXPECT_EQ(of_metric(r.fn), r.of_metric) << r.text;
    EXPECT_EQ(percentile(r.fn), r.percentile) << r.text;
  }
}

TEST(Aggregate, SaysWhatIsWrongAndWhatIsRight) {
  struct row {
    std::string_view text;
    std::string_view error;
    std::size_t offset;
  };
  const row rows[] = {
      {"p96(latency)",
       "unknown aggregate 'p96' (use sessions, offending, ratio, or avg, min, max, sum, p50, "
       "p75, p90, p95, p99 of a metric: p95(latency))",
       0},
      {"count",
       "unknown aggregate 'count' (use sessions, offending, ratio, or avg, min, max, sum, p50, "
       "p75, p90, p95, p99 of a metric: p95(latency))",
       0},
      {"latency",
       "'latency' is a session metric; a population condition judges the group: write "
       "p95(latency), avg(latency) ... or sessions, offending, ratio",
       0},
      {"latency(errors)",
       "unknown aggregate 'latency' (use sessions, offending, ratio, or avg, min, max, sum, p50, "
       "p75, p90, p95, p99 of a metric: p95(latency))",
       0},
      {"ratio(latency)", "'ratio' takes no metric (write ratio)", 0},
      {"sessions(latency)", "'sessions' takes no metric (write sessions)", 0},
      {"p95", "'p95' needs a metric (write p95(latency))", 0},
      {"avg", "'avg' needs a metric (write avg(latency))", 0},
      {"p95(latncy)", "unknown metric 'latncy'", 4},
      {"sum(watchtime)", "unknown metric 'watchtime'", 4},
  };
  for (const row& r : rows) {
    aggregate_result got = read_aggregate(r.text, metrics);
    EXPECT_FALSE(got.value) << r.text;
    EXPECT_EQ(got.error, r.error) << r.text;
    EXPECT_EQ(got.offset, r.offset) << r.text;
  }
}

}  // namespace qoewatch::rules
