// The population part of a rule (when, resolve_when, group_by, min_sample, for, evidence,
// max_groups): what loads, the defaults, and the exact text of every mistake an operator can
// make with it (file:line:column: key.path: what is wrong (what would be right)).
#include "config/load.hpp"

#include <gtest/gtest.h>

#include "config_fixtures.hpp"

using namespace qoewatch;
using namespace qoewatch::testing_config;

namespace {

const std::string head = "smartsight: {customer_id: 1, api_key_env: K}\nrules:\n  - name: r\n";

}  // namespace

TEST(PopulationConfig, TheIssuesExampleLoadsWithEverySetting) {
  config::load_result r = config::load_from_string(R"(smartsight: {customer_id: 1, api_key_env: K}
rules:
  - name: cdn_rebuffering
    description: Rebuffering on one CDN
    filter: "[sourcetype=HLS|DASH]"
    qoefilter: "cirrbufferingratio > 2"
    group_by: [cdn, platform]
    when: "ratio > 10% AND sessions >= 200 AND p95(latency) > 4 AND avg(playdur) < 60"
    min_sample: 100
    for: 2
    resolve_when: "ratio < 5% OR p95(latency) <= 3 OR max(errors) = 0"
    resolve_after: 3
    evidence: 7
    max_groups: 50
)",
                                                   "c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  const config::rule_config& rule = r.config->rules.at(0);
  EXPECT_TRUE(rule.population());
  EXPECT_EQ(rule.group_by, (std::vector<std::string>{"cdn", "platform"}));
  EXPECT_EQ(rule.when_text,
            "ratio > 10% AND sessions >= 200 AND p95(latency) > 4 AND avg(playdur) < 60");
  EXPECT_EQ(rules::to_string(rule.when),
            "ratio > 0.1 AND sessions >= 200 AND p95(latency) > 4 AND avg(playdur) < 60");
  ASSERT_TRUE(rule.resolve_when);
  EXPECT_EQ(rules::to_string(*rule.resolve_when),
            "ratio < 0.05 OR p95(latency) <= 3 OR max(errors) = 0");
  EXPECT_EQ(rule.resolve_when_text, "ratio < 5% OR p95(latency) <= 3 OR max(errors) = 0");
  // The metric aggregates of both conditions, each once, in order of appearance.
  std::vector<std::string> aggregates;
  for (const rules::aggregate& a : rule.aggregates) aggregates.push_back(a.text);
  EXPECT_EQ(aggregates, (std::vector<std::string>{"p95(latency)", "avg(playdur)", "max(errors)"}));
  EXPECT_EQ(rule.aggregates[0],
            (rules::aggregate{rules::aggregate_fn::p95, "latency", "p95(latency)"}));
  EXPECT_EQ(rule.min_sample, 100);
  EXPECT_EQ(rule.for_polls, 2);
  EXPECT_EQ(rule.resolve_after, 3);
  EXPECT_EQ(rule.evidence, 7);
  EXPECT_EQ(rule.max_groups, 50);
  EXPECT_EQ(rule.qoefilter_text, "cirrbufferingratio > 2");
  EXPECT_EQ(rule.filter_text, "[sourcetype=HLS|DASH]");
}

TEST(PopulationConfig, DefaultsAndARuleWithoutQoefilterOrGroupBy) {
  config::load_result r = config::load_from_string(
      head + "    when: \"sessions > 1000 AND p95(latency) > 4\"\n", "c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  const config::rule_config& rule = r.config->rules.at(0);
  EXPECT_TRUE(rule.population());
  EXPECT_FALSE(rule.has_qoefilter());
  EXPECT_TRUE(rule.group_by.empty());
  EXPECT_FALSE(rule.resolve_when);
  EXPECT_EQ(rule.min_sample, 20);
  EXPECT_EQ(rule.for_polls, 1);
  EXPECT_EQ(rule.resolve_after, 2);
  EXPECT_EQ(rule.evidence, 10);
  EXPECT_EQ(rule.max_groups, 100);

  // A per-session rule is no population rule, and reads none of it.
  config::load_result plain = config::load_from_string(minimal, "c.yaml");
  ASSERT_TRUE(plain.config);
  EXPECT_FALSE(plain.config->rules.at(0).population());
  EXPECT_TRUE(plain.config->rules.at(0).aggregates.empty());
}

TEST(PopulationConfig, ExtraMetricsAndUnquotedConditionsAreUnderstood) {
  config::load_result r = config::load_from_string(
      "smartsight: {customer_id: 1, api_key_env: K, extra_metrics: [exitbeforevideostart]}\n"
      "rules:\n  - name: r\n    qoefilter: exitbeforevideostart > 0\n"
      "    when: ratio > 2.5% AND p90(exitbeforevideostart) >= 1\n",
      "c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  EXPECT_EQ(rules::to_string(r.config->rules.at(0).when),
            "ratio > 0.025 AND p90(exitbeforevideostart) >= 1");
}

TEST(PopulationConfig, ErrorTextsArePinned) {
  struct row {
    std::string rule;                 // the rule's lines after "  - name: r"
    std::vector<std::string> errors;  // every error, in file order
  };
  const std::string per_session =
      "population rule, which needs when: (e.g. when: \"ratio > 10% "
      "AND sessions >= 200\"); without when the rule judges sessions "
      "one by one";
  const std::string no_qoefilter =
      "' counts the sessions that match the qoefilter, and this rule has none (add qoefilter: "
      "\"cirrbufferingratio > 2\", or judge sessions or a metric aggregate)";
  const std::string known =
      "known: latency, cirrbufferingratio, bufferingratio, qualityofexperience, playdur, "
      "cdn_change_rate, errors, fatalerrors, watchtime, starttime, endtime; declare others in "
      "smartsight.extra_metrics)";
  const std::string q = "    qoefilter: latency > 5\n";
  const std::vector<row> rows = {
      // Population settings without when.
      {q + "    group_by: [cdn]\n",
       {"c.yaml:5:15: rules[0].group_by: group_by is for a " + per_session}},
      {q + "    resolve_when: ratio < 5%\n",
       {"c.yaml:5:19: rules[0].resolve_when: resolve_when is for a " + per_session}},
      {q + "    min_sample: 2\n",
       {"c.yaml:5:17: rules[0].min_sample: min_sample is for a " + per_session}},
      {q + "    for: 2\n", {"c.yaml:5:10: rules[0].for: for is for a " + per_session}},
      {q + "    evidence: 2\n",
       {"c.yaml:5:15: rules[0].evidence: evidence is for a " + per_session}},
      {q + "    max_groups: 2\n",
       {"c.yaml:5:17: rules[0].max_groups: max_groups is for a " + per_session}},
      // offending and ratio count qoefilter matches: without one they mean nothing.
      {"    when: \"offending > 5\"\n", {"c.yaml:4:12: rules[0].when: 'offending" + no_qoefilter}},
      {"    when: ratio > 10%\n", {"c.yaml:4:11: rules[0].when: 'ratio" + no_qoefilter}},
      {"    when: \"sessions > 9\"\n    resolve_when: \"ratio < 5%\"\n",
       {"c.yaml:5:20: rules[0].resolve_when: 'ratio" + no_qoefilter}},
      // Operands that are no aggregate.
      {q + "    when: \"p96(latency) > 4\"\n",
       {"c.yaml:5:12: rules[0].when: unknown aggregate 'p96' (use sessions, offending, ratio, or "
        "avg, min, max, sum, p50, p75, p90, p95, p99 of a metric: p95(latency))"}},
      {q + "    when: \"latency > 5\"\n",
       {"c.yaml:5:12: rules[0].when: 'latency' is a session metric; a population condition "
        "judges the group: write p95(latency), avg(latency) ... or sessions, offending, ratio"}},
      {q + "    when: \"ratio(latency) > 0.1\"\n",
       {"c.yaml:5:12: rules[0].when: 'ratio' takes no metric (write ratio)"}},
      {q + "    when: \"p95 > 4\"\n",
       {"c.yaml:5:12: rules[0].when: 'p95' needs a metric (write p95(latency))"}},
      {q + "    when: \"ratio > 10% AND p95(latncy) > 4\"\n",
       {"c.yaml:5:32: rules[0].when: unknown metric 'latncy' (did you mean \"latency\"? " + known}},
      {q + "    when: ratio > 10% AND p95(zzz) > 4\n",
       {"c.yaml:5:31: rules[0].when: unknown metric 'zzz' (" + known}},
      // Percentages and ratios.
      {q + "    when: \"p95(latency) > 10%\"\n",
       {"c.yaml:5:27: rules[0].when: a percentage compares with ratio only (a fraction 0-1); "
        "'p95(latency)' is in the metric's own unit: write a plain number"}},
      {q + "    when: \"sessions >= 10%\"\n",
       {"c.yaml:5:24: rules[0].when: a percentage compares with ratio only (a fraction 0-1); "
        "'sessions' is a count of sessions: write a plain number"}},
      {q + "    when: \"ratio > 10\"\n",
       {"c.yaml:5:20: rules[0].when: ratio is a fraction from 0 to 1, compared here with 10 "
        "(write a percentage, e.g. ratio > 10%, or a fraction, ratio > 0.1)"}},
      {q + "    when: \"sessions > 9 AND ratio >= -0.1\"\n",
       {"c.yaml:5:38: rules[0].when: ratio is a fraction from 0 to 1, compared here with -0.1 "
        "(write a percentage, e.g. ratio > 10%, or a fraction, ratio > 0.1)"}},
      {q + "    when: \"ratio > 10%\"\n    resolve_when: \"ratio < 5\"\n",
       {"c.yaml:6:28: rules[0].resolve_when: ratio is a fraction from 0 to 1, compared here "
        "with 5 (write a percentage, e.g. ratio < 5%, or a fraction, ratio < 0.05)"}},
      {"    qoefilter: latency > 10%\n",
       {"c.yaml:4:28: rules[0].qoefilter: a percentage is understood only in a population "
        "rule's when/resolve_when; here write the metric's own number"}},
      // The grammar.
      {q + "    when: \"ratio >\"\n",
       {"c.yaml:5:19: rules[0].when: expected a number after '>', found end of text"}},
      {q + "    when: \"p95(latency > 4\"\n",
       {"c.yaml:5:24: rules[0].when: expected ')' after p95(latency, found '>'"}},
      {q + "    when: \"10% < ratio\"\n",
       {"c.yaml:5:12: rules[0].when: expected an aggregate (sessions, offending, ratio, "
        "p95(latency), ...) before '10' (the operand comes first: ratio > 10%)"}},
      // Settings of a population rule.
      {q + "    when: \"ratio > 10%\"\n    min_sessions: 3\n",
       {"c.yaml:6:19: rules[0].min_sessions: min_sessions counts offending sessions of a "
        "per-session rule; a population rule guards its groups with min_sample (sessions in "
        "the window) and when"}},
      {q + "    when: \"ratio > 10%\"\n    group_by: [sessionid]\n",
       {"c.yaml:6:16: rules[0].group_by[0]: a group per session is a per-session rule: remove "
        "group_by and when"}},
      {q + "    when: \"ratio > 10%\"\n    group_by: [severity, cdn]\n    labels: {cdn: x}\n",
       {"c.yaml:6:16: rules[0].group_by[0]: \"severity\" is a label qoewatch sets on every "
        "alert, so it cannot name a dimension",
        "c.yaml:7:13: rules[0].labels: label \"cdn\" is also a group_by dimension, whose value "
        "labels each group's alerts (rename the label)"}},
      {q + "    when: \"ratio > 10%\"\n    group_by: [cdn, cdn, 2x]\n",
       {"c.yaml:6:21: rules[0].group_by[1]: \"cdn\" is listed twice",
        "c.yaml:6:26: rules[0].group_by[2]: \"2x\" is not a field name (letters, digits, _)"}},
      {q + "    when: \"ratio > 10%\"\n    group_by: cdn\n",
       {"c.yaml:6:15: rules[0].group_by: must be a list (write [cdn, platform])"}},
      {q + "    when: \"ratio > 10%\"\n    min_sample: 0\n    for: 0\n    evidence: -1\n"
           "    max_groups: 0\n",
       {"c.yaml:6:17: rules[0].min_sample: 0 is out of range (sessions a group needs in the "
        "window to be judged, 1 to 100000000)",
        "c.yaml:7:10: rules[0].for: 0 is out of range (successful polls in a row when must hold "
        "to fire, 1 to 1000)",
        "c.yaml:8:15: rules[0].evidence: -1 is out of range (offending sessions sent with a "
        "firing group, 0 to 1000)",
        "c.yaml:9:17: rules[0].max_groups: 0 is out of range (groups exported as metrics, 1 to "
        "100000)"}},
  };
  for (const row& r : rows) {
    EXPECT_EQ(errors_of(head + r.rule), r.errors) << "for:\n" << r.rule;
  }
}

TEST(PopulationConfig, AMistakeInBothConditionsIsReportedInBoth) {
  EXPECT_EQ(errors_of(head + "    when: \"ratio > 10%\"\n    resolve_when: \"offending < 1\"\n"),
            (std::vector<std::string>{
                "c.yaml:4:12: rules[0].when: 'ratio' counts the sessions that match the "
                "qoefilter, and this rule has none (add qoefilter: \"cirrbufferingratio > 2\", "
                "or judge sessions or a metric aggregate)",
                "c.yaml:5:20: rules[0].resolve_when: 'offending' counts the sessions that match "
                "the qoefilter, and this rule has none (add qoefilter: \"cirrbufferingratio > "
                "2\", or judge sessions or a metric aggregate)"}));
  // Without qoefilter nor when, the message asks for the qoefilter, as before.
  EXPECT_EQ(errors_of(head),
            std::vector<std::string>{"c.yaml:3:5: rules[0].qoefilter: missing (required: the "
                                     "condition, e.g. \"latency > 5\")"});
}
