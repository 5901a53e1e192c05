// What a failing expectation prints: the file:line of the key that asked, the test, the time,
// what was expected and what was got, and for sets what is missing and what is unexpected.
#include "ruletest/compare.hpp"

#include <gtest/gtest.h>

#include "ruletest_fixtures.hpp"

using namespace qoewatch;
using namespace qoewatch::testing_ruletest;

namespace {

// The failures of the only test of `tests`, with the test file's path cut to "t.yaml".
std::vector<std::string> failures(const std::string& tests, const ruletest::hooks& h = {}) {
  temp_dir dir;
  ruletest::load_result r = load_tests(dir, tests);
  EXPECT_TRUE(r.value) << testing::PrintToString(texts(r));
  if (!r.value) return {};
  std::vector<std::string> out;
  for (std::string f : ruletest::check(*r.value, r.value->tests.at(0), h)) {
    for (std::size_t at = f.find(dir.file("t.yaml")); at != std::string::npos;
         at = f.find(dir.file("t.yaml")))
      f.replace(at, dir.file("t.yaml").size(), "t.yaml");
    out.push_back(f);
  }
  return out;
}

// edgeB: 20 sessions, half of them rebuffering; edgeA: 20 sessions, none.
const std::string two_cdns = R"(tests:
  - name: edgeB rebuffers
    series:
      - {sessionid: "b-{i}", count: 20, endtime: -5m, step: 5s,
         values: {cdn: edgeB, cirrbufferingratio: [4, 0.5], latency: [1, 3]}}
      - {sessionid: "a-{i}", count: 20, endtime: -5m, step: 5s,
         values: {cdn: edgeA, cirrbufferingratio: 0.5, latency: 1, platform: Android}}
    sessions:
      - {sessionid: s9, endtime: -2m, platform: Android, latency: 9, cdn: edgeA}
)";

}  // namespace

TEST(RuleTestCompare, WhatHappenedPasses) {
  EXPECT_EQ(failures(two_cdns + R"(    expect:
      - at: 0s
        rule: cdn_rebuffering
        fired: []
        pending: [{cdn: edgeB}]
      - at: 0s
        rule: slow
        fired: [{offending: 1}]
        notified: [s9]
      - at: +1m
        rule: cdn_rebuffering
        fired: [{group: {cdn: edgeB}, sessions: 20, offending: 10, ratio: 50%,
                 p95(latency): 3}]
        firing: [{cdn: edgeB}]
        notified: [b-1, b-3]
      - at: +1m
        rule: slow
        fired: []
        firing: true
        notified: []
)"),
            std::vector<std::string>{});
}

TEST(RuleTestCompare, EachMismatchIsPrintedWithItsLineTheTestAndTheTime) {
  const std::vector<std::string> got = failures(two_cdns + R"(    expect:
      - at: 0s
        rule: cdn_rebuffering
        fired: [{group: {cdn: edgeB}}]
        pending: [{cdn: edgeA}]
      - at: +1m
        rule: cdn_rebuffering
        fired: [{group: {cdn: edgeB}, ratio: 0.25}]
        firing: false
        notified: [b-1, b-2]
)");
  EXPECT_EQ(got, (std::vector<std::string>{
                     "t.yaml:15: test \"edgeB rebuffers\", at 0s: rule cdn_rebuffering: fired\n"
                     "  expected: [{group: {cdn: edgeB}}]\n"
                     "  got:      []\n"
                     "  missing: {group: {cdn: edgeB}}\n",
                     "t.yaml:16: test \"edgeB rebuffers\", at 0s: rule cdn_rebuffering: pending\n"
                     "  expected: [{cdn: edgeA}]\n"
                     "  got:      [{cdn: edgeB}]\n"
                     "  missing: {cdn: edgeA}\n"
                     "  unexpected: {cdn: edgeB}\n",
                     "t.yaml:19: test \"edgeB rebuffers\", at +1m: rule cdn_rebuffering: fired\n"
                     "  expected: [{group: {cdn: edgeB}, ratio: 0.25}]\n"
                     "  got:      [{group: {cdn: edgeB}, sessions: 20, offending: 10, ratio: "
                     "0.5, p95(latency): 3}]\n"
                     "  missing: {group: {cdn: edgeB}, ratio: 0.25}\n"
                     "  unexpected: {group: {cdn: edgeB}, sessions: 20, offending: 10, ratio: "
                     "0.5, p95(latency): 3}\n",
                     "t.yaml:20: test \"edgeB rebuffers\", at +1m: rule cdn_rebuffering: firing\n"
                     "  expected: false\n"
                     "  got:      true\n",
                     "t.yaml:21: test \"edgeB rebuffers\", at +1m: rule cdn_rebuffering: "
                     "notified\n"
                     "  expected: [b-1, b-2]\n"
                     "  got:      [b-1, b-3]\n"
                     "  missing: b-2\n"
                     "  unexpected: b-3\n",
                 }));
}

TEST(RuleTestCompare, MetricsAreReadFromTheExpositionText) {
  ruletest::hooks h;
  h.metrics = [] {
    return std::string(
        "# TYPE qoewatch_rule_firing gauge\n"
        "qoewatch_rule_firing{rule=\"slow\"} 1\n"
        "qoewatch_rule_firing{rule=\"cdn_rebuffering\"} 0\n"
        "qoewatch_group_ratio{group=\"cdn=edgeB\",rule=\"cdn_rebuffering\"} 0.3333333333333333\n");
  };
  const std::vector<std::string> got = failures(two_cdns + R"(    expect:
      - at: 0s
        metrics:
          'qoewatch_rule_firing{rule="slow"}': 1
          'qoewatch_group_ratio{group="cdn=edgeB",rule="cdn_rebuffering"}': 0.3333333333
          'qoewatch_rule_firing{rule="cdn_rebuffering"}': absent
          'qoewatch_rule_firing{rule="slw"}': 1
          qoewatch_notified_sessions: absent
)",
                                                h);
  EXPECT_EQ(got, (std::vector<std::string>{
                     "t.yaml:17: test \"edgeB rebuffers\", at 0s: metric "
                     "qoewatch_rule_firing{rule=\"cdn_rebuffering\"}\n"
                     "  expected: absent\n"
                     "  got:      0\n",
                     "t.yaml:18: test \"edgeB rebuffers\", at 0s: metric "
                     "qoewatch_rule_firing{rule=\"slw\"}\n"
                     "  expected: 1\n"
                     "  got:      absent (qoewatch_rule_firing has "
                     "[qoewatch_rule_firing{rule=\"slow\"} 1, "
                     "qoewatch_rule_firing{rule=\"cdn_rebuffering\"} 0])\n",
                 }));
}

TEST(RuleTestCompare, NumbersAgreeToABillionthAndPrintReadably) {
  EXPECT_TRUE(ruletest::same_number(0.1 + 0.2, 0.3));
  EXPECT_TRUE(ruletest::same_number(1.0 / 3, 0.3333333333));
  EXPECT_FALSE(ruletest::same_number(1.0 / 3, 0.333333));
  EXPECT_FALSE(ruletest::same_number(1704067200, 1704067202));
  EXPECT_TRUE(ruletest::same_number(std::nan(""), std::nan("")));
  EXPECT_FALSE(ruletest::same_number(0, std::nan("")));
  EXPECT_EQ(ruletest::number_text(1704067200), "1704067200");
  EXPECT_EQ(ruletest::number_text(0.25), "0.25");
  EXPECT_EQ(ruletest::number_text(1.0 / 3), "0.3333333333");
  EXPECT_EQ(ruletest::number_text(1.5e-7), "1.5e-07");
  EXPECT_EQ(ruletest::number_text(-2), "-2");
}

TEST(RuleTestCompare, TheSummarySaysHowManyFailed) {
  EXPECT_EQ(ruletest::summary("rules/tests/a.yaml", 1, 1), "rules/tests/a.yaml: 1 test, 1 passed");
  EXPECT_EQ(ruletest::summary("rules/tests/a.yaml", 3, 2),
            "rules/tests/a.yaml: 3 tests, 2 passed, 1 failed");
}
