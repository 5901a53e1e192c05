// The config contract: what loads, what the defaults are, and the exact error texts an
// operator reads (file:line:column: key.path: what is wrong (what would be right)).
#include "config/load.hpp"

#include <gtest/gtest.h>

#include "config_fixtures.hpp"

namespace fs = std::filesystem;
using namespace qoewatch;
using namespace qoewatch::testing_config;
using namespace std::chrono_literals;

TEST(Config, MinimalFileGetsDocumentedDefaults) {
  config::load_result r = config::load_from_string(minimal, "c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  const config::daemon_config& c = *r.config;
  EXPECT_EQ(c.smartsight.base_url, "https://smartsight3.mediamelon.com");
  EXPECT_EQ(c.smartsight.customer_id, 42u);
  EXPECT_EQ(c.smartsight.api_key_env, "QW_TEST_KEY");
  EXPECT_EQ(c.smartsight.timeout, 15s);
  EXPECT_EQ(c.smartsight.page_size, 1000);
  EXPECT_EQ(c.listen, "0.0.0.0:9786");
  EXPECT_EQ(c.state_dir, "/var/lib/qoewatch");
  ASSERT_EQ(c.rules.size(), 1u);
  const config::rule_config& rule = c.rules[0];
  EXPECT_EQ(rule.name, "slow");
  EXPECT_EQ(rule.interval, 60s);
  EXPECT_EQ(rule.window, 10min);
  EXPECT_EQ(rule.delay, 2min);
  EXPECT_EQ(rule.severity, config::severity::warning);
  EXPECT_EQ(rules::to_string(rule.condition), "latency > 5");
  EXPECT_TRUE(rule.sinks.empty());
  EXPECT_EQ(rule.where.line, 5);
  EXPECT_EQ(rule.where.column, 5);
}

TEST(Config, FullExampleFromTheIssueLoads) {
  temp_dir dir;
  dir.write("rules/android.yaml", R"(rules:
  - name: slow_startup_android
    description: Startup over 5 s on Android
    filter: "[platform=Android]"
    qoefilter: "latency > 5"
    fields: [assetname, cdn, sourcetype]
    interval: 30s
    window: 10m
    delay: 2m
    severity: critical
    labels: {team: player}
    sinks: [oncall]
)");
  std::string main = dir.write("qoewatch.yaml", R"(smartsight:
  base_url: https://smartsight3.mediamelon.com/
  customer_id: 199493832
  api_key_file: secrets/key
  timeout: 15s
  page_size: 500
listen: 0.0.0.0:9786
state_dir: state
rule_files: [rules/*.yaml]
defaults: {interval: 60s, window: 10m, delay: 90s}
sinks:
  - name: oncall
    type: webhook
    url: https://hooks.example.com/qoe
  - name: audit
    type: webhook
    url: http://127.0.0.1:9000/x
rules:
  - name: inline_rule
    qoefilter: "cirrbufferingratio > 5"
)");
  config::load_result r = config::load(main);
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  const config::daemon_config& c = *r.config;
  EXPECT_EQ(c.smartsight.base_url, "https://smartsight3.mediamelon.com");  // trailing / dropped
  EXPECT_EQ(c.smartsight.api_key_file, (dir.path() / "secrets/key").string());
  EXPECT_EQ(c.state_dir, (dir.path() / "state").string());
  EXPECT_EQ(c.smartsight.page_size, 500);
  ASSERT_EQ(c.sinks.size(), 2u);
  ASSERT_EQ(c.rules.size(), 2u);
  // Inline rules first, then rule files.
  EXPECT_EQ(c.rules[0].name, "inline_rule");
  EXPECT_EQ(c.rules[0].delay, 90s);                                            // from defaults
  EXPECT_EQ(c.rules[0].sinks, (std::vector<std::string>{"oncall", "audit"}));  // no key: all
  const config::rule_config& a = c.rules[1];
  EXPECT_EQ(a.name, "slow_startup_android");
  EXPECT_EQ(a.description, "Startup over 5 s on Android");
  EXPECT_EQ(a.filter_text, "[platform=Android]");
  ASSERT_EQ(a.filter.groups.size(), 1u);
  EXPECT_EQ(a.filter.groups[0].dimension, "platform");
  EXPECT_EQ(a.fields, (std::vector<std::string>{"assetname", "cdn", "sourcetype"}));
  EXPECT_EQ(a.interval, 30s);
  EXPECT_EQ(a.severity, config::severity::critical);
  EXPECT_EQ(a.labels.at("team"), "player");
  EXPECT_EQ(a.sinks, (std::vector<std::string>{"oncall"}));
  EXPECT_EQ(a.where.file, (dir.path() / "rules/android.yaml").string());
}

TEST(Config, ShippedExampleConfigAndRulesAreValid) {
  config::load_result r = config::load(QOEWATCH_SOURCE_DIR "/qoewatch.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  EXPECT_GE(r.config->rules.size(), 5u);
}

TEST(Config, ErrorTextsArePinned) {
  struct row {
    const char* yaml;
    const char* error;
  };
  const row rows[] = {
      {"smartsight:\n  customer_id: 1\n  api_key_env: K\n  timout: 5s\nrules: []\n",
       "c.yaml:4:3: smartsight.timout: unknown key (did you mean \"timeout\"?)"},
      {"smartsight:\n  customer_id: 1\n  api_key_env: K\n  api_key: abc123secret\nrules: []\n",
       "c.yaml:4:3: smartsight.api_key: a literal API key does not belong in the config file (put "
       "it in a file named by api_key_file, or an environment variable named by api_key_env)"},
      {"smartsight:\n  api_key_env: K\nrules: []\n",
       "c.yaml:2:3: smartsight.customer_id: missing (required: the numeric SmartSight customer "
       "id)"},
      {"smartsight:\n  customer_id: 1\nrules: []\n",
       "c.yaml:2:3: smartsight.api_key_file: missing (set api_key_file: PATH or api_key_env: NAME "
       "to say where the API key is)"},
      {"smartsight:\n  customer_id: 1\n  api_key_env: K\n  api_key_file: /k\nrules: []\n",
       "c.yaml:3:16: smartsight.api_key_env: api_key_file and api_key_env are both set (keep one)"},
      {"smartsight:\n  customer_id: x1\n  api_key_env: K\nrules: []\n",
       "c.yaml:2:16: smartsight.customer_id: \"x1\" is not a whole number (the numeric customer "
       "id, "
       "1 to 9223372036854775807)"},
      {"smartsight:\n  customer_id: 1\n  api_key_env: K\n  page_size: 0\nrules: []\n",
       "c.yaml:4:14: smartsight.page_size: 0 is out of range (rows per request, 1 to 100000)"},
      {"smartsight:\n  customer_id: 1\n  api_key_env: K\n  base_url: ftp://x\nrules: []\n",
       "c.yaml:4:13: smartsight.base_url: scheme \"ftp\" is not supported (write "
       "http://host[:port][/path] or https://...)"},
      {"smartsight:\n  customer_id: 1\n  api_key_env: K\n  base_url: https://u:pw@h\nrules: []\n",
       "c.yaml:4:13: smartsight.base_url: credentials in the URL are not allowed (they would end "
       "up in logs; use a header or a secret file)"},
      {"smartsight: {customer_id: 1, api_key_env: K}\nlisten: 9786\nrules: []\n",
       "c.yaml:2:9: listen: \"9786\" is not HOST:PORT (write 0.0.0.0:9786, 127.0.0.1:9786 or "
       "[::]:9786)"},
      {"smartsight: {customer_id: 1, api_key_env: K}\ndefaults: {window: 10x}\nrules: []\n",
       "c.yaml:2:20: defaults.window: \"10x\" is not a duration (use 30s, 5m, 1h)"},
      {"smartsight: {customer_id: 1, api_key_env: K}\nrulez: []\n",
       "c.yaml:2:1: rulez: unknown key (did you mean \"rules\"?)"},
      {"smartsight: {customer_id: 1, api_key_env: K}\nrules:\n  - name: r\n    qoefilter: "
       "\"latency > 5 AND\"\n",
       "c.yaml:4:32: rules[0].qoefilter: expected a metric name, found end of text"},
      {"smartsight: {customer_id: 1, api_key_env: K}\nrules:\n  - name: r\n    qoefilter: "
       "latency >> 5\n",
       "c.yaml:4:25: rules[0].qoefilter: expected a number after '>', found '>'"},
      {"smartsight: {customer_id: 1, api_key_env: K}\nrules:\n  - name: r\n    qoefilter: "
       "\"latency > 5 AND latncy > 2\"\n",
       "c.yaml:4:33: rules[0].qoefilter: unknown metric \"latncy\" (did you mean \"latency\"? "
       "known: "
       "latency, cirrbufferingratio, bufferingratio, qualityofexperience, playdur, "
       "cdn_change_rate, errors, fatalerrors, watchtime, starttime, endtime; declare others in "
       "smartsight.extra_metrics)"},
      {"smartsight: {customer_id: 1, api_key_env: K}\nrules:\n  - name: r\n    qoefilter: "
       "latency > 5\n    filter: \"[platform=Android\"\n",
       "c.yaml:5:14: rules[0].filter: '[' is never closed"},
      {"smartsight: {customer_id: 1, api_key_env: K}\nrules:\n  - name: r\n    qoefilter: "
       "latency > 5\n    windw: 5m\n",
       "c.yaml:5:5: rules[0].windw: unknown key (did you mean \"window\"?)"},
      {"smartsight: {customer_id: 1, api_key_env: K}\nrules:\n  - name: r\n    qoefilter: "
       "latency > 5\n    window: 10x\n",
       "c.yaml:5:13: rules[0].window: \"10x\" is not a duration (use 30s, 5m, 1h)"},
      {"smartsight: {customer_id: 1, api_key_env: K}\nrules:\n  - name: r\n    qoefilter: "
       "latency > 5\n    window: 30s\n",
       "c.yaml:5:13: rules[0].window: window 30s is shorter than interval 1m, so sessions ending "
       "between polls would never be checked (make window at least the interval)"},
      {"smartsight: {customer_id: 1, api_key_env: K}\nrules:\n  - name: 2fast\n    qoefilter: "
       "latency > 5\n",
       "c.yaml:3:11: rules[0].name: \"2fast\" is not a valid rule name (letters, digits, _; not "
       "starting with a digit)"},
      {"smartsight: {customer_id: 1, api_key_env: K}\nrules:\n  - name: r\n",
       "c.yaml:3:5: rules[0].qoefilter: missing (required: the condition, e.g. \"latency > 5\")"},
      {"smartsight: {customer_id: 1, api_key_env: K}\nrules:\n  - name: r\n    qoefilter: "
       "latency > 5\n    severity: crit\n",
       "c.yaml:5:15: rules[0].severity: \"crit\" is not a severity (did you mean \"critical\"? use "
       "critical, error, warning or info)"},
      {"smartsight: {customer_id: 1, api_key_env: K}\nrules:\n  - name: r\n    qoefilter: "
       "latency > 5\n    labels: {alertname: x}\n",
       "c.yaml:5:14: rules[0].labels.alertname: \"alertname\" is set by qoewatch itself (choose "
       "another label name)"},
      {"smartsight: {customer_id: 1, api_key_env: K}\nsinks:\n  - {name: oncall, type: webhook, "
       "url: \"http://h/\"}\nrules:\n  - name: r\n    qoefilter: latency > 5\n    sinks: "
       "[oncal]\n",
       "c.yaml:7:13: rules[0].sinks[0]: no sink named \"oncal\" (did you mean \"oncall\"?)"},
      {"smartsight: {customer_id: 1, api_key_env: K}\nsinks:\n  - {name: a, type: slak, url: "
       "\"http://h/\"}\nrules: []\n",
       "c.yaml:3:21: sinks[0].type: unknown sink type \"slak\" (did you mean \"slack\"? "
       "supported: webhook, alertmanager, slack, pagerduty)"},
      {"smartsight: {customer_id: 1, api_key_env: K}\nrules:\n  - {name: r, qoefilter: latency > "
       "5}\n  - {name: r, qoefilter: errors > 0}\n",
       "c.yaml:4:5: rules: rule name \"r\" is already used at c.yaml:3:5 (rule names must be "
       "unique)"},
      {"smartsight: {customer_id: 1, api_key_env: K}\nrules: []\n",
       "c.yaml: no rules are defined (add rules: here or rule files matching rule_files:; a daemon "
       "without rules would watch nothing)"},
      {"smartsight: {customer_id: 1\n", "c.yaml:2:1: not valid YAML: end of map flow not found"},
      {"", "c.yaml: the file is empty (it needs at least smartsight: and rules)"},
  };
  for (const row& r : rows) {
    std::vector<std::string> got = errors_of(r.yaml);
    ASSERT_FALSE(got.empty()) << "no error for:\n" << r.yaml;
    EXPECT_EQ(got.front(), r.error) << "for:\n" << r.yaml;
  }
}

TEST(Config, SecretValuesNeverAppearInErrors) {
  std::vector<std::string> got = errors_of(
      "smartsight:\n  customer_id: 1\n  api_key: abc123secret\n  base_url: "
      "https://user:hunter2@h\nrules: []\n");
  ASSERT_GE(got.size(), 2u);
  for (const std::string& e : got) {
    EXPECT_EQ(e.find("abc123secret"), std::string::npos) << e;
    EXPECT_EQ(e.find("hunter2"), std::string::npos) << e;
  }
}

TEST(Config, EveryErrorIsReportedInFileOrder) {
  std::vector<std::string> got = errors_of(R"(smartsight:
  customer_id: abc
  api_key_env: K
  timout: 5s
rules:
  - name: a
    qoefilter: "latncy > 5"
  - name: b
    qoefilter: latency > 5
    window: 10x
)");
  ASSERT_EQ(got.size(), 4u) << testing::PrintToString(got);
  EXPECT_EQ(got[0].substr(0, 11), "c.yaml:2:16");
  EXPECT_EQ(got[1].substr(0, 10), "c.yaml:4:3");
  EXPECT_EQ(got[2].substr(0, 11), "c.yaml:7:17");
  EXPECT_EQ(got[3].substr(0, 12), "c.yaml:10:13");
}

TEST(Config, RuleFileErrorsNameTheRuleFile) {
  temp_dir dir;
  std::string rules = dir.write("rules/r.yaml", "rules:\n  - name: x\n    qoefilter: latency >\n");
  dir.write("rules/other.yaml", "rulez: []\n");
  std::string main =
      dir.write("q.yaml",
                "smartsight: {customer_id: 1, api_key_env: K}\nrule_files: [rules/*.yaml, "
                "nothere.yaml]\n");
  std::vector<std::string> got = texts(config::load(main));
  ASSERT_EQ(got.size(), 3u) << testing::PrintToString(got);
  EXPECT_EQ(got[0], main +
                        ":2:28: rule_files[1]: \"nothere.yaml\" does not exist (paths are "
                        "relative to the folder of " +
                        main + ")");
  EXPECT_EQ(got[1], dir.path().string() +
                        "/rules/other.yaml:1:1: rulez: unknown key (did you "
                        "mean \"rules\"?)");
  EXPECT_EQ(got[2], rules +
                        ":3:25: rules[0].qoefilter: expected a number after '>', found end "
                        "of text");
}

TEST(Config, RuleNamesAreUniqueAcrossFiles) {
  temp_dir dir;
  std::string a = dir.write("rules/a.yaml", "rules:\n  - {name: dup, qoefilter: latency > 5}\n");
  std::string b = dir.write("rules/b.yaml", "rules:\n  - {name: dup, qoefilter: errors > 1}\n");
  std::string main = dir.write(
      "q.yaml", "smartsight: {customer_id: 1, api_key_env: K}\nrule_files: [rules/*.yaml]\n");
  std::vector<std::string> got = texts(config::load(main));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], b + ":2:5: rules: rule name \"dup\" is already used at " + a +
                        ":2:5 (rule names must be unique)");
}

TEST(Config, FetchLimitsAndSinkBatchSize) {
  const char* yaml = R"(smartsight:
  customer_id: 1
  api_key_env: K
  ca_file: certs/ca.pem
  max_response_bytes: 8MiB
  max_pages: 20
  max_concurrency: 2
sinks:
  - {name: a, type: webhook, url: "http://h/", max_sessions_per_notification: 7}
  - {name: b, type: webhook, url: "http://h/"}
rules:
  - {name: r, qoefilter: latency > 5}
)";
  config::load_result r = config::load_from_string(yaml, "/etc/q/c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  EXPECT_EQ(r.config->smartsight.ca_file, "/etc/q/certs/ca.pem");
  EXPECT_EQ(r.config->smartsight.max_response_bytes, 8u << 20);
  EXPECT_EQ(r.config->smartsight.max_pages, 20);
  EXPECT_EQ(r.config->smartsight.max_concurrency, 2);
  EXPECT_EQ(r.config->sinks[0].max_sessions_per_notification, 7u);
  EXPECT_EQ(r.config->sinks[1].max_sessions_per_notification, 100u);

  config::load_result d = config::load_from_string(minimal, "c.yaml");
  ASSERT_TRUE(d.config);
  EXPECT_EQ(d.config->smartsight.max_response_bytes, 64u << 20);
  EXPECT_EQ(d.config->smartsight.max_pages, 100);
  EXPECT_EQ(d.config->smartsight.max_concurrency, 4);
  EXPECT_EQ(d.config->smartsight.ca_file, "");

  EXPECT_EQ(errors_of("smartsight: {customer_id: 1, api_key_env: K, max_response_bytes: 64MB}\n"
                      "rules: [{name: r, qoefilter: latency > 5}]\n"),
            std::vector<std::string>{"c.yaml:1:66: smartsight.max_response_bytes: \"64MB\" is not "
                                     "a size (use 67108864, 512KiB, 64MiB or 1GiB)"});
  EXPECT_EQ(errors_of("smartsight: {customer_id: 1, api_key_env: K, max_concurrency: 0}\n"
                      "rules: [{name: r, qoefilter: latency > 5}]\n"),
            std::vector<std::string>{"c.yaml:1:63: smartsight.max_concurrency: 0 is out of range "
                                     "(requests in flight across all rules, 1 to 64)"});
}

TEST(Config, ExtraMetricsExtendTheDictionary) {
  const char* yaml = R"(smartsight:
  customer_id: 1
  api_key_env: K
  extra_metrics: [exitbeforevideostart]
rules:
  - name: ebvs
    qoefilter: exitbeforevideostart > 0
)";
  config::load_result r = config::load_from_string(yaml, "c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  EXPECT_EQ(r.config->smartsight.extra_metrics, std::vector<std::string>{"exitbeforevideostart"});
}

TEST(Config, MissingConfigFileIsAClearError) {
  std::vector<std::string> got = texts(config::load("/nonexistent/q.yaml"));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], "/nonexistent/q.yaml: cannot read the config file: No such file or directory");
}

TEST(Config, NearestSuggestsOnlyCloseNames) {
  EXPECT_EQ(config::nearest("intervall", {"interval", "window"}), "interval");
  EXPECT_EQ(config::nearest("WINDOW", {"interval", "window"}), "window");
  EXPECT_EQ(config::nearest("zzzzzz", {"interval", "window"}), "");
}

TEST(Config, EverySinkTypeWithItsSettings) {
  temp_dir dir;
  dir.write("pd.key", "R0UTINGKEY\n");
  dir.write("hook.secret", "whsec_aGVsbG8=\n");
  dir.write("chat.url", "https://hooks.slack.com/services/T/B/FROMFILE\n");
  std::string path = dir.write("c.yaml", R"(smartsight: {customer_id: 1, api_key_env: QW_SINK_KEY}
max_catchup: 30m
sinks:
  - name: hook
    type: webhook
    url: "http://h:8/qoe"
    headers: {Authorization: "Bearer t0ken", X-Team: video}
    secret_file: hook.secret
    summary: "{{rule}}: {{count}} sessions"
    max_age: 2h
    rate_limit: 2.5
    burst: 3
  - {name: am, type: alertmanager, urls: ["http://am1:9093/", "http://am2:9093"]}
  - {name: chat, type: slack, url: "https://hooks.slack.com/services/T/B/X"}
  - {name: pd, type: pagerduty, routing_key_file: pd.key}
  - {name: chat2, type: slack, url_file: chat.url}
rules:
  - {name: r, qoefilter: latency > 5, min_sessions: 3, resolve_after: 4}
)");
  config::secrets secrets;
  config::load_result r =
      config::load_with_secrets(path, secrets, with_env({{"QW_SINK_KEY", "k"}}));
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  const config::daemon_config& c = *r.config;
  EXPECT_EQ(c.max_catchup, 30min);
  ASSERT_EQ(c.sinks.size(), 5u);
  const config::sink_config& hook = c.sinks[0];
  EXPECT_EQ(hook.headers.at("Authorization"), "Bearer t0ken");
  EXPECT_EQ(hook.secret_file, (dir.path() / "hook.secret").string());
  EXPECT_EQ(hook.summary, "{{rule}}: {{count}} sessions");
  EXPECT_EQ(hook.max_age, 2h);
  EXPECT_EQ(config::effective_rate_limit(hook), 2.5);
  EXPECT_EQ(config::effective_burst(hook), 3);
  EXPECT_EQ(c.sinks[1].type, config::sink_type::alertmanager);
  EXPECT_EQ(c.sinks[1].urls, (std::vector<std::string>{"http://am1:9093", "http://am2:9093"}));
  EXPECT_EQ(c.sinks[1].max_age, 24h);
  EXPECT_EQ(config::effective_rate_limit(c.sinks[2]), 1.0);  // Slack's one message a second
  EXPECT_EQ(config::effective_burst(c.sinks[2]), 1);
  EXPECT_EQ(c.sinks[3].url, "https://events.pagerduty.com/v2/enqueue");
  EXPECT_EQ(c.rules[0].min_sessions, 3);
  EXPECT_EQ(c.rules[0].resolve_after, 4);
  EXPECT_EQ(c.rules[0].sinks.size(), 5u);
  EXPECT_EQ(c.sinks[4].url, "") << "a URL from url_file is a secret, not config";
  EXPECT_EQ(c.sinks[4].url_file, (dir.path() / "chat.url").string());
  EXPECT_EQ(secrets.urls.at("chat2"), "https://hooks.slack.com/services/T/B/FROMFILE");
  EXPECT_EQ(secrets.api_key, "k");
  EXPECT_EQ(secrets.signing_keys.at("hook"), "hello");
  EXPECT_EQ(secrets.routing_keys.at("pd"), "R0UTINGKEY");

  config::load_result d = config::load_from_string(minimal, "c.yaml");
  ASSERT_TRUE(d.config);
  EXPECT_EQ(d.config->max_catchup, 1h);
  EXPECT_EQ(d.config->rules[0].min_sessions, 1);
  EXPECT_EQ(d.config->rules[0].resolve_after, 2);
}

TEST(Config, SinkMistakesAreNamed) {
  const std::string head = "smartsight: {customer_id: 1, api_key_env: K}\nsinks:\n  - ";
  const std::string tail = "\nrules: [{name: r, qoefilter: latency > 5}]\n";
  struct row {
    std::string sink;
    std::string error;
  };
  std::vector<row> rows = {
      {"{name: a, type: alertmanager, url: \"http://am:9093\"}",
       "c.yaml:3:40: sinks[0].url: not used by alertmanager sinks (an alertmanager sink takes "
       "urls: with every peer of the cluster)"},
      {"{name: a, type: alertmanager}",
       "c.yaml:3:5: sinks[0].urls: missing (required: the base URL of every Alertmanager of the "
       "cluster, e.g. [http://am1:9093, http://am2:9093])"},
      {"{name: a, type: alertmanager, urls: []}",
       "c.yaml:3:41: sinks[0].urls: must list at least one Alertmanager (every peer of the "
       "cluster)"},
      {"{name: a, type: pagerduty}",
       "c.yaml:3:5: sinks[0].routing_key_file: missing (required: a file holding the PagerDuty "
       "integration's routing key)"},
      {"{name: a, type: slack, url: \"http://h/\", secret_file: s}",
       "c.yaml:3:59: sinks[0].secret_file: not used by slack sinks"},
      {"{name: a, type: webhook, url: \"http://h/\", headers: {Content-Type: x}}",
       "c.yaml:3:58: sinks[0].headers.Content-Type: \"Content-Type\" is set by qoewatch itself"},
      {"{name: a, type: webhook, url: \"http://h/\", summary: \"{{rulez}}\"}",
       "c.yaml:3:57: sinks[0].summary: unknown placeholder {{rulez}} (known: rule, "},
      {"{name: a, type: webhook, url: \"http://h/\", rate_limit: 0}",
       "c.yaml:3:60: sinks[0].rate_limit: 0 is out of range (POSTs per second, 0.001 to 10000)"},
      {"{name: a, type: slack, url: \"http://h/\", rate_limit: 2}",
       "c.yaml:3:58: sinks[0].rate_limit: 2 is out of range (POSTs per second, 0.001 to 1)"},
      {"{name: a, type: slack, url: \"http://h/\", url_file: f}",
       "c.yaml:3:56: sinks[0].url_file: write url or url_file, not both"},
      {"{name: a, type: slack}",
       "c.yaml:3:5: sinks[0].url: missing (required: the Slack incoming webhook URL, or "
       "url_file: a file holding it)"},
      {"{name: a, type: pagerduty, routing_key_file: k, url_file: f}",
       "c.yaml:3:63: sinks[0].url_file: not used by pagerduty sinks"},
      {"{name: a, type: webhook, url: \"http://h/\", max_age: forever}",
       "c.yaml:3:57: sinks[0].max_age: \"forever\" is not a duration (use 30s, 5m, 1h)"},
  };
  for (const row& r : rows) {
    std::vector<std::string> got = errors_of(head + r.sink + tail);
    bool found = std::any_of(got.begin(), got.end(), [&](const std::string& e) {
      return e.substr(0, r.error.size()) == r.error;
    });
    EXPECT_TRUE(found) << "for " << r.sink << "\ngot " << testing::PrintToString(got);
  }
  EXPECT_EQ(errors_of("smartsight: {customer_id: 1, api_key_env: K}\nrules: [{name: r, qoefilter: "
                      "latency > 5, min_sessions: 0}]\n"),
            std::vector<std::string>{
                "c.yaml:2:57: rules[0].min_sessions: 0 is out of range (offending sessions in a "
                "window that fire the rule, 1 to 1000000)"});
}

TEST(Config, WebTlsAndBasicAuth) {
  const std::string hash = "$2b$04$abcdefghijklmnopqrstuuNiYvmXvFtJDd4TYtHmhUlN9d1LAPLTu";
  temp_dir dir;
  std::string main = dir.write("q.yaml", std::string(minimal) +
                                             "web:\n"
                                             "  tls_cert_file: tls/cert.pem\n"
                                             "  tls_key_file: $CREDENTIALS_DIRECTORY/web.key\n"
                                             "  basic_auth_users:\n"
                                             "    prometheus: \"" +
                                             hash + "\"\n");
  config::load_result r = config::load(main);
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  const config::web_config& web = r.config->web;
  EXPECT_EQ(web.tls_cert_file, (dir.path() / "tls/cert.pem").string());
  EXPECT_EQ(web.tls_key_file, "$CREDENTIALS_DIRECTORY/web.key");
  EXPECT_TRUE(web.tls());
  EXPECT_EQ(web.basic_auth_users, (std::map<std::string, std::string>{{"prometheus", hash}}));
  // Without web:, plain HTTP and no users.
  config::load_result plain = config::load_from_string(minimal, "c.yaml");
  ASSERT_TRUE(plain.config);
  EXPECT_FALSE(plain.config->web.tls());
  EXPECT_TRUE(plain.config->web.basic_auth_users.empty());
}

TEST(Config, WebErrorsNameTheSettingAndNeverRepeatAPassword) {
  const std::string base = std::string(minimal) + "web:\n";
  EXPECT_EQ(errors_of(base + "  tls_cert_file: c.pem\n"),
            std::vector<std::string>{"c.yaml:8:18: web.tls_key_file: missing (tls_cert_file "
                                     "needs the private key that goes with it)"});
  EXPECT_EQ(errors_of(base + "  tls_key_file: k.pem\n"),
            std::vector<std::string>{"c.yaml:8:17: web.tls_cert_file: missing (tls_key_file "
                                     "needs the certificate that goes with it)"});
  std::vector<std::string> got =
      errors_of(base + "  basic_auth_users:\n    alice: hunter2hunter2\n");
  ASSERT_EQ(got.size(), 1u) << testing::PrintToString(got);
  EXPECT_EQ(got[0].substr(0, 48), "c.yaml:9:12: web.basic_auth_users.alice: is not ");
  EXPECT_EQ(got[0].find("hunter2"), std::string::npos) << got[0];
  got = errors_of(base +
                  "  basic_auth_users:\n    \"a:b\": "
                  "$2b$04$abcdefghijklmnopqrstuuNiYvmXvFtJDd4TYtHmhUlN9d1LAPLTu\n");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_NE(got[0].find("without ':'"), std::string::npos) << got[0];
  EXPECT_EQ(errors_of(base + "  basic_auth_users: []\n").size(), 1u);
  // Cost outside 04..31, wrong prefix, one character short.
  for (const char* bad : {"$2b$03$abcdefghijklmnopqrstuuNiYvmXvFtJDd4TYtHmhUlN9d1LAPLTu",
                          "$2x$10$abcdefghijklmnopqrstuuNiYvmXvFtJDd4TYtHmhUlN9d1LAPLTu",
                          "$2b$10$abcdefghijklmnopqrstuuNiYvmXvFtJDd4TYtHmhUlN9d1LAPLT"}) {
    EXPECT_EQ(errors_of(base + "  basic_auth_users: {u: \"" + bad + "\"}\n").size(), 1u) << bad;
  }
  got = errors_of(base + "  tls_certfile: x\n");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_NE(got[0].find("did you mean \"tls_cert_file\""), std::string::npos) << got[0];
}

TEST(Config, SettingsForRuleTestsLeaveTheRulesOutAndReadNoSecret) {
  temp_dir dir;
  // Rules that live elsewhere, or are broken, do not stop the settings from loading; the key
  // file does not exist and is not read.
  std::string main = dir.write("q.yaml", R"(smartsight:
  customer_id: 7
  api_key_file: /nonexistent/key
  extra_metrics: [exitcode]
defaults: {interval: 30s}
sinks: [{name: oncall, type: webhook, url: "http://h/"}]
rule_files: [/etc/qoewatch/rules/nothere.yaml]
rules:
  - {name: broken, qoefilter: "latency >"}
)");
  config::load_result r = config::load_settings(main);
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  EXPECT_TRUE(r.config->rules.empty());
  EXPECT_TRUE(r.config->rule_files.empty());
  EXPECT_EQ(r.config->smartsight.customer_id, 7u);
  EXPECT_EQ(r.config->smartsight.extra_metrics, std::vector<std::string>{"exitcode"});
  EXPECT_EQ(r.config->defaults.interval, 30s);
  ASSERT_EQ(r.config->sinks.size(), 1u);
  EXPECT_EQ(r.config->sinks[0].name, "oncall");

  // The settings themselves are checked as load() checks them.
  std::string bad = dir.write("bad.yaml",
                              "smartsight: {customer_id: 7, api_key_env: K}\n"
                              "defaults: {intervl: 30s}\n");
  EXPECT_EQ(texts(config::load_settings(bad)),
            std::vector<std::string>{bad + ":2:12: defaults.intervl: unknown key (did you mean "
                                           "\"interval\"?)"});
  EXPECT_EQ(texts(config::load_settings(dir.path().string() + "/none.yaml")),
            std::vector<std::string>{dir.path().string() +
                                     "/none.yaml: cannot read the config file: No such file or "
                                     "directory"});
}
