// Every sink type against what stands on the other side: a real Alertmanager (Debian's
// prometheus-alertmanager) that must show qoewatch's alerts and notify its own receiver,
// PagerDuty's and Slack's request shapes at the demo receiver, and sinks that never wait on
// each other.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdlib>
#include <memory>

#include "e2e/harness.hpp"
#include "support/process.hpp"

namespace json = boost::json;
using namespace qoewatch::test;
using namespace qoewatch::e2e;
using namespace std::chrono_literals;

namespace {

const std::string slow = R"("latency":9,"cirrbufferingratio":0,"fatalerrors":0)";

class Sinks : public testing::Test {
 protected:
  // Rule "slow" (latency > 5, critical) every second over `window`, resolving after one quiet
  // poll, notifying `sinks`.
  std::string config(const std::string& sim_port, std::vector<sink_spec> sinks,
                     const std::string& window) const {
    config_builder c;
    c.smartsight(sim_port);
    c.rule(rule_spec("slow", "latency > 5")
               .window_of(window)
               .with("severity: critical")
               .with("resolve_after: 1"));
    c.sinks = std::move(sinks);
    return c.write(dir_);
  }

  std::unique_ptr<qoewatchd> start(const std::string& cfg, const std::string& key) {
    return std::make_unique<qoewatchd>(cfg, std::map<std::string, std::string>{{"QW_KEY", key}});
  }

  temp_dir dir_;
};

// The secrets of which 8 characters or more appear in `text`, space-separated: half a key is a
// leak too.
std::string secrets_in(const std::string& text, const std::vector<std::string>& secrets) {
  std::string found;
  for (const std::string& secret : secrets)
    for (std::size_t at = 0; at + 8 <= secret.size(); ++at)
      if (text.find(secret.substr(at, 8)) != std::string::npos) {
        found += secret + " ";
        break;
      }
  return found;
}

// The bodies of accepted POSTs in a --requests file, with their headers.
std::vector<json::object> accepted(const std::string& requests) {
  std::vector<json::object> out;
  for (json::value& r : json_lines(requests))
    if (r.at("status").to_number<int>() / 100 == 2) out.push_back(r.as_object());
  return out;
}

}  // namespace

TEST_F(Sinks, ARealAlertmanagerShowsTheAlertsNotifiesAndResolves) {
  sim s({"--rate", "0"});
  std::string am_received = (dir_.path / "from-alertmanager.jsonl").string();
  receiver am_hook(am_received);
  // Alertmanager must be absent at first, on a port the daemon is given: held (refusing
  // connections) until Alertmanager binds it, which it can as Go servers set SO_REUSEADDR too.
  const reserved_port am_port;
  std::string am_cfg = dir_.write("alertmanager.yml", R"(route:
  receiver: test
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: test
    webhook_configs:
      - url: http://127.0.0.1:)" + am_hook.port + R"(/from-am
        send_resolved: true
)");
  add_sessions(s, {session("am1", wall_now() - 1, slow)});
  auto daemon = start(config(s.port,
                             {sink_spec("am", "alertmanager")
                                  .with("urls: [\"http://127.0.0.1:" + am_port.port() + "\"]")},
                             "20s"),
                      s.key);
  // Alertmanager is not up yet: every poll re-sends the rule's alerts, and each supersedes
  // what the previous poll left waiting, so the outbox does not grow.
  ASSERT_TRUE(wait_for_log(*daemon, "sink am: notification", 20s));
  ASSERT_TRUE(wait_for_more_polls(daemon->port(), "slow", 3, 20s)) << daemon->log();
  EXPECT_LE(daemon->metric("qoewatch_outbox_pending{sink=\"am\"}").value_or(99), 2)
      << daemon->log();

  child_process am("/usr/bin/prometheus-alertmanager",
                   {"--config.file=" + am_cfg, "--storage.path=" + (dir_.path / "am").string(),
                    "--web.listen-address=127.0.0.1:" + am_port.port(), "--cluster.listen-address="});
  ASSERT_TRUE(
      eventually([&] { return http_request(am_port.port(), "GET", "/-/ready").status == 200; }, 30s))
      << am.log();

  // qoewatch's alerts are in Alertmanager: the session and the rule's incident.
  auto alerts_in_am = [&] {
    std::set<std::string> found;
    http_reply r = http_request(am_port.port(), "GET", "/api/v2/alerts");
    if (r.status != 200) return found;
    json::value all = json::parse(r.body);
    for (const json::value& a : all.as_array()) {
      const json::object& labels = a.at("labels").as_object();
      if (labels.at("alertname") != "slow") continue;
      if (labels.contains("sessionid"))
        found.insert(std::string(labels.at("sessionid").as_string()));
      if (labels.contains("incident")) found.insert("incident");
    }
    return found;
  };
  ASSERT_TRUE(eventually(
      [&] {
        return alerts_in_am() == std::set<std::string>{"am1", "incident"};
      },
      30s))
      << testing::PrintToString(alerts_in_am()) << "\n"
      << daemon->log() << am.log();

  // Alertmanager's own notification reaches its receiver...
  auto statuses = [&](bool incident_only) {
    std::vector<std::string> out;
    for (const json::value& n : notifications(am_received))
      for (const json::value& a : n.at("alerts").as_array())
        if (!incident_only || a.at("labels").as_object().contains("incident"))
          out.emplace_back(a.at("status").as_string());
    return out;
  };
  ASSERT_TRUE(eventually([&] { return !statuses(false).empty(); }, 30s)) << am.log();
  EXPECT_EQ(statuses(false).front(), "firing");
  // ...and once the window is quiet, the incident's resolve does too.
  ASSERT_TRUE(eventually(
      [&] {
        std::vector<std::string> st = statuses(true);
        return std::find(st.begin(), st.end(), "resolved") != st.end();
      },
      60s))
      << testing::PrintToString(statuses(true)) << "\n"
      << daemon->log();
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait(15s), 0);
}

TEST_F(Sinks, PagerDutyTriggersAndResolvesWithTheRoutingKeyOnlyOnTheWire) {
  sim s({"--rate", "0"});
  std::string requests = (dir_.path / "requests.jsonl").string();
  receiver_options opts;
  opts.requests = requests;
  receiver pd((dir_.path / "accepted.jsonl").string(), opts);
  const std::string routing_key = "R0UTING0KEY0e2e0f00d";
  dir_.write("pd.key", routing_key + "\n");
  add_sessions(s, {session("pd1", wall_now() - 1, slow)});
  std::string cfg = config(s.port,
                           {sink_spec("pd", "pagerduty")
                                .with("url: http://127.0.0.1:" + pd.port + "/v2/enqueue")
                                .with("routing_key_file: pd.key")},
                           // 8 s, not 3: on a loaded machine the first poll may come 2 s or
                           // more after the start, when a 3 s window has already let pd1 go.
                           "8s");
  auto daemon = start(cfg, s.key);
  auto events = [&] {
    std::vector<json::object> out;
    for (json::object& r : accepted(requests)) out.push_back(r.at("body").as_object());
    return out;
  };
  ASSERT_TRUE(eventually([&] { return events().size() >= 2; }, 30s)) << daemon->log();
  std::vector<json::object> ev = events();
  const json::object& trigger = ev[0];
  EXPECT_EQ(trigger.at("event_action"), "trigger");
  EXPECT_EQ(trigger.at("routing_key"), routing_key.c_str());
  std::string dedup(trigger.at("dedup_key").as_string());
  EXPECT_EQ(dedup.rfind("slow/", 0), 0u) << dedup;
  const json::object& payload = trigger.at("payload").as_object();
  EXPECT_EQ(payload.at("severity"), "critical");
  EXPECT_EQ(payload.at("custom_details").at("sessions").at(0).at("sessionid"), "pd1");
  const json::object& resolve = ev[1];
  EXPECT_EQ(resolve.at("event_action"), "resolve");
  EXPECT_EQ(resolve.at("dedup_key"), dedup.c_str());
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait(15s), 0);

  // The key is in no state the daemon keeps and no line it logs.
  std::string dump = dir_.write("dump.sh", "sqlite3 " + (dir_.path / "state/qoewatch.db").string() +
                                               " .dump > " + (dir_.path / "dump.sql").string());
  ASSERT_EQ(std::system(("sh " + dump).c_str()), 0);
  std::string sql = read_file(dir_.path / "dump.sql");
  EXPECT_NE(sql.find("CREATE TABLE"), std::string::npos);
  EXPECT_EQ(sql.find(routing_key), std::string::npos);
  EXPECT_EQ(daemon->log().find(routing_key), std::string::npos);
}

TEST_F(Sinks, SlackIsPacedAndADeadSinkDelaysNoOther) {
  sim s({"--rate", "0"});
  std::string chat_requests = (dir_.path / "chat.jsonl").string();
  receiver_options chat_opts;
  chat_opts.requests = chat_requests;
  receiver chat((dir_.path / "chat-accepted.jsonl").string(), chat_opts);
  std::string hook_requests = (dir_.path / "hook.jsonl").string();
  receiver_options hook_opts;
  hook_opts.requests = hook_requests;
  receiver hook((dir_.path / "hook-accepted.jsonl").string(), hook_opts);
  const reserved_port nobody;  // nothing listens there: connection refused, forever

  // Slack's webhook URL is a secret: it comes from a file and is never logged.
  dir_.write("chat.url", "http://127.0.0.1:" + chat.port + "/services/T0/B0/X0SECRET\n");
  std::vector<std::string> rows;
  for (int i = 0; i < 4; ++i)
    rows.push_back(session("c" + std::to_string(i), wall_now() - 1, slow));
  add_sessions(s, rows);
  auto daemon = start(
      config(s.port,
             {sink_spec("dead", "webhook").with("url: http://127.0.0.1:" + nobody.port() + "/never"),
              sink_spec("chat", "slack")
                  .with("url_file: chat.url")
                  .with("max_sessions_per_notification: 1"),
              webhook(hook.port, {"headers: {X-Team: video}"})},
             "10m"),
      s.key);
  ASSERT_TRUE(eventually([&] { return accepted(chat_requests).size() >= 4; }, 30s))
      << daemon->log();
  std::vector<json::object> msgs = accepted(chat_requests);
  std::set<std::string> texts;
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    const json::object& body = msgs[i].at("body").as_object();
    EXPECT_TRUE(body.at("text").is_string());
    EXPECT_FALSE(body.at("blocks").as_array().empty());
    texts.insert(json::serialize(body.at("blocks")));
    if (i > 0) {
      // Slack allows one message a second per incoming webhook.
      double gap = msgs[i].at("received_at").to_number<double>() -
                   msgs[i - 1].at("received_at").to_number<double>();
      EXPECT_GE(gap, 0.9) << "message " << i;
    }
  }
  EXPECT_EQ(texts.size(), msgs.size()) << "each message lists its own sessions";
  EXPECT_EQ(msgs[0].at("path"), "/services/T0/B0/X0SECRET");

  // The webhook sink got its notification, with its header, while "dead" kept failing.
  std::vector<json::object> hooks = accepted(hook_requests);
  ASSERT_FALSE(hooks.empty());
  EXPECT_EQ(hooks[0].at("headers").at("x-team"), "video");
  EXPECT_NE(daemon->log().find("sink dead: notification"), std::string::npos);
  const std::string m = daemon->metrics();
  EXPECT_GE(metric_value(m, "qoewatch_outbox_pending{sink=\"dead\"}").value_or(0), 1);
  EXPECT_EQ(metric_value(m, "qoewatch_outbox_pending{sink=\"hook\"}"), 0);
  EXPECT_GT(metric_value(m, "qoewatch_outbox_oldest_age_seconds{sink=\"dead\"}").value_or(0), 0);
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait(15s), 0);
  EXPECT_EQ(daemon->log().find("X0SECRET"), std::string::npos) << daemon->log();
}

TEST_F(Sinks, SecretsThatAnswersEchoNeverReachTheLogNorTheState) {
  // Gateways that refuse a request and echo it back, headers and body.
  receiver_options echo;
  echo.status = 503;
  echo.echo = true;
  receiver gateway((dir_.path / "gw.jsonl").string(), echo);
  echo.status = 400;
  receiver refusing((dir_.path / "refused.jsonl").string(), echo);
  const std::string api_key = "AK7pQ2vX9mLw4RtZ";
  const std::string routing_key = "RKd83JfhsUe71Gqa";
  const std::string token = "Bearer TkN5bc0Yw2Hx8Pzr";
  const std::string slack_path = "/services/T0/B0/SLkq4Wm9Xe2Vb6";
  dir_.write("pd.key", routing_key + "\n");
  dir_.write("chat.url", "http://127.0.0.1:" + refusing.port + slack_path + "\n");
  const std::vector<sink_spec> sinks = {
      sink_spec("pd", "pagerduty")
          .with("url: http://127.0.0.1:" + refusing.port + "/v2/enqueue")
          .with("routing_key_file: pd.key"),
      webhook(refusing.port, {"headers: {Authorization: \"" + token + "\"}"}),
      sink_spec("chat", "slack").with("url_file: chat.url")};
  auto leaked = [&](const std::string& text) {
    return secrets_in(text, {api_key, routing_key, token, slack_path});
  };

  // SmartSight's gateway echoes the X-API-Key header.
  std::string cfg = config(gateway.port, sinks, "10m");
  child_process once(QOEWATCHD_BINARY, {"--config", cfg, "--once"}, {{"QW_KEY", api_key}});
  EXPECT_EQ(once.wait(30s), 1);
  EXPECT_NE(once.log().find(R"("X-API-Key": "[redacted]")"), std::string::npos) << once.log();
  EXPECT_EQ(leaked(once.log()), "") << once.log();

  // Every sink's receiver refuses with an echo: the reasons of the dead letters are redacted.
  sim s({"--rate", "0"});
  cfg = config(s.port, sinks, "10m");
  add_sessions(s, {session("e1", wall_now() - 1, slow)});
  auto daemon = start(cfg, s.key);
  auto dead = [&](const char* sink) {
    return daemon->metric(std::string("qoewatch_dead_letters_total{sink=\"") + sink + "\"}")
        .value_or(0);
  };
  ASSERT_TRUE(
      eventually([&] { return dead("pd") >= 1 && dead("hook") >= 1 && dead("chat") >= 1; }, 30s))
      << daemon->log();
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait(15s), 0);
  EXPECT_EQ(leaked(daemon->log()), "") << daemon->log();
  const std::string listed = dead_letters(cfg);
  EXPECT_NE(listed.find("[redacted]"), std::string::npos) << listed;
  EXPECT_EQ(leaked(listed), "") << listed;
  std::string dump = dir_.write("dump.sh", "sqlite3 " + (dir_.path / "state/qoewatch.db").string() +
                                               " .dump > " + (dir_.path / "dump.sql").string());
  ASSERT_EQ(std::system(("sh " + dump).c_str()), 0);
  EXPECT_EQ(leaked(read_file(dir_.path / "dump.sql")), "");
}

TEST_F(Sinks, NoSecretAppearsInAnythingTheDaemonWritesOrShows) {
  // The API key, the webhook's signing secret and header token, PagerDuty's routing key and
  // Slack's URL: not 8 characters of one may appear in --check-config, --dry-run, the log at
  // debug level, /metrics, the state database (outbox rows while every receiver refuses) or
  // the process's command line.
  const std::string api_key = "AK3mZq8WvT1xLp6R";
  const std::string signing = "whsec_c2lnbmluZy1zZWNyZXQtOTk4Nw==";
  const std::string token = "Bearer Hq7Vz2Lm9Kd4Tx8W";
  const std::string routing_key = "RKw62Jd9Pq3Zt8Va";
  const std::string slack_path = "/services/T1/B1/SLm3Qz8Wv5Xc7Rk";
  const std::vector<std::string> secrets = {api_key, signing, token, routing_key, slack_path};
  sim s({"--rate", "0"}, "199493832", api_key);
  const std::string requests = (dir_.path / "requests.jsonl").string();
  receiver_options refuse;
  refuse.status = 503;
  refuse.requests = requests;
  receiver refusing((dir_.path / "refused.jsonl").string(), refuse);
  dir_.write("hook.secret", signing + "\n");
  dir_.write("pd.key", routing_key + "\n");
  dir_.write("chat.url", "http://127.0.0.1:" + refusing.port + slack_path + "\n");
  add_sessions(s, {session("k1", wall_now() - 1, slow)});
  const std::string cfg = config(
      s.port,
      {webhook(refusing.port,
               {"secret_file: hook.secret", "headers: {Authorization: \"" + token + "\"}"}),
       sink_spec("pd", "pagerduty")
           .with("url: http://127.0.0.1:" + refusing.port + "/v2/enqueue")
           .with("routing_key_file: pd.key"),
       sink_spec("chat", "slack").with("url_file: chat.url")},
      "10m");
  const std::map<std::string, std::string> env = {{"QW_KEY", api_key}};
  auto output_of = [&](std::vector<std::string> args) {
    child_process p(QOEWATCHD_BINARY, std::move(args), env);
    std::string out;
    while (auto line = p.read_line(20s)) out += *line + "\n";
    const int code = p.wait(20s);
    return std::make_pair(code, out + p.log());
  };

  auto [checked, check_text] = output_of({"--config", cfg, "--check-config"});
  EXPECT_EQ(checked, 0) << check_text;
  EXPECT_NE(check_text.find("/mm-apis/listsessions/199493832"), std::string::npos) << check_text;
  EXPECT_EQ(secrets_in(check_text, secrets), "") << check_text;

  auto [dry, dry_text] =
      output_of({"--config", cfg, "--once", "--dry-run", "--log-level", "debug"});
  EXPECT_EQ(dry, 0) << dry_text;
  EXPECT_NE(dry_text.find("\"k1\""), std::string::npos) << dry_text;  // bodies were printed
  EXPECT_EQ(secrets_in(dry_text, secrets), "") << dry_text;

  qoewatchd daemon(cfg, env, {"--log-level", "debug"});
  auto pending = [&](const char* sink) {
    return daemon.metric(std::string("qoewatch_outbox_pending{sink=\"") + sink + "\"}").value_or(0);
  };
  ASSERT_TRUE(eventually(
      [&] { return pending("hook") >= 1 && pending("pd") >= 1 && pending("chat") >= 1; }, 30s))
      << daemon.log();
  // Refused at least once each, so the failures were logged with what the receivers said.
  ASSERT_TRUE(eventually([&] { return json_lines(requests).size() >= 3; }, 30s));
  const std::string metrics = daemon.metrics();
  EXPECT_EQ(secrets_in(metrics, secrets), "") << metrics;
  std::string cmdline = read_file("/proc/" + std::to_string(daemon.pid()) + "/cmdline");
  std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
  EXPECT_NE(cmdline.find("--config"), std::string::npos) << cmdline;
  EXPECT_EQ(secrets_in(cmdline, secrets), "") << cmdline;
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(15s), 0);
  EXPECT_NE(daemon.log().find(" debug sink chat: POST of notification"), std::string::npos)
      << "not at debug level: " << daemon.log();
  EXPECT_EQ(secrets_in(daemon.log(), secrets), "") << daemon.log();
  std::string dump = dir_.write("dump.sh", "sqlite3 " + (dir_.path / "state/qoewatch.db").string() +
                                               " .dump > " + (dir_.path / "dump.sql").string());
  ASSERT_EQ(std::system(("sh " + dump).c_str()), 0);
  const std::string rows = read_file(dir_.path / "dump.sql");
  EXPECT_NE(rows.find("INSERT INTO outbox"), std::string::npos) << rows;
  EXPECT_EQ(secrets_in(rows, secrets), "") << rows;
}
