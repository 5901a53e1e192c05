// The command line of the backtest and the rule tests: what each mode accepts and refuses.
#include <gtest/gtest.h>

#include "cli/options.hpp"

using namespace qoewatch;

TEST(CliBacktest, TakesItsSpanRulesAndOutputInEitherForm) {
  auto p = cli::parse({"--config", "q.yaml", "--backtest", "--from", "-7d", "--to=-1h", "--rule",
                       "a", "--rule=b", "--output", "json", "--timezone", "Europe/Paris"});
  ASSERT_TRUE(p) << p.error;
  EXPECT_TRUE(p.value->backtest);
  EXPECT_EQ(p.value->from, "-7d");
  EXPECT_EQ(p.value->to, "-1h");
  EXPECT_EQ(p.value->rules, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(p.value->output, "json");
  EXPECT_EQ(p.value->timezone, "Europe/Paris");

  p = cli::parse({"-c", "q.yaml", "--backtest", "--from=2026-12-01T00:00:00Z"});
  ASSERT_TRUE(p) << p.error;
  EXPECT_EQ(p.value->to, "");
  EXPECT_EQ(p.value->output, "text");
  EXPECT_EQ(p.value->timezone, "UTC");
  EXPECT_TRUE(p.value->rules.empty());
}

TEST(CliBacktest, RefusesWhatCannotGoWithIt) {
  struct row {
    std::vector<std::string_view> args;
    std::string error;
  };
  const std::vector<row> rows = {
      {{"-c", "q.yaml", "--backtest"},
       "--backtest needs --from TIME (RFC 3339, or relative: -7d, -36h)"},
      {{"-c", "q.yaml", "--from", "-7d"},
       "--from, --to, --rule, --output and --timezone belong to --backtest"},
      {{"-c", "q.yaml", "--rule", "x"},
       "--from, --to, --rule, --output and --timezone belong to --backtest"},
      {{"-c", "q.yaml", "--backtest", "--from", "-1d", "--dry-run"},
       "--backtest replays the past and sends nothing; it cannot be combined with --once, "
       "--dry-run, --check-config, --dead-letters or --migrate-state"},
      {{"-c", "q.yaml", "--backtest", "--from", "-1d", "--output", "csv"},
       "unknown output format 'csv' (use text or json)"},
      {{"-c", "q.yaml", "--backtest", "--from"},
       "--from needs a time (RFC 3339, or relative: -7d)"},
      {{"--backtest", "--from", "-1d"}, "--config FILE is required"},
  };
  for (const row& r : rows) {
    cli::parse_result p = cli::parse(r.args);
    EXPECT_FALSE(p) << r.error;
    EXPECT_EQ(p.error, r.error);
  }
}

TEST(CliTestRules, TakesEveryFileThatFollowsAndNeedsNoConfig) {
  auto p = cli::parse({"--test-rules", "rules/tests/a.yaml", "rules/tests/b.yaml"});
  ASSERT_TRUE(p) << p.error;
  EXPECT_EQ(p.value->test_files,
            (std::vector<std::string>{"rules/tests/a.yaml", "rules/tests/b.yaml"}));
  p = cli::parse({"--test-rules", "t.yaml", "--log-level", "warn"});
  ASSERT_TRUE(p) << p.error;
  EXPECT_EQ(p.value->test_files, (std::vector<std::string>{"t.yaml"}));
  EXPECT_EQ(p.value->log_level, "warn");

  EXPECT_EQ(cli::parse({"--test-rules"}).error, "--test-rules needs one or more test files");
  EXPECT_EQ(cli::parse({"--test-rules", "t.yaml", "-c", "q.yaml"}).error,
            "--test-rules runs test files alone; it takes no --config and cannot be combined "
            "with other modes");
}
