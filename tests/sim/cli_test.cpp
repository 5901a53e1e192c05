// Command-line parsing: the fixed options, defaults, additions and every error text.
#include "core/cli.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace {

using namespace qoewatch::sim;

cli_result parse(std::vector<std::string_view> args,
                 std::map<std::string, std::string, std::less<>> env = {{"SS_KEY", "k3y"}}) {
  return parse_cli(args, [&env](std::string_view name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  });
}

std::vector<std::string_view> base() {
  return {"--listen", "127.0.0.1:0", "--customer-id", "1234", "--api-key-env", "SS_KEY"};
}

std::string error_of(std::vector<std::string_view> args) {
  cli_result r = parse(args);
  EXPECT_FALSE(r);
  return r.error;
}

std::vector<std::string_view> plus(std::vector<std::string_view> more) {
  std::vector<std::string_view> a = base();
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

TEST(Cli, RequiredOptionsAndDefaults) {
  cli_result r = parse(base());
  ASSERT_TRUE(r) << r.error;
  const cli_options& o = *r.value;
  EXPECT_EQ(o.listen_host, "127.0.0.1");
  EXPECT_EQ(o.listen_port, 0);
  EXPECT_EQ(o.customer_id, "1234");
  EXPECT_EQ(o.api_key_env, "SS_KEY");
  EXPECT_EQ(o.api_key, "k3y");
  EXPECT_EQ(o.seed, 1u);
  EXPECT_EQ(o.rate_per_min, 60);
  EXPECT_EQ(o.backlog, 0);
  EXPECT_TRUE(o.scenario_file.empty());
  EXPECT_TRUE(o.tls_cert.empty());
  EXPECT_EQ(o.query.counters, counters_mode::records);
  EXPECT_FALSE(o.query.extra_counters);
  EXPECT_FALSE(o.query.require_listed_fields);
  EXPECT_FALSE(o.help);
}

TEST(Cli, EveryOption) {
  cli_result r = parse({"--listen=[::1]:8443",
                        "--customer-id",
                        "cust_7",
                        "--api-key-env=SS_KEY",
                        "--seed",
                        "42",
                        "--rate",
                        "2.5",
                        "--backlog",
                        "500",
                        "--backlog-window",
                        "1h30m",
                        "--scenario",
                        "s.yaml",
                        "--tls-cert",
                        "c.pem",
                        "--tls-key",
                        "k.pem",
                        "--counters",
                        "pages",
                        "--extra-counters",
                        "--require-listed-fields"});
  ASSERT_TRUE(r) << r.error;
  const cli_options& o = *r.value;
  EXPECT_EQ(o.listen_host, "::1");
  EXPECT_EQ(o.listen_port, 8443);
  EXPECT_EQ(o.customer_id, "cust_7");
  EXPECT_EQ(o.seed, 42u);
  EXPECT_EQ(o.rate_per_min, 2.5);
  EXPECT_EQ(o.backlog, 500);
  EXPECT_EQ(o.backlog_window_seconds, 5400);
  EXPECT_EQ(o.scenario_file, "s.yaml");
  EXPECT_EQ(o.tls_cert, "c.pem");
  EXPECT_EQ(o.tls_key, "k.pem");
  EXPECT_EQ(o.query.counters, counters_mode::pages);
  EXPECT_TRUE(o.query.extra_counters);
  EXPECT_TRUE(o.query.require_listed_fields);
  ASSERT_TRUE(parse(plus({"--rate", "0"})));
  EXPECT_EQ(parse(plus({"--rate", "0"})).value->rate_per_min, 0);
  r = parse({"--listen", "localhost:8080", "--customer-id", "1", "--api-key-env", "SS_KEY"});
  ASSERT_TRUE(r) << r.error;
  EXPECT_EQ(r.value->listen_host, "localhost");
  EXPECT_EQ(r.value->listen_port, 8080);
  EXPECT_EQ(error_of(plus({"--listen", "127.0.0.1:1"})), "--listen: given more than once");
}

TEST(Cli, HelpNeedsNothingElse) {
  cli_result r = parse({"--help"}, {});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r.value->help);
  EXPECT_NE(usage_text().find("--listen HOST:PORT"), std::string::npos);
  EXPECT_NE(usage_text().find("--counters records|pages"), std::string::npos);
}

TEST(Cli, ErrorTexts) {
  EXPECT_EQ(error_of({}), "--listen HOST:PORT is required");
  EXPECT_EQ(error_of({"--listen", "127.0.0.1:0"}), "--customer-id ID is required");
  EXPECT_EQ(error_of({"--listen", "127.0.0.1:0", "--customer-id", "1"}),
            "--api-key-env NAME is required");
  EXPECT_EQ(error_of(plus({"--port", "80"})), "unknown option --port (see --help)");
  EXPECT_EQ(error_of(plus({"stray"})), "unexpected argument \"stray\"");
  EXPECT_EQ(error_of(plus({"--seed"})), "--seed: missing value");
  EXPECT_EQ(error_of(plus({"--seed", "-3"})), "--seed: \"-3\" is not a non-negative integer");
  EXPECT_EQ(error_of(plus({"--seed", "1", "--seed", "2"})), "--seed: given more than once");
  EXPECT_EQ(error_of(plus({"--rate", "fast"})),
            "--rate: \"fast\" is not a number of sessions per minute from 0 to 1000");
  EXPECT_EQ(error_of(plus({"--rate", "-1"})),
            "--rate: \"-1\" is not a number of sessions per minute from 0 to 1000");
  EXPECT_EQ(error_of(plus({"--rate", "1001"})),
            "--rate: \"1001\" is not a number of sessions per minute from 0 to 1000");
  EXPECT_EQ(error_of(plus({"--backlog", "x"})),
            "--backlog: \"x\" is not a count from 0 to 1000000");
  EXPECT_EQ(error_of(plus({"--backlog", "5", "--backlog-window", "10"})),
            "--backlog-window: \"10\" is not a duration of at least 1s (use 30s, 5m, 1h)");
  EXPECT_EQ(error_of(plus({"--backlog-window", "10m"})),
            "--backlog-window: only meaningful with --backlog N");
  EXPECT_EQ(error_of(plus({"--tls-cert", "c.pem"})),
            "--tls-cert and --tls-key must be given together");
  EXPECT_EQ(error_of(plus({"--counters", "rows"})),
            "--counters: must be records or pages, not \"rows\"");
  EXPECT_EQ(error_of(plus({"--extra-counters=yes"})), "--extra-counters: takes no value");
  EXPECT_EQ(error_of({"--listen", "8080", "--customer-id", "1", "--api-key-env", "SS_KEY"}),
            "--listen: \"8080\" is not HOST:PORT (e.g. 127.0.0.1:8080)");
  EXPECT_EQ(error_of({"--listen", "h:70000", "--customer-id", "1", "--api-key-env", "SS_KEY"}),
            "--listen: \"70000\" is not a port (0..65535)");
  EXPECT_EQ(error_of({"--listen", "h:1", "--customer-id", "12/3", "--api-key-env", "SS_KEY"}),
            "--customer-id: \"12/3\" is not an id (letters, digits, - and _)");
  cli_result r = parse(base(), {});
  EXPECT_EQ(r.error, "--api-key-env: environment variable SS_KEY is not set or empty");
  r = parse(base(), {{"SS_KEY", ""}});
  EXPECT_EQ(r.error, "--api-key-env: environment variable SS_KEY is not set or empty");
}

TEST(Cli, ErrorsNeverContainTheKey) {
  // The key only travels in cli_options::api_key.
  cli_result r = parse(plus({"--counters", "k3y"}));
  EXPECT_EQ(r.error, "--counters: must be records or pages, not \"k3y\"");  // the user's own text
  r = parse(plus({"--rate", "x"}));
  EXPECT_EQ(r.error.find("k3y"), std::string::npos);
}

}  // namespace
