// The rule test file contract: what a test file loads into, and the exact message for each
// mistake (file:line:column: key.path: what is wrong (what would be right)).
#include "ruletest/spec.hpp"

#include <gtest/gtest.h>

#include "ruletest_fixtures.hpp"

using namespace qoewatch;
using namespace qoewatch::testing_ruletest;

TEST(RuleTestSpec, ATestFileLoadsItsRulesSessionsSeriesAndExpectations) {
  temp_dir dir;
  ruletest::load_result r = load_tests(dir, R"(tests:
  - name: edgeB rebuffers
    start: 2025-03-01T12:00:00Z
    sessions:
      - {sessionid: late, endtime: +30s, cdn: edgeB, latency: "7.5", note: ~, live: true}
      - {sessionid: s1, endtime: -2m, cdn: edgeB, cirrbufferingratio: 4, latency: 3}
    series:
      - sessionid: "b-{i}-{i}"
        count: 3
        endtime: 2025-03-01T11:55:00Z
        step: 10s
        values: {cdn: edgeB, cirrbufferingratio: [4, 0.5], latency: 2}
    expect:
      - at: +1m
        rule: cdn_rebuffering
        fired: [{group: {cdn: edgeB}, sessions: 4, ratio: 50%, p95(latency): n/a}]
        pending: []
        firing: [{cdn: edgeB}]
        notified: [s1]
        metrics:
          'qoewatch_group_ratio{rule="cdn_rebuffering", group="cdn=edgeB"}': 0.5
          qoewatch_notified_sessions: absent
      - at: 2025-03-01T12:05:00Z
        rule: slow
        fired: [{offending: 1}]
        resolved: []
        firing: false
)");
  ASSERT_TRUE(r.value) << testing::PrintToString(texts(r));
  const ruletest::test_file& f = *r.value;
  EXPECT_EQ(f.file, dir.file("t.yaml"));
  ASSERT_EQ(f.cfg.rules.size(), 2u);
  EXPECT_EQ(f.cfg.rules[0].sinks, std::vector<std::string>{"oncall"});  // every sink
  ASSERT_EQ(f.tests.size(), 1u);
  const ruletest::test_case& t = f.tests[0];
  EXPECT_EQ(t.name, "edgeB rebuffers");
  EXPECT_EQ(t.line, 4);
  const double t0 = 1740830400;  // 2025-03-01T12:00:00Z
  EXPECT_EQ(t.start, t0);

  // By endtime: the series (every 10 s from 11:55), s1 at -2m, then late.
  ASSERT_EQ(t.rows.size(), 5u);
  EXPECT_EQ(t.rows[0].sessionid, "b-1-1");
  EXPECT_EQ(t.rows[0].endtime, t0 - 300);
  EXPECT_EQ(t.rows[2].sessionid, "b-3-3");
  EXPECT_EQ(t.rows[2].endtime, t0 - 280);
  EXPECT_EQ(t.rows[2].line, 10);
  using kind = ruletest::cell::kind;
  EXPECT_EQ(t.rows[1].values[1].second, (ruletest::cell{kind::number, "0.5", 0.5}));
  EXPECT_EQ(t.rows[2].values[1].second, (ruletest::cell{kind::number, "4", 4}));
  EXPECT_EQ(t.rows[3].sessionid, "s1");
  const ruletest::input_row& late = t.rows[4];
  EXPECT_EQ(late.endtime, t0 + 30);
  EXPECT_EQ(late.line, 7);
  ASSERT_EQ(late.values.size(), 4u);
  EXPECT_EQ(late.values[0],
            (std::pair<std::string, ruletest::cell>{"cdn", {kind::text, "edgeB", 0}}));
  EXPECT_EQ(late.values[1].second, (ruletest::cell{kind::text, "7.5", 0}));  // quoted
  EXPECT_EQ(late.values[2].second.k, kind::null);
  EXPECT_EQ(late.values[3].second, (ruletest::cell{kind::boolean, "true", 0}));

  ASSERT_EQ(t.expect.size(), 2u);
  const ruletest::expectation& x = t.expect[0];
  EXPECT_EQ(x.at, t0 + 60);
  EXPECT_EQ(x.at_text, "+1m");
  EXPECT_EQ(x.line, 16);
  EXPECT_EQ(x.rule, 1u);
  ASSERT_TRUE(x.fired);
  EXPECT_EQ(x.fired->line, 18);
  ASSERT_EQ(x.fired->value.size(), 1u);
  const ruletest::expected_event& e = x.fired->value[0];
  EXPECT_EQ(e.group, std::vector<std::string>{"edgeB"});
  EXPECT_EQ(e.sessions, 4);
  EXPECT_FALSE(e.offending);
  EXPECT_EQ(e.ratio, 0.5);
  ASSERT_EQ(e.aggregates.size(), 1u);
  EXPECT_EQ(e.aggregates[0].first, "p95(latency)");
  EXPECT_FALSE(e.aggregates[0].second);
  EXPECT_FALSE(x.resolved);
  EXPECT_EQ(x.pending->value.size(), 0u);
  EXPECT_EQ(x.firing_groups->value, std::vector<ruletest::group_values>{{"edgeB"}});
  EXPECT_FALSE(x.firing);
  EXPECT_EQ(x.notified->value, std::vector<std::string>{"s1"});
  ASSERT_EQ(x.metrics.size(), 2u);
  EXPECT_EQ(x.metrics[0].name, "qoewatch_group_ratio");
  // Labels sorted, whatever order the selector wrote them in.
  EXPECT_EQ(x.metrics[0].labels, (std::vector<std::pair<std::string, std::string>>{
                                     {"group", "cdn=edgeB"}, {"rule", "cdn_rebuffering"}}));
  EXPECT_EQ(x.metrics[0].value, 0.5);
  EXPECT_EQ(x.metrics[0].line, 23);
  EXPECT_FALSE(x.metrics[1].value);
  const ruletest::expectation& y = t.expect[1];
  EXPECT_EQ(y.at, t0 + 300);
  EXPECT_EQ(y.rule, 0u);
  EXPECT_EQ(y.fired->value[0].offending, 1);
  EXPECT_TRUE(y.resolved->value.empty());
  EXPECT_EQ(y.firing->value, false);
}

TEST(RuleTestSpec, TimesAreOffsetsFromTheStartOrRfc3339) {
  const double t0 = ruletest::default_start;
  EXPECT_EQ(ruletest::read_time("-3m", t0), t0 - 180);
  EXPECT_EQ(ruletest::read_time("+90s", t0), t0 + 90);
  EXPECT_EQ(ruletest::read_time("1h30m", t0), t0 + 5400);
  EXPECT_EQ(ruletest::read_time("0s", t0), t0);
  EXPECT_EQ(ruletest::read_time("-250ms", t0), t0 - 0.25);
  EXPECT_EQ(ruletest::read_time("2024-01-01T00:02:00Z", 0), t0 + 120);
  EXPECT_EQ(ruletest::read_time("2024-01-01T01:00:00+01:00", 0), t0);
  EXPECT_FALSE(ruletest::read_time("3 minutes", t0));
  EXPECT_FALSE(ruletest::read_time("-2024-01-01T00:00:00Z", t0));
  EXPECT_FALSE(ruletest::read_time("", t0));
}

TEST(RuleTestSpec, ARuleTestBorrowsAConfigsSettingsButNotItsRules) {
  temp_dir dir;
  dir.write("etc/qoewatch.yaml", R"(smartsight: {customer_id: 7, api_key_file: /nonexistent/key}
defaults: {interval: 30s, window: 2m, delay: 0s}
sinks: [{name: oncall, type: webhook, url: "http://h/"}]
rule_files: [/etc/qoewatch/rules/*.yaml]
)");
  dir.write("rules/r.yaml", "rules:\n  - {name: r, qoefilter: latency > 5, sinks: [oncall]}\n");
  const std::string file =
      dir.write("rules/tests/t.yaml",
                "config: ../../etc/qoewatch.yaml\nrule_files: [../r.yaml]\ntests:\n"
                "  - name: n\n    expect: [{at: 0s, firing: false}]\n");
  ruletest::load_result r = ruletest::load(file);
  ASSERT_TRUE(r.value) << testing::PrintToString(texts(r));
  ASSERT_EQ(r.value->cfg.rules.size(), 1u);
  EXPECT_EQ(r.value->cfg.rules[0].interval, std::chrono::seconds(30));
  EXPECT_EQ(r.value->cfg.smartsight.customer_id, 7u);
  EXPECT_EQ(r.value->tests[0].expect[0].rule, 0u);  // the only rule

  // Settings come from one place.
  const std::string both =
      dir.write("rules/tests/both.yaml",
                "config: ../../etc/qoewatch.yaml\nrule_files: [../r.yaml]\ndefaults: {delay: 0s}\n"
                "tests:\n  - name: n\n    expect: [{at: 0s, firing: false}]\n");
  EXPECT_EQ(texts(ruletest::load(both)),
            std::vector<std::string>{both + ":3:11: defaults: config: already gives the settings "
                                            "(write defaults in that config, or here without "
                                            "config:)"});
}

// Each mistake, and the one message it gives. `tests` follows the two header lines of
// load_tests (rule_files, sinks), so the test file's line 3 is its first line.
struct mistake {
  const char* what;
  std::string tests;
  std::vector<std::string> errors;  // after "<dir>/t.yaml:"
};

TEST(RuleTestSpec, EachMistakeIsOneMessageWithItsPlace) {
  const std::string one = "tests:\n  - name: n\n";
  const std::vector<mistake> table = {
      {"an unknown top-level key",
       "test:\n  - name: n\n",
       {"1:1: tests: missing (required: the tests, - name: ...)",
        "3:1: test: unknown key (did you mean \"tests\"?)"}},
      {"a session without its end",
       one + "    sessions: [{sessionid: a}]\n    expect: [{at: 0s, rule: slow, firing: false}]\n",
       {"5:16: tests[0].sessions[0].endtime: missing (required: when the session ended: -3m "
        "from the test's start, or an RFC 3339 time)"}},
      {"a time that is none",
       one + "    sessions: [{sessionid: a, endtime: 3 minutes ago}]\n"
             "    expect: [{at: 0s, rule: slow, firing: false}]\n",
       {"5:40: tests[0].sessions[0].endtime: \"3 minutes ago\" is not a time (write an offset "
        "from the test's start: -3m, +90s, 0s; or an RFC 3339 time: 2024-01-01T00:02:00Z)"}},
      {"a misspelt metric",
       one + "    sessions: [{sessionid: a, endtime: -1m, latncy: 7}]\n"
             "    expect: [{at: 0s, rule: slow, firing: false}]\n",
       {"5:45: tests[0].sessions[0].latncy: no rule of this file reads \"latncy\" (did you "
        "mean \"latency\"?)"}},
      {"a series whose ids are all the same",
       one + "    series: [{sessionid: ok, count: 3, endtime: -1m}]\n"
             "    expect: [{at: 0s, rule: slow, firing: false}]\n",
       {"5:26: tests[0].series[0].sessionid: must hold {i} (the session's number, 1 to count: "
        "\"ok-{i}\"), so that each session has an id of its own"}},
      {"an unknown rule",
       one + "    expect: [{at: 0s, rule: slw, firing: false}]\n",
       {"5:29: tests[0].expect[0].rule: no rule named \"slw\" in the test's rule files (did you "
        "mean \"slow\"?)"}},
      {"no rule among several",
       one + "    expect: [{at: 0s, firing: false}]\n",
       {"5:14: tests[0].expect[0].rule: missing (required: the rule checked; the test's rule "
        "files hold slow, cdn_rebuffering)"}},
      {"a group by a dimension the rule does not group by",
       one + "    expect: [{at: 0s, rule: cdn_rebuffering, firing: [{platform: iOS}]}]\n",
       {"5:56: tests[0].expect[0].firing[0].platform: \"platform\" is not a group_by dimension "
        "of cdn_rebuffering (group_by: cdn)"}},
      {"a ratio on a per-session rule",
       one + "    expect: [{at: 0s, rule: slow, fired: [{ratio: 0.5}]}]\n",
       {"5:44: tests[0].expect[0].fired[0].ratio: slow is a per-session rule: its incident has "
        "no group, sessions or ratio, only offending"}},
      {"an aggregate the rule does not read",
       one + "    expect: [{at: 0s, rule: cdn_rebuffering, fired: [{p99(latency): 3}]}]\n",
       {"5:55: tests[0].expect[0].fired[0].p99(latency): unknown key (did you mean "
        "\"p95(latency)\"?)"}},
      {"entries out of order",
       one + "    expect:\n      - {at: +2m, rule: slow, firing: false}\n"
             "      - {at: +1m, rule: slow, firing: false}\n",
       {"7:14: tests[0].expect[1].at: is before the previous entry's time, +2m (write expect: "
        "in time order)"}},
      {"an entry that checks nothing",
       one + "    expect: [{at: 0s, rule: slow}]\n",
       {"5:14: tests[0].expect[0]: checks nothing (give fired, resolved, firing, pending, "
        "notified or metrics)"}},
      {"a series that is none",
       one + "    expect: [{at: 0s, metrics: {'qoewatch_rule_firing{rule=slow}': 1}}]\n",
       {"5:60: tests[0].expect[0].metrics.qoewatch_rule_firing{rule=slow}: "
        "\"qoewatch_rule_firing{rule=slow}\" is not a series: expected a value in double quotes "
        "after rule="}},
  };
  for (const mistake& m : table) {
    temp_dir dir;
    std::vector<std::string> want;
    for (const std::string& e : m.errors) want.push_back(dir.file("t.yaml") + ":" + e);
    EXPECT_EQ(texts(load_tests(dir, m.tests)), want) << m.what;
  }
}

TEST(RuleTestSpec, MistakesInTheRuleFilesAreTheirsAndStopTheTests) {
  temp_dir dir;
  const std::string rules =
      dir.write("rules.yaml", "rules:\n  - {name: r, qoefilter: latency >}\n");
  const std::string file = dir.write("t.yaml",
                                     "rule_files: [rules.yaml, none.yaml]\ntests:\n  - name: n\n   "
                                     " expect: [{at: 0s, rule: nothere}]\n");
  ruletest::load_result r = ruletest::load(file);
  EXPECT_FALSE(r.value);
  EXPECT_EQ(texts(r), (std::vector<std::string>{
                          file +
                              ":1:26: rule_files[1]: \"none.yaml\" does not exist (paths are "
                              "relative to the folder of " +
                              file + ")",
                          rules + ":2:35: rules[0].qoefilter: expected a number after '>', found "
                                  "end of text"}));
  const std::string bad = dir.write("bad.yaml", "rule_files: [rules.yaml\ntests: []\n");
  ASSERT_EQ(texts(ruletest::load(bad)).size(), 1u);
  EXPECT_TRUE(texts(ruletest::load(bad))[0].starts_with(bad + ":2:"));
}
