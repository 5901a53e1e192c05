// The real qoewatchd binary, as an operator runs it: exit codes, what goes to stdout and
// stderr, and that the API key never shows.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace fs = std::filesystem;

namespace {

struct run_result {
  int status = -1;
  std::string out;
  std::string err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class qoewatchd : public testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = fs::temp_directory_path() / ("qoewatchd-cli-test-" + std::to_string(rd()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs qoewatchd with `args` (already shell-quoted) and `env` assignments prefixed.
  run_result run(const std::string& args, const std::string& env = "") {
    std::string cmd = "env -i " + env + " " + QOEWATCHD_BINARY + " " + args + " >" +
                      (dir_ / "out").string() + " 2>" + (dir_ / "err").string();
    int rc = std::system(cmd.c_str());
    run_result r;
    r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    r.out = slurp(dir_ / "out");
    r.err = slurp(dir_ / "err");
    return r;
  }

  std::string write(const std::string& name, const std::string& text) {
    fs::path p = dir_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }

  fs::path dir_;
};

int count_lines(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

}  // namespace

TEST_F(qoewatchd, CheckConfigOnTheShippedExamplePrintsOneQueryPerRule) {
  const std::string key = "k3y-NEVER-PRINT-ME";
  run_result r = run("--config " QOEWATCH_SOURCE_DIR "/qoewatch.yaml --check-config",
                     "SMARTSIGHT_API_KEY=" + key);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  // A summary line, where the state is, then one line per rule with its GET; each of the two
  // population rules of rules/population.yaml adds two lines (how it groups, and that its
  // qoefilter is not sent).
  EXPECT_EQ(count_lines(r.out), 13) << r.out;
  EXPECT_NE(r.out.find("\nstate in SQLite at " QOEWATCH_SOURCE_DIR "/build/demo-state\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\n  every row of the window is fetched and judged here; qoefilter "
                       "\"cirrbufferingratio > 2\" is not sent to SmartSight"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("slow_startup_android (every 30s, window 10m, delay 2m, critical, sinks: "
                       "oncall): GET http://127.0.0.1:8480/mm-apis/listsessions/199493832?period="),
            std::string::npos)
      << r.out;
  EXPECT_NE(
      r.out.find("&filter=%5Bplatform%3DAndroid%5D&qoefilter=latency%3E5&limit=1000&offset=0"),
      std::string::npos);
  EXPECT_EQ(r.out.find(key), std::string::npos);
}

TEST_F(qoewatchd, CheckConfigPrintsEveryErrorAndExitsOne) {
  std::string rules = write("rules/bad.yaml", "rules:\n  - name: a\n    qoefilter: latency >\n");
  std::string cfg = write("q.yaml",
                          "smartsight:\n  customer_id: 1\n  api_key_env: K\n  timout: 5s\n"
                          "rule_files: [rules/*.yaml]\n"
                          "rules:\n  - name: b\n    qoefilter: latncy > 5\n");
  run_result r = run("--config " + cfg + " --check-config", "K=secret-value");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, cfg + ":4:3: smartsight.timout: unknown key (did you mean \"timeout\"?)\n" +
                       cfg +
                       ":8:16: rules[0].qoefilter: unknown metric \"latncy\" (did you mean "
                       "\"latency\"? known: latency, cirrbufferingratio, bufferingratio, "
                       "qualityofexperience, playdur, cdn_change_rate, errors, fatalerrors, "
                       "watchtime, starttime, endtime; declare others in "
                       "smartsight.extra_metrics)\n" +
                       rules +
                       ":3:25: rules[0].qoefilter: expected a number after '>', found end of "
                       "text\nqoewatchd: 3 errors in " +
                       cfg + "\n");
}

TEST_F(qoewatchd, MissingKeyIsAnErrorThatNamesTheSourceNotTheKey) {
  std::string cfg = write("q.yaml",
                          "smartsight:\n  customer_id: 1\n  api_key_file: key.txt\n"
                          "rules:\n  - {name: b, qoefilter: latency > 5}\n");
  run_result r = run("--config " + cfg + " --check-config");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, cfg + ":3:17: smartsight.api_key_file: cannot read \"" +
                       (dir_ / "key.txt").string() +
                       "\": No such file or directory\nqoewatchd: 1 "
                       "error in " +
                       cfg + "\n");
  write("key.txt", "very-secret-key\n");
  r = run("--config " + cfg + " --check-config");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.find("very-secret-key"), std::string::npos);
}

TEST_F(qoewatchd, VersionHelpAndBadArguments) {
  run_result r = run("--version");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out.rfind("qoewatchd ", 0), 0u);
  r = run("--help");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("--check-config"), std::string::npos);
  r = run("--bogus");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err.rfind("qoewatchd: unknown argument '--bogus'\nusage:", 0), 0u) << r.err;
  r = run("--config /nonexistent.yaml --check-config");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err,
            "/nonexistent.yaml: cannot read the config file: No such file or directory\n"
            "qoewatchd: 1 error in /nonexistent.yaml\n");
}

TEST_F(qoewatchd, MigrateStateIsInTheUsageAndCopiesOnlyIntoPostgresql) {
  run_result r = run("--help");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("\n       qoewatchd --config FILE --migrate-state SQLITE_FILE\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\n      --migrate-state SQLITE_FILE\n                      copy a stopped "
                       "single node's state"),
            std::string::npos)
      << r.out;

  // A config that keeps the state in SQLite: there is nowhere to copy to.
  const std::string cfg =
      write("q.yaml",
            "smartsight:\n  customer_id: 1\n  api_key_env: K\n"
            "state_dir: state\nrules:\n  - {name: b, qoefilter: latency > 5}\n");
  r = run("--config " + cfg + " --migrate-state " + (dir_ / "old").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "qoewatchd: --migrate-state copies the state into PostgreSQL, and " + cfg +
                       " keeps it in SQLite: give the config the replicas will run "
                       "(state.backend: postgresql, with state.url_file)\n");
  EXPECT_FALSE(fs::exists(dir_ / "state")) << "no state database was created";

  // With --once it would be a daemon and a copy at once.
  r = run("--config " + cfg + " --migrate-state=" + (dir_ / "old").string() + " --once");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err.rfind("qoewatchd: --migrate-state only copies the state; it cannot be combined "
                        "with --once, --dry-run, --check-config or --dead-letters\nusage:",
                        0),
            0u)
      << r.err;
}

TEST_F(qoewatchd, MigrateStateAndDeadLettersReadPostgresqlsUrlAsASecret) {
  const std::string cfg = write("q.yaml",
                                "smartsight:\n  customer_id: 1\n  api_key_env: K\n"
                                "state:\n  backend: postgresql\n  url_file: pg_url\n"
                                "rules:\n  - {name: b, qoefilter: latency > 5}\n");
  const std::string expected = cfg + ":6:13: state.url_file: cannot read \"" +
                               (dir_ / "pg_url").string() + "\": No such file or directory\n";
  for (const std::string& what :
       {"--migrate-state " + (dir_ / "old").string(), std::string("--dead-letters")}) {
    run_result r = run("--config " + cfg + " " + what, "K=secret-value");
    EXPECT_EQ(r.status, 1) << what;
    EXPECT_EQ(r.out, "") << what;
    EXPECT_EQ(r.err, expected) << what;
  }
}

// --test-rules: a rule test file borrowing the example config's settings (oncall, 60 s / 10m
// / 2m defaults), testing the shipped startup rules.
const std::string rule_test_head = "config: " QOEWATCH_SOURCE_DIR
                                   "/qoewatch.yaml\n"
                                   "rule_files: [" QOEWATCH_SOURCE_DIR "/rules/startup.yaml]\n";
const std::string rule_test_sessions = R"(tests:
  - name: a slow Android start
    sessions:
      - {sessionid: a1, endtime: -3m, platform: Android, latency: 7.2}
      - {sessionid: a2, endtime: +2m, platform: Android, latency: 8}
    expect:
      - at: 0s
        rule: slow_startup_android
        fired: [{offending: 1}]
        notified: [a1]
        metrics:
          'qoewatch_rule_firing{rule="slow_startup_android"}': 1
          'qoewatch_notified_sessions': 1
)";

TEST_F(qoewatchd, TestRulesPassesAndReadsTheMetricsTheDaemonExports) {
  const std::string file = write("t.yaml", rule_test_head + rule_test_sessions + R"(
      - at: +4m30s
        rule: slow_startup_android
        notified: [a2]
        metrics:
          'qoewatch_rule_new_offending_sessions_total{rule="slow_startup_android"}': 2
          'qoewatch_rule_offending_sessions{rule="slow_startup_android"}': 2
          'qoewatch_source_up{rule="very_slow_startup"}': 1
          'qoewatch_notified_sessions': 2
)");
  run_result r = run("--test-rules " + file);
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(r.out, file + ": 1 test, 1 passed\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(qoewatchd, TestRulesPrintsTheDiffOfAFailureWithItsLineAndExitsOne) {
  const std::string file = write("t.yaml", rule_test_head + rule_test_sessions + R"(
      - at: +4m30s
        rule: slow_startup_android
        notified: [a1, a3]
        metrics:
          'qoewatch_rule_offending_sessions{rule="slow_startup_android"}': 3
)");
  const std::string passing = write("ok.yaml", rule_test_head + rule_test_sessions);
  run_result r = run("--test-rules " + file + " " + passing);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, file +
                       ":19: test \"a slow Android start\", at +4m30s: rule "
                       "slow_startup_android: notified\n"
                       "  expected: [a1, a3]\n"
                       "  got:      [a2]\n"
                       "  missing: a1, a3\n"
                       "  unexpected: a2\n" +
                       file +
                       ":21: test \"a slow Android start\", at +4m30s: metric "
                       "qoewatch_rule_offending_sessions{rule=\"slow_startup_android\"}\n"
                       "  expected: 3\n"
                       "  got:      2\n" +
                       file + ": 1 test, 0 passed, 1 failed\n" + passing +
                       ": 1 test, 1 passed\n2 files: 2 tests, 1 passed, 1 failed\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(qoewatchd, TestRulesReportsAMalformedFileWithLineAndColumnAndRunsNothing) {
  const std::string file = write("t.yaml", rule_test_head + R"(tests:
  - name: typo
    sessions: [{sessionid: a1, endtime: -3 min, platform: Android}]
    expect: [{at: 0s, rule: slow_startup_androd, firing: true}]
)");
  run_result r = run("--test-rules " + file);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, file +
                       ":5:41: tests[0].sessions[0].endtime: \"-3 min\" is not a time (write an "
                       "offset from the test's start: -3m, +90s, 0s; or an RFC 3339 time: "
                       "2024-01-01T00:02:00Z)\n" +
                       file +
                       ":6:29: tests[0].expect[0].rule: no rule named \"slow_startup_androd\" in "
                       "the test's rule files (did you mean \"slow_startup_android\"?)\n"
                       "qoewatchd: 2 errors in " +
                       file + "; its tests were not run\n");
  // A file that is not there is an error too, and takes no --config.
  r = run("--test-rules " + (dir_ / "none.yaml").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, (dir_ / "none.yaml").string() +
                       ": cannot read the test file: No such file or directory\nqoewatchd: 1 "
                       "error in " +
                       (dir_ / "none.yaml").string() + "; its tests were not run\n");
}

TEST_F(qoewatchd, EveryShippedRuleHasTestsAndTheyPass) {
  // Each rules/X.yaml has rules/tests/X.yaml, which tests it and checks each of its rules.
  std::string files;
  for (const auto& entry : fs::directory_iterator(QOEWATCH_SOURCE_DIR "/rules")) {
    if (entry.path().extension() != ".yaml") continue;
    const fs::path tests = fs::path(QOEWATCH_SOURCE_DIR "/rules/tests") / entry.path().filename();
    ASSERT_TRUE(fs::exists(tests)) << entry.path() << " has no tests";
    const std::string rules = slurp(entry.path()), test = slurp(tests);
    EXPECT_NE(test.find("../" + entry.path().filename().string()), std::string::npos) << tests;
    for (std::size_t at = rules.find("- name: "); at != std::string::npos;
         at = rules.find("- name: ", at + 1)) {
      const std::string name = rules.substr(at + 8, rules.find('\n', at) - at - 8);
      EXPECT_NE(test.find("rule: " + name + "\n"), std::string::npos)
          << tests << " never checks " << name;
    }
    files += " " + tests.string();
  }
  run_result r = run("--test-rules" + files);
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("3 files: "), std::string::npos) << r.out;
}
