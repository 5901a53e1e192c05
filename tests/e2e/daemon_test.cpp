// The real binaries end to end: smartsight-sim with known sessions, qoewatchd, and the webhook
// receiver from scripts/. Asserts what on-call and the dashboards would see.
#include <crypt.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "e2e/harness.hpp"
#include "support/process.hpp"

namespace json = boost::json;
using namespace qoewatch::test;
using namespace qoewatch::e2e;
using namespace std::chrono_literals;

namespace {

// `count` sessions that every rule of Daemon::config finds offending, ended 5 s ago.
void add_offending(sim& s, const std::string& id_prefix, int count) {
  std::vector<std::string> sessions;
  for (int i = 0; i < count; ++i)
    sessions.push_back(session(id_prefix + std::to_string(i), wall_now() - 5,
                               R"("latency":9,"cirrbufferingratio":0,"fatalerrors":0)"));
  add_sessions(s, sessions);
}

class Daemon : public testing::Test {
 protected:
  // Rules "slow" and "rebuf" from rules/*.yaml, polled every second over 60 s in pages of 3;
  // one webhook sink, "hook", with at most 2 sessions per notification.
  config_builder builder(const std::string& sim_port, const std::string& hook_port) const {
    config_builder c;
    c.smartsight(sim_port).smartsight_setting("page_size: 3");
    c.timeout = "5s";
    c.defaults = "{interval: 1s, window: 60s, delay: 0s}";
    c.rule_files_pattern = "rules/*.yaml";
    c.rule_files["rules/slow.yaml"] = {slow_rule_};
    c.rule_files["rules/rebuf.yaml"] = {rebuf_rule_};
    c.sink(webhook(hook_port, {"max_sessions_per_notification: 2"}));
    return c;
  }
  // builder(), written: the config's path.
  std::string config(const std::string& sim_port, const std::string& hook_port) const {
    return builder(sim_port, hook_port).write(dir_);
  }

  const rule_spec slow_rule_ = rule_spec("slow", "latency > 5")
                                   .from_defaults()
                                   .with("description: Startup over 5 s")
                                   .with("fields: [cdn]")
                                   .with("severity: critical")
                                   .with("labels: {team: player}");
  const rule_spec rebuf_rule_ =
      rule_spec("rebuf", "cirrbufferingratio >= 3 OR NOT fatalerrors = 0")
          .from_defaults()
          .with("fields: [latency]");
  temp_dir dir_;
};

}  // namespace

TEST_F(Daemon, AlertsEachOffendingSessionOnceExportsMetricsReloadsAndStops) {
  sim s({"--rate", "0"});
  receiver hook((dir_.path / "received.jsonl").string());
  std::string received = (dir_.path / "received.jsonl").string();
  std::string cfg = config(s.port, hook.port);

  const std::int64_t t0 = wall_now() - 2;
  add_sessions(s, {session("s1", t0,
                           R"("latency":7.4,"cirrbufferingratio":0,"fatalerrors":0,"cdn":"edgeB")"),
                   session("s2", t0, R"("latency":"8.2","cirrbufferingratio":"0","fatalerrors":0)"),
                   session("s3", t0, R"("latency":2,"cirrbufferingratio":1,"fatalerrors":0)"),
                   session("s4", t0, R"("latency":3,"cirrbufferingratio":"5.5","fatalerrors":0)"),
                   session("s5", t0, R"("latency":1,"cirrbufferingratio":0,"fatalerrors":"1")"),
                   session("s6", t0, R"("latency":6,"cirrbufferingratio":4,"fatalerrors":0)"),
                   session("s9", t0, R"("latency":1,"cirrbufferingratio":"n/a","fatalerrors":0)"),
                   session("s10", t0, R"("latency":1,"fatalerrors":0)")});

  qoewatchd daemon(cfg, {{"QW_KEY", s.key}});
  auto scrape = [&] { return daemon.metrics(); };
  auto polls = [&](const std::string& rule) {
    return metric_value(scrape(), polls_series(rule)).value_or(0);
  };

  // The first batch is alerted...
  ASSERT_TRUE(eventually(
      [&] {
        auto got = sessions_by_rule(received);
        return got["slow"].size() >= 3 && got["rebuf"].size() >= 3;
      },
      20s))
      << read_file(received);
  EXPECT_EQ(http_request(daemon.port(), "GET", "/readyz").status, 200u);
  EXPECT_EQ(http_request(daemon.port(), "GET", "/healthz").body, "ok\n");

  // ...then sessions ending later are picked up by later polls.
  ASSERT_TRUE(eventually([&] { return polls("slow") >= 3 && polls("rebuf") >= 3; }, 20s));
  const std::int64_t t1 = wall_now() - 1;
  add_sessions(s, {session("s7", t1, R"("latency":9,"cirrbufferingratio":0,"fatalerrors":0)"),
                   session("s8", t1, R"("latency":1,"cirrbufferingratio":3,"fatalerrors":0)")});
  ASSERT_TRUE(eventually(
      [&] {
        auto got = sessions_by_rule(received);
        return as_set(got["slow"]).count("s7") && as_set(got["rebuf"]).count("s8");
      },
      20s))
      << read_file(received);
  // Three more polls of both rules, every one of which still sees every session.
  double slow_polls = polls("slow"), rebuf_polls = polls("rebuf");
  ASSERT_TRUE(eventually(
      [&] { return polls("slow") >= slow_polls + 3 && polls("rebuf") >= rebuf_polls + 3; }, 20s));

  auto got = sessions_by_rule(received);
  EXPECT_EQ(got["slow"].size(), 4u) << "each session exactly once";
  EXPECT_EQ(as_set(got["slow"]), (std::set<std::string>{"s1", "s2", "s6", "s7"}));
  EXPECT_EQ(got["rebuf"].size(), 4u) << "each session exactly once";
  EXPECT_EQ(as_set(got["rebuf"]), (std::set<std::string>{"s4", "s5", "s6", "s8"}));

  // The shape on-call receives: batches of at most 2, truncatedAlerts counting what follows.
  std::vector<json::value> all = notifications(received);
  for (const json::value& n : all) {
    EXPECT_EQ(n.at("receiver"), "hook");
    EXPECT_EQ(n.at("version"), "4");
    EXPECT_LE(n.at("alerts").as_array().size(), 2u);
    EXPECT_EQ(n.at("qoewatch").at("customer_id").to_number<std::int64_t>(), 199493832);
    EXPECT_EQ(n.at("qoewatch").at("query").as_string().find(s.key), json::string::npos);
  }
  const json::value& first_slow = *std::find_if(all.begin(), all.end(), [](const json::value& n) {
    return n.at("groupLabels").at("alertname") == "slow";
  });
  EXPECT_EQ(first_slow.at("commonLabels"),
            json::parse(R"({"alertname":"slow","severity":"critical","team":"player"})"));
  EXPECT_EQ(first_slow.at("truncatedAlerts").to_number<int>(), 1);  // 3 new: 2 now, 1 next
  for (const json::value& a : first_slow.at("alerts").as_array())
    if (a.at("labels").at("sessionid") == "s1") {
      EXPECT_EQ(a.at("annotations").at("summary"), "latency 7.4 s > 5 s");
      EXPECT_EQ(a.at("annotations").at("cdn"), "edgeB");
      EXPECT_EQ(a.at("startsAt").as_string().size(), 20u);
    }

  // The gauges describe the last window.
  std::string m = scrape();
  auto v = [&](const std::string& series) { return metric_value(m, series); };
  EXPECT_EQ(v("qoewatch_rule_offending_sessions{rule=\"slow\"}"), 4);
  EXPECT_EQ(v("qoewatch_rule_offending_sessions{rule=\"rebuf\"}"), 4);
  EXPECT_EQ(v("qoewatch_rule_sessions_fetched{rule=\"slow\"}"), 4);    // server-side latency>5
  EXPECT_EQ(v("qoewatch_rule_sessions_fetched{rule=\"rebuf\"}"), 10);  // nothing sent: all rows
  EXPECT_EQ(v("qoewatch_rule_startup_time_seconds{rule=\"slow\",stat=\"max\"}"), 9);
  EXPECT_EQ(v("qoewatch_rule_startup_time_seconds{rule=\"slow\",stat=\"p95\"}"), 9);
  EXPECT_NEAR(*v("qoewatch_rule_startup_time_seconds{rule=\"slow\",stat=\"mean\"}"), 7.65, 1e-9);
  EXPECT_EQ(v("qoewatch_rule_startup_time_seconds{rule=\"rebuf\",stat=\"max\"}"), 6);
  EXPECT_NEAR(*v("qoewatch_rule_rebuffering_ratio{rule=\"rebuf\",stat=\"max\"}"), 0.055, 1e-9);
  EXPECT_NEAR(*v("qoewatch_rule_rebuffering_ratio{rule=\"rebuf\",stat=\"mean\"}"), 0.03125, 1e-9);
  EXPECT_FALSE(v("qoewatch_rule_rebuffering_ratio{rule=\"slow\",stat=\"max\"}"));
  EXPECT_EQ(v("qoewatch_source_up{rule=\"slow\"}"), 1);
  EXPECT_GE(*v("qoewatch_rows_skipped_total{reason=\"not_a_number\",rule=\"rebuf\"}"), 1);
  EXPECT_GE(*v("qoewatch_rows_skipped_total{reason=\"missing_metric\",rule=\"rebuf\"}"), 1);
  EXPECT_EQ(v("qoewatch_rows_skipped_total{reason=\"not_a_number\",rule=\"slow\"}"), 0);
  EXPECT_GE(*v("qoewatch_notifications_total{outcome=\"success\",sink=\"hook\"}"), 4);
  EXPECT_EQ(v("qoewatch_notifications_total{outcome=\"failure\",sink=\"hook\"}"), 0);
  EXPECT_EQ(v("qoewatch_config_last_reload_successful"), 1);
  EXPECT_EQ(v("qoewatch_build_info{version=\"" QOEWATCH_VERSION "\"}"), 1);
  double last = *v("qoewatch_rule_last_success_timestamp_seconds{rule=\"slow\"}");
  EXPECT_NEAR(last, static_cast<double>(wall_now()), 5);
  EXPECT_EQ(m.find(s.key), std::string::npos);
  EXPECT_EQ(m.find("s1"), std::string::npos) << "no session ids in labels";
  // Prometheus's own linter has nothing to say about the exposition.
  std::string scraped = dir_.write("metrics.txt", m);
  std::string lint = (dir_.path / "lint.txt").string();
  int rc = std::system(("promtool check metrics < " + scraped + " > " + lint + " 2>&1").c_str());
  EXPECT_EQ(rc, 0) << read_file(lint);
  EXPECT_EQ(read_file(lint), "");

  // A broken rule file on SIGHUP: every error logged, the old rules keep running.
  dir_.write("rules/rebuf.yaml", "rules:\n  - name: rebuf\n    qoefilter: \"latency >\"\n");
  daemon.signal(SIGHUP);
  ASSERT_TRUE(eventually(
      [&] { return metric_value(scrape(), "qoewatch_config_last_reload_successful") == 0; }, 10s));
  EXPECT_NE(daemon.log().find("rules/rebuf.yaml:3:26: rules[0].qoefilter: expected a number after "
                              "'>', found end of text"),
            std::string::npos)
      << daemon.log();
  rebuf_polls = polls("rebuf");
  ASSERT_TRUE(eventually([&] { return polls("rebuf") >= rebuf_polls + 2; }, 10s))
      << "the old rebuf rule stopped polling";

  // A fixed file with a new rule: loaded, polled, and its sessions alerted too.
  config_builder fixed = builder(s.port, hook.port);
  fixed.rule_files["rules/rebuf.yaml"].push_back(
      rule_spec("fatal", "fatalerrors > 0").from_defaults());
  fixed.write(dir_);
  daemon.signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return polls("fatal") >= 1; }, 10s)) << daemon.log();
  EXPECT_EQ(metric_value(scrape(), "qoewatch_config_last_reload_successful"), 1);
  ASSERT_TRUE(eventually([&] { return sessions_by_rule(received)["fatal"].size() == 1; }, 10s));
  EXPECT_EQ(sessions_by_rule(received)["fatal"], std::vector<std::string>{"s5"});
  EXPECT_EQ(sessions_by_rule(received)["slow"].size(), 4u) << "a reload must not re-alert";

  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(15s), 0) << daemon.log();
  EXPECT_EQ(daemon.log().find(s.key), std::string::npos);
}

TEST_F(Daemon, SourceDownIsNeverNoOffendingSessions) {
  sim s({"--rate", "0"});
  receiver hook((dir_.path / "received.jsonl").string());
  // A wrong key: every poll fails with HTTP 401.
  qoewatchd daemon(config(s.port, hook.port), {{"QW_KEY", "wrong-key"}});
  ASSERT_TRUE(wait_for_metric(daemon.port(), polls_series("slow", "failure"), at_least(2), 20s));
  std::string m = daemon.metrics();
  EXPECT_EQ(metric_value(m, "qoewatch_source_up{rule=\"slow\"}"), 0);
  EXPECT_EQ(metric_value(m, "qoewatch_polls_total{outcome=\"success\",rule=\"slow\"}"), 0);
  EXPECT_EQ(metric_value(m, "qoewatch_rule_last_success_timestamp_seconds{rule=\"slow\"}"), 0);
  EXPECT_NE(daemon.log().find("rule slow: poll failed, source marked down: SmartSight answered "
                              "HTTP 401"),
            std::string::npos)
      << daemon.log();
  EXPECT_EQ(daemon.log().find("wrong-key"), std::string::npos);
  daemon.signal(SIGINT);
  EXPECT_EQ(daemon.wait(15s), 0);
}

TEST_F(Daemon, OnceDryRunPrintsNotificationsAndSendsNothing) {
  sim s({"--rate", "0"});
  receiver hook((dir_.path / "received.jsonl").string());
  const std::int64_t t0 = wall_now() - 5;
  std::vector<std::string> sessions;
  for (int i = 0; i < 7; ++i)
    sessions.push_back(session(
        "d" + std::to_string(i), t0,
        R"("latency":)" + std::to_string(4 + i) + R"(,"cirrbufferingratio":0,"fatalerrors":0)"));
  add_sessions(s, sessions);
  std::string cfg = config(s.port, hook.port);
  child_process once(QOEWATCHD_BINARY, {"--config", cfg, "--once", "--dry-run"},
                     {{"QW_KEY", s.key}});
  std::vector<std::string> lines;
  while (auto line = once.read_line(20s)) lines.push_back(*line);
  EXPECT_EQ(once.wait(10s), 0) << once.log();
  std::vector<std::string> ids;
  for (const std::string& l : lines) {
    json::value n = json::parse(l);
    for (const json::value& a : n.at("alerts").as_array())
      ids.emplace_back(a.at("labels").at("sessionid").as_string());
  }
  // latency 6..10 offend: d2..d6, in batches of at most 2 (3 lines).
  EXPECT_EQ(lines.size(), 3u);
  EXPECT_EQ(as_set(ids), (std::set<std::string>{"d2", "d3", "d4", "d5", "d6"}));
  EXPECT_EQ(ids.size(), 5u);
  EXPECT_EQ(read_file(dir_.path / "received.jsonl"), "") << "--dry-run must send nothing";
}

TEST_F(Daemon, AWindowOfManyPagesCostsAtMostOneRequestMoreAndAlertsEachSessionOnce) {
  // After the first full page, each next page is requested before the one in hand is judged
  // (prefetch): ten sessions in pages of 3 are read at offsets 0, 3, 6, 9 once each, and the
  // request for offset 12, sent while the short page 9 was judged, is the only one wasted.
  sim s({"--rate", "0"});
  receiver hook((dir_.path / "received.jsonl").string());
  add_offending(s, "p", 10);
  child_process once(QOEWATCHD_BINARY,
                     {"--config", config(s.port, hook.port), "--once", "--dry-run"},
                     {{"QW_KEY", s.key}});
  std::vector<std::string> ids;
  while (auto line = once.read_line(20s)) {
    const json::value body = json::parse(*line);
    for (const json::value& a : body.at("alerts").as_array())
      ids.emplace_back(a.at("labels").at("sessionid").as_string());
  }
  EXPECT_EQ(once.wait(10s), 0) << once.log();
  EXPECT_EQ(ids.size(), 10u);
  EXPECT_EQ(as_set(ids).size(), 10u);
  EXPECT_NE(once.log().find("10 rows in 4 page(s), 10 offending"), std::string::npos) << once.log();
  // The test config has two rules, each with its own query: every page of each is asked for
  // once. (The wasted request may still be on its way into the simulator's log.)
  std::map<std::string, std::map<std::string, int>> offsets_by_query;
  std::istringstream sim_log(s.process.log());
  for (std::string line; std::getline(sim_log, line);) {
    const std::size_t get = line.find("GET /mm-apis/listsessions/");
    const std::size_t at = line.find("&offset=");
    if (get == std::string::npos || at == std::string::npos) continue;
    const std::size_t end = line.find_first_not_of("0123456789", at + 8);
    ++offsets_by_query[line.substr(get, at - get)][line.substr(at + 8, end - at - 8)];
  }
  ASSERT_EQ(offsets_by_query.size(), 2u) << s.process.log();
  for (auto& [query, offsets] : offsets_by_query) {
    offsets.erase("12");
    EXPECT_EQ(offsets, (std::map<std::string, int>{{"0", 1}, {"3", 1}, {"6", 1}, {"9", 1}}))
        << query;
  }
}

TEST_F(Daemon, PollsThatNotifyTogetherShareTheirDiskSyncs) {
  // Group commit: a poll that notifies is durable before its notifications go out, but polls
  // that finish together share one transaction and one disk sync. strace counts the syncs of
  // a --once run in which 21 rules notify at once; a delivery's outbox update syncs once per
  // POST, and a run with nothing to notify gives the syncs of opening the database.
  sim s({"--rate", "0"});
  sim empty({"--rate", "0"});
  receiver hook((dir_.path / "received.jsonl").string());
  add_offending(s, "g", 4);
  config_builder cfg = builder(s.port, hook.port);
  for (int i = 0; i < 20; ++i)
    cfg.rule_files["rules/group.yaml"].push_back(
        rule_spec("g" + std::to_string(i), "latency > 3").from_defaults());
  const std::string trace = (dir_.path / "syncs.txt").string();
  auto syncs_of_once = [&](const sim& source) {
    std::filesystem::remove_all(dir_.path / "state");
    child_process once("/usr/bin/strace",
                       {"-f", "-e", "trace=fdatasync,fsync", "-o", trace, QOEWATCHD_BINARY,
                        "--config", cfg.smartsight(source.port).write(dir_), "--once"},
                       // (In an ASan build: LeakSanitizer cannot run under ptrace.)
                       {{"QW_KEY", source.key}, {"ASAN_OPTIONS", "detect_leaks=0"}});
    EXPECT_EQ(once.wait(60s), 0) << once.log();
    std::istringstream lines(read_file(trace));
    int syncs = 0;
    for (std::string line; std::getline(lines, line);)
      if (line.find("sync(") != std::string::npos) ++syncs;
    return syncs;
  };
  const int opening = syncs_of_once(empty);
  const int run = syncs_of_once(s);
  const auto posts = static_cast<int>(json_lines((dir_.path / "received.jsonl").string()).size());
  // 21 rules with 4 offending sessions each, 2 per POST (rebuf finds none of them).
  ASSERT_EQ(posts, 42);
  // Both runs write the checkpoints once; one sync per notifying poll would add 20 more.
  // How many polls share a transaction depends on how close together they finish: none
  // more in five plain runs here, 9 once under ThreadSanitizer on a busy machine; 12 is
  // still well short of the 20 that a sync per poll would add.
  const int more_commits = run - opening - posts;
  EXPECT_LE(more_commits, 12) << run << " syncs in all, " << opening << " opening, " << posts
                              << " deliveries";
}

TEST_F(Daemon, OnceFailsWhenSmartSightIsUnreachable) {
  receiver hook((dir_.path / "received.jsonl").string());
  const reserved_port closed;  // nothing listens there: connection refused
  child_process once(QOEWATCHD_BINARY, {"--config", config(closed.port(), hook.port), "--once"},
                     {{"QW_KEY", "k"}});
  EXPECT_EQ(once.wait(30s), 1) << once.log();
  EXPECT_NE(once.log().find("rule slow: poll failed, source marked down"), std::string::npos)
      << once.log();
}

TEST_F(Daemon, UndeliveredNotificationsAreRetriedUntilTheReceiverAcceptsThem) {
  sim s({"--rate", "0"});
  std::string received = (dir_.path / "received.jsonl").string();
  add_sessions(
      s, {session("r1", wall_now() - 2, R"("latency":12,"cirrbufferingratio":0,"fatalerrors":0)")});
  // Held for the whole test, so the receiver comes back on it.
  const reserved_port hook_port;
  auto down = std::make_unique<receiver>(received, 503, hook_port.port());
  qoewatchd daemon(config(s.port, hook_port.port()), {{"QW_KEY", s.key}});
  auto metric = [&](const std::string& series) { return daemon.metric(series).value_or(0); };
  const std::string failure = "qoewatch_notifications_total{outcome=\"failure\",sink=\"hook\"}";
  const std::string success = "qoewatch_notifications_total{outcome=\"success\",sink=\"hook\"}";
  ASSERT_TRUE(wait_for_metric(daemon.port(), failure, at_least(2), 20s)) << daemon.log();
  down.reset();  // the receiver comes back on the same port, now accepting
  receiver up(received, 200, hook_port.port());
  ASSERT_TRUE(wait_for_metric(daemon.port(), success, at_least(1), 30s)) << daemon.log();
  // Several more polls: the session was delivered exactly once, never re-sent.
  ASSERT_TRUE(wait_for_more_polls(daemon.port(), "slow", 3, 20s)) << daemon.log();
  EXPECT_EQ(sessions_by_rule(received)["slow"], std::vector<std::string>{"r1"});
  EXPECT_EQ(metric(success), 1) << "one notification, delivered once";
  EXPECT_NE(daemon.log().find("for rule slow not delivered (attempt 1): HTTP 503"),
            std::string::npos);
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(15s), 0);
}

TEST_F(Daemon, PollsOverHttpsVerifyingThePeer) {
  std::string cert = (dir_.path / "cert.pem").string(), key = (dir_.path / "key.pem").string();
  std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost "
      "-addext subjectAltName=DNS:localhost -days 1 -keyout " +
      key + " -out " + cert + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  sim s({"--rate", "0", "--tls-cert", cert, "--tls-key", key});
  receiver hook((dir_.path / "received.jsonl").string());
  auto cfg_for = [&](const std::string& ca_file, const std::string& host = "localhost") {
    config_builder cfg = builder(s.port, hook.port);
    cfg.base_url = "https://" + host + ":" + s.port;
    if (!ca_file.empty()) cfg.smartsight_setting("ca_file: " + ca_file);
    return cfg.write(dir_, "tls.yaml");
  };
  // Trusting the simulator's certificate: the poll succeeds.
  child_process trusted(QOEWATCHD_BINARY, {"--config", cfg_for(cert), "--once", "--dry-run"},
                        {{"QW_KEY", s.key}});
  EXPECT_EQ(trusted.wait(30s), 0) << trusted.log();
  // The system trust store does not know a self-signed certificate: the poll fails.
  child_process untrusted(QOEWATCHD_BINARY, {"--config", cfg_for(""), "--once", "--dry-run"},
                          {{"QW_KEY", s.key}});
  EXPECT_EQ(untrusted.wait(30s), 1) << untrusted.log();
  EXPECT_NE(untrusted.log().find("certificate verify failed"), std::string::npos)
      << untrusted.log();
  // Trusted, but the certificate names localhost, not 127.0.0.1: refused too.
  child_process wrong_host(
      QOEWATCHD_BINARY,
      {"--config", cfg_for(cert, "127.0.0.1"), "--once", "--dry-run"},
      {{"QW_KEY", s.key}});
  EXPECT_EQ(wrong_host.wait(30s), 1) << wrong_host.log();
  EXPECT_NE(wrong_host.log().find("certificate verify failed"), std::string::npos)
      << wrong_host.log();
  EXPECT_NE(wrong_host.log().find("mismatch"), std::string::npos) << wrong_host.log();
  // Running, a refused certificate marks the source down on /metrics, and nothing is sent.
  qoewatchd daemon(cfg_for(""), {{"QW_KEY", s.key}});
  ASSERT_TRUE(wait_for_metric(daemon.port(), "qoewatch_source_up{rule=\"slow\"}", equal_to(0), 20s))
      << daemon.log();
  const std::string why =
      "rule slow: poll failed, source marked down: TLS handshake with "
      "localhost:" +
      s.port + " failed: certificate verify failed";
  EXPECT_TRUE(wait_for_log(daemon, why, 5s));
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(15s), 0);
  EXPECT_EQ(read_file(dir_.path / "received.jsonl"), "");
}

namespace {

// A bcrypt hash of `password` with a fresh salt (cost 4 unless said: fast; the daemon reads
// any cost).
std::string bcrypt(const std::string& password, unsigned long cost = 4) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  if (crypt_gensalt_rn("$2b$", cost, nullptr, 0, salt, sizeof salt) == nullptr) return "";
  crypt_data data{};
  const char* out = crypt_r(password.c_str(), salt, &data);
  return out == nullptr ? "" : out;
}

// curl against the daemon's endpoint: "STATUS BODY", or "000" when no HTTP answer came. The
// credentials go in a curl config file, never on a command line.
std::string curl(const std::filesystem::path& dir, const std::string& url, const std::string& ca,
                 const std::string& user_password = "") {
  std::filesystem::path conf = dir / "curl.conf", out = dir / "curl.out";
  std::ofstream(conf) << (user_password.empty() ? "" : "user = \"" + user_password + "\"\n");
  std::string cmd = "curl -s --max-time 10 -K " + conf.string() + " --cacert " + ca + " -D " +
                    (dir / "curl.headers").string() + " -o " + out.string() +
                    " -w '%{http_code}' " + url + " > " + (dir / "curl.code").string();
  (void)std::system(cmd.c_str());
  std::string code = read_file(dir / "curl.code");
  return code + " " + (std::filesystem::exists(out) ? read_file(out) : "");
}

}  // namespace

TEST_F(Daemon, MetricsOverHttpsWithBasicAuth) {
  std::string cert = (dir_.path / "cert.pem").string(), key = (dir_.path / "key.pem").string();
  std::string other = (dir_.path / "other.pem").string();
  std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost "
      "-addext subjectAltName=DNS:localhost -days 1 -keyout " +
      key + " -out " + cert + " >/dev/null 2>&1 && openssl genrsa -out " + other +
      " 2048 >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  sim s({"--rate", "0"});
  receiver hook((dir_.path / "received.jsonl").string());
  auto with_web = [&](const std::string& key_file, const std::string& users) {
    config_builder cfg = builder(s.port, hook.port);
    cfg.extra = "web:\n  tls_cert_file: " + cert + "\n  tls_key_file: " + key_file +
                "\n  basic_auth_users:\n" + users;
    return cfg.write(dir_);
  };
  const std::string first = "correct horse battery", second = "staple-2026";
  const std::string hash = bcrypt(first);
  ASSERT_EQ(hash.substr(0, 7), "$2b$04$");

  // A key that does not go with the certificate: --check-config says which setting.
  child_process check(
      QOEWATCHD_BINARY,
      {"--config", with_web(other, "    prometheus: \"" + hash + "\"\n"), "--check-config"},
      {{"QW_KEY", s.key}});
  EXPECT_EQ(check.wait(30s), 1) << check.log();
  EXPECT_NE(check.log().find("web.tls_key_file: the private key does not belong to the "
                             "certificate in web.tls_cert_file"),
            std::string::npos)
      << check.log();
  // Started that way, it stops as on any config error (78: systemd does not restart it).
  child_process refused(QOEWATCHD_BINARY,
                        {"--config", with_web(other, "    u: \"" + hash + "\"\n")},
                        {{"QW_KEY", s.key}});
  EXPECT_EQ(refused.wait(30s), 78) << refused.log();
  EXPECT_NE(refused.log().find("web.tls_key_file: the private key does not belong"),
            std::string::npos)
      << refused.log();

  std::string cfg = with_web(key, "    prometheus: \"" + hash + "\"\n");
  qoewatchd daemon(cfg, {{"QW_KEY", s.key}}, {"--log-level", "debug"});
  const std::string url = "https://localhost:" + daemon.port();
  ASSERT_TRUE(
      eventually([&] { return curl(dir_.path, url + "/healthz", cert) == "200 ok\n"; }, 20s))
      << daemon.log();
  // Liveness needs no password; metrics and readiness do.
  std::string reply = curl(dir_.path, url + "/metrics", cert);
  EXPECT_EQ(reply, "401 unauthorized\n");
  EXPECT_NE(
      read_file(dir_.path / "curl.headers").find("WWW-Authenticate: Basic realm=\"qoewatch\""),
      std::string::npos);
  EXPECT_EQ(curl(dir_.path, url + "/readyz", cert).substr(0, 3), "401");
  EXPECT_EQ(curl(dir_.path, url + "/metrics", cert, "prometheus:" + second).substr(0, 3), "401");
  EXPECT_EQ(curl(dir_.path, url + "/metrics", cert, "grafana:" + first).substr(0, 3), "401");
  reply = curl(dir_.path, url + "/metrics", cert, "prometheus:" + first);
  EXPECT_EQ(reply.substr(0, 4), "200 ");
  EXPECT_NE(reply.find("qoewatch_source_up{rule=\"slow\"}"), std::string::npos) << reply;
  // Plain HTTP to the HTTPS port gets no HTTP answer.
  EXPECT_EQ(curl(dir_.path, "http://127.0.0.1:" + daemon.port() + "/metrics", cert).substr(0, 3), "000");

  // A reload changes the password at once: the old one is refused from then on. (The new hash
  // in htpasswd's $2y$ spelling, the same algorithm.)
  with_web(key, "    prometheus: \"$2y$" + bcrypt(second).substr(4) + "\"\n");
  daemon.signal(SIGHUP);
  ASSERT_TRUE(wait_for_log(daemon, "reloaded", 10s));
  EXPECT_EQ(curl(dir_.path, url + "/metrics", cert, "prometheus:" + first).substr(0, 3), "401");
  EXPECT_EQ(curl(dir_.path, url + "/metrics", cert, "prometheus:" + second).substr(0, 3), "200");
  // A reload with a key that does not fit fails and keeps serving as before.
  with_web(other, "    prometheus: \"" + bcrypt(second) + "\"\n");
  daemon.signal(SIGHUP);
  ASSERT_TRUE(wait_for_log(daemon, "reload failed: web.tls_key_file", 10s));
  EXPECT_EQ(curl(dir_.path, url + "/metrics", cert, "prometheus:" + second).substr(0, 3), "200");

  // Wrong guesses queue on the bcrypt thread (cost 12: a few hundred ms each) while the event
  // loop goes on: liveness, and a password already accepted, answer at once meanwhile.
  with_web(key, "    prometheus: \"" + bcrypt(second, 12) + "\"\n");
  daemon.signal(SIGHUP);
  ASSERT_TRUE(wait_for_log(daemon, "reloaded: ", 10s, 2));
  EXPECT_EQ(curl(dir_.path, url + "/metrics", cert, "prometheus:" + second).substr(0, 3), "200");
  // Eight wrong guesses at once. Each one's file gets the wall time before curl starts, curl's
  // "STATUS PRETRANSFER STARTTRANSFER TOTAL" and the wall time after it ended: when its request
  // went out at the latest, and when its answer came at the earliest.
  std::string flood;
  for (int i = 0; i < 8; ++i) {
    const std::string n = std::to_string(i);
    std::ofstream(dir_.path / ("guess" + n + ".conf"))
        << "user = \"prometheus:guess" << n << "\"\n";
    flood += "(date +%s.%N; curl -s --max-time 60 -K " +
             (dir_.path / ("guess" + n + ".conf")).string() + " --cacert " + cert +
             " -o /dev/null -w '%{http_code} %{time_pretransfer} %{time_starttransfer} "
             "%{time_total}\\n' " +
             url + "/metrics; date +%s.%N) > " + (dir_.path / ("guess" + n + ".out")).string() +
             " & ";
  }
  struct guess {
    bool done = false;
    std::string status;
    double sent_at = 0, answered_at = 0;  // wall clock, seconds
  };
  auto guess_of = [&](int i) {
    guess g;
    std::istringstream in(read_file(dir_.path / ("guess" + std::to_string(i) + ".out")));
    double started = 0, pretransfer = 0, starttransfer = 0, total = 0, ended = 0;
    if (in >> started >> g.status >> pretransfer >> starttransfer >> total >> ended) {
      g.done = true;
      g.sent_at = ended - total + pretransfer;
      g.answered_at = started + starttransfer;
    }
    return g;
  };
  auto guesses_done = [&] {
    int n = 0;
    for (int i = 0; i < 8; ++i) n += guess_of(i).done ? 1 : 0;
    return n;
  };
  auto wall = [] {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  // Liveness and the accepted password, asked every 200 ms until every guess is answered.
  struct probe {
    double start, end;
    std::string healthz, metrics;
  };
  std::vector<probe> probes;
  ASSERT_EQ(std::system(flood.c_str()), 0);
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (guesses_done() < 8 && std::chrono::steady_clock::now() < deadline) {
    probe c{wall(), 0, curl(dir_.path, url + "/healthz", cert), ""};
    c.metrics = curl(dir_.path, url + "/metrics", cert, "prometheus:" + second).substr(0, 3);
    c.end = wall();
    probes.push_back(c);
    std::this_thread::sleep_for(200ms);  // a pace, not a wait: curl costs the daemon CPU
  }
  ASSERT_EQ(guesses_done(), 8) << daemon.log();
  double first_sent = wall(), last_answered = 0;
  for (int i = 0; i < 8; ++i) {
    const guess g = guess_of(i);
    EXPECT_EQ(g.status, "401") << "guess " << i;
    first_sent = std::min(first_sent, g.sent_at);
    last_answered = std::max(last_answered, g.answered_at);
  }
  // Every check begun while guesses waited for their answers was answered at once.
  int meanwhile = 0;
  for (const probe& c : probes) {
    if (c.start < first_sent || c.start >= last_answered) continue;
    ++meanwhile;
    EXPECT_EQ(c.healthz, "200 ok\n");
    EXPECT_EQ(c.metrics, "200");
    EXPECT_LT(c.end - c.start, 1.0);
  }
  EXPECT_GE(meanwhile, 1) << "no check ran while the guesses waited: " << probes.size()
                          << " checks, guesses from " << first_sent << " to " << last_answered;

  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(15s), 0);
  for (const std::string& secret : {first, second}) {
    EXPECT_EQ(daemon.log().find(secret), std::string::npos) << secret;
  }
  EXPECT_EQ(daemon.log().find("PRIVATE KEY"), std::string::npos);
}

TEST_F(Daemon, ReloadPointingASinkElsewhereDeliversWhatItStillOwes) {
  sim s({"--rate", "0"});
  std::string received = (dir_.path / "received.jsonl").string();
  add_sessions(
      s, {session("q1", wall_now() - 2, R"("latency":12,"cirrbufferingratio":0,"fatalerrors":0)")});
  receiver refusing((dir_.path / "refused.jsonl").string(), 503);
  receiver accepting(received);
  std::string cfg = config(s.port, refusing.port);
  qoewatchd daemon(cfg, {{"QW_KEY", s.key}});
  ASSERT_TRUE(wait_for_metric(daemon.port(),
                              "qoewatch_notifications_total{outcome=\"failure\",sink=\"hook\"}",
                              at_least(1), 20s))
      << daemon.log();
  config(s.port, accepting.port);  // rewrites the file with the new sink URL
  daemon.signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return sessions_by_rule(received)["slow"].size() >= 1; }, 30s))
      << daemon.log();
  // A repeat would be a retry still queued or a later poll alerting again: nothing is left in
  // the outbox, and three more polls went by.
  ASSERT_TRUE(
      wait_for_metric(daemon.port(), "qoewatch_outbox_pending{sink=\"hook\"}", equal_to(0), 10s));
  ASSERT_TRUE(wait_for_more_polls(daemon.port(), "slow", 3, 20s)) << daemon.log();
  EXPECT_EQ(sessions_by_rule(received)["slow"], std::vector<std::string>{"q1"});
  EXPECT_EQ(daemon.metric("qoewatch_notifications_total{outcome=\"success\",sink=\"hook\"}"), 1);
  EXPECT_EQ(daemon.metric("qoewatch_config_last_reload_successful"), 1);
}

TEST_F(Daemon, AWindowBeyondMaxPagesFailsThePollInsteadOfTruncatingIt) {
  sim s({"--rate", "0"});
  receiver hook((dir_.path / "received.jsonl").string());
  add_offending(s, "m", 7);
  const std::string cfg =
      builder(s.port, hook.port).smartsight_setting("max_pages: 2").write(dir_, "pages.yaml");
  child_process once(QOEWATCHD_BINARY, {"--config", cfg, "--once", "--dry-run"},
                     {{"QW_KEY", s.key}});
  std::vector<std::string> lines;
  while (auto line = once.read_line(20s)) lines.push_back(*line);
  EXPECT_EQ(once.wait(10s), 1) << once.log();
  EXPECT_TRUE(lines.empty()) << "a truncated window must not be alerted on";
  EXPECT_NE(once.log().find("rule slow: poll failed, source marked down: window holds more than 2 "
                            "pages of 3 sessions (raise smartsight.max_pages or narrow the rule)"),
            std::string::npos)
      << once.log();
}
