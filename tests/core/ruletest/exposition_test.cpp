// Series as tests name them, and /metrics text read back: what a metric expectation compares.
#include "ruletest/exposition.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace qoewatch::ruletest;

TEST(RuleTestExposition, ASelectorIsANameAndLabelsInAnyOrder) {
  series_result r = parse_series(R"(qoewatch_group_ratio{rule="cdn", group = "cdn=edge\"B\"",})");
  ASSERT_TRUE(r.value) << r.error;
  EXPECT_EQ(r.value->name, "qoewatch_group_ratio");
  EXPECT_EQ(r.value->labels, (std::vector<std::pair<std::string, std::string>>{
                                 {"group", "cdn=edge\"B\""}, {"rule", "cdn"}}));
  EXPECT_EQ(to_string(*r.value), R"(qoewatch_group_ratio{group="cdn=edge\"B\"",rule="cdn"})");
  r = parse_series("qoewatch_notified_sessions");
  ASSERT_TRUE(r.value);
  EXPECT_TRUE(r.value->labels.empty());
  EXPECT_EQ(to_string(*r.value), "qoewatch_notified_sessions");
}

TEST(RuleTestExposition, ASelectorMistakeSaysWhereAndWhat) {
  struct bad {
    const char* text;
    std::size_t offset;
    const char* error;
  };
  const bad table[] = {
      {"", 0, "expected a metric name (qoewatch_rule_firing{rule=\"r\"})"},
      {"1abc", 0, "expected a metric name (qoewatch_rule_firing{rule=\"r\"})"},
      {"m{rule=r}", 7, "expected a value in double quotes after rule="},
      {"m{rule}", 6, "expected = after label rule"},
      {"m{rule=\"r\"", 10, "expected , or } after a label's value"},
      {"m{rule=\"r}", 10, "the value of rule is not closed by \""},
      {"m{a=\"1\",a=\"2\"}", 8, "label a is given twice"},
      {"m{a=\"1\"} 3", 9, "unexpected text after the series (write name{label=\"value\"})"},
  };
  for (const bad& b : table) {
    series_result r = parse_series(b.text);
    EXPECT_FALSE(r.value) << b.text;
    EXPECT_EQ(r.offset, b.offset) << b.text;
    EXPECT_EQ(r.error, b.error) << b.text;
  }
}

TEST(RuleTestExposition, TheTextFormatIsReadBackIntoSamples) {
  const std::vector<sample> s = parse_exposition(
      "# HELP qoewatch_rule_firing 1 while the rule's incident fires, else 0.\n"
      "# TYPE qoewatch_rule_firing gauge\n"
      "qoewatch_rule_firing{rule=\"slow\"} 1\n"
      "\n"
      "qoewatch_notified_sessions 12 1700000000000\n"
      "qoewatch_group_aggregate{rule=\"r\",group=\"cdn=a\\\\b\",aggregate=\"p95(latency)\"} "
      "1.5e-07\n"
      "qoewatch_x{a=\"1\"} +Inf\n"
      "qoewatch_y NaN\n"
      "broken{ 3\n");
  ASSERT_EQ(s.size(), 5u);
  EXPECT_EQ(to_string(s[0].series), "qoewatch_rule_firing{rule=\"slow\"}");
  EXPECT_EQ(s[0].value, 1);
  EXPECT_EQ(s[1].value, 12);  // the timestamp is not the value
  EXPECT_EQ(s[2].series.labels[1].second, "cdn=a\\b");
  EXPECT_EQ(s[2].value, 1.5e-07);
  EXPECT_TRUE(std::isinf(s[3].value));
  EXPECT_TRUE(std::isnan(s[4].value));
}
