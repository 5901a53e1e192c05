// Population rules end to end: the simulator's sessions grouped by CDN, one incident per group
// with its own notifications, metrics and state, through restarts, reloads, a dry run and a
// real Alertmanager.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <boost/json.hpp>
#include <memory>

#include "e2e/harness.hpp"
#include "support/process.hpp"

namespace json = boost::json;
using namespace qoewatch::test;
using namespace qoewatch::e2e;
using namespace std::chrono_literals;

namespace {

const std::string rule_name = "cdn_rebuffering";

std::string group_series(const std::string& family, const std::string& group) {
  return family + "{group=\"" + group + "\",rule=\"" + rule_name + "\"}";
}

// `n` sessions of `cdn` ("" leaves the field out) ended at `endtime`, the first `offending`
// of them rebuffering: ids <prefix>1, <prefix>2, ...
std::vector<std::string> sessions_of(const std::string& prefix, const std::string& cdn, int n,
                                     int offending, std::int64_t endtime) {
  std::vector<std::string> out;
  for (int i = 1; i <= n; ++i)
    out.push_back(session(prefix + std::to_string(i), endtime,
                          std::string(R"("latency":)") + std::to_string(2 + i) +
                              R"(,"cirrbufferingratio":)" + (i <= offending ? "5" : "0") +
                              (cdn.empty() ? "" : R"(,"cdn":")" + cdn + "\"")));
  return out;
}

// The group notifications the receiver got, with the given status.
std::vector<json::object> group_notifications(const std::string& file, const std::string& status) {
  std::vector<json::object> out;
  for (json::value& n : notifications(file))
    if (n.at("groupKey").as_string().starts_with("qoewatch/" + rule_name + "/") &&
        n.at("status") == status.c_str())
      out.push_back(n.as_object());
  return out;
}

class Population : public testing::Test {
 protected:
  // The rule: rebuffering ratio by CDN, firing above 20 % with at least 4 sessions in a group.
  rule_spec rule(const std::string& window, int for_polls) const {
    return rule_spec(rule_name, "cirrbufferingratio > 2")
        .window_of(window)
        .with("group_by: [cdn]")
        .with("when: \"ratio > 20% AND sessions >= 4\"")
        .with("min_sample: 4")
        .with("for: " + std::to_string(for_polls))
        .with("resolve_after: 1")
        .with("evidence: 3")
        .with("labels: {team: delivery}");
  }
  temp_dir dir_;
};

}  // namespace

TEST_F(Population, EachGroupFiresOnceWithItsNumbersAndResolvesWhenItLeavesTheWindow) {
  sim s({"--rate", "0"});
  std::string received = (dir_.path / "received.jsonl").string();
  receiver hook(received);
  config_builder c;
  c.smartsight(s.port);
  c.rule(rule("10s", 2));
  c.sink(webhook(hook.port));
  const std::int64_t t0 = wall_now() - 1;
  std::vector<std::string> sessions = sessions_of("b", "edgeB", 6, 4, t0);  // 67 %: fires
  for (const std::string& row : sessions_of("a", "edgeA", 6, 1, t0)) sessions.push_back(row);
  // Without a CDN: group "unknown", all offending but below min_sample.
  for (const std::string& row : sessions_of("u", "", 3, 3, t0)) sessions.push_back(row);
  add_sessions(s, sessions);
  qoewatchd daemon(c.write(dir_), {{"QW_KEY", s.key}});

  ASSERT_TRUE(wait_for_metric(daemon.port(), group_series("qoewatch_group_firing", "cdn=edgeB"),
                              equal_to(1), 20s))
      << daemon.log();
  // `for: 2`: the group was pending one successful poll before it fired.
  EXPECT_GE(daemon.metric(polls_series(rule_name)).value_or(0), 2);
  EXPECT_EQ(daemon.metric("qoewatch_rule_groups{rule=\"" + rule_name + "\"}"), 3);
  EXPECT_EQ(daemon.metric(group_series("qoewatch_group_sessions", "cdn=edgeB")), 6);
  EXPECT_EQ(daemon.metric(group_series("qoewatch_group_offending", "cdn=edgeB")), 4);
  EXPECT_EQ(daemon.metric(group_series("qoewatch_group_firing", "cdn=edgeA")), 0);
  EXPECT_NEAR(daemon.metric(group_series("qoewatch_group_ratio", "cdn=edgeA")).value_or(-1),
              1.0 / 6, 1e-9);
  EXPECT_EQ(daemon.metric(group_series("qoewatch_group_sessions", "cdn=unknown")), 3);
  EXPECT_EQ(daemon.metric(group_series("qoewatch_group_firing", "cdn=unknown")), 0);
  EXPECT_EQ(daemon.metric("qoewatch_rule_firing{rule=\"" + rule_name + "\"}"), 1);

  ASSERT_TRUE(eventually([&] { return !group_notifications(received, "firing").empty(); }, 20s));
  std::vector<json::object> fired = group_notifications(received, "firing");
  ASSERT_EQ(fired.size(), 1u) << read_file(received);
  const json::object& n = fired.front();
  EXPECT_EQ(n.at("groupKey"), "qoewatch/cdn_rebuffering/cdn=edgeB");
  const json::array& alerts = n.at("alerts").as_array();
  ASSERT_EQ(alerts.size(), 4u) << "the group alert and 3 of its 4 offending sessions";
  const json::object& group_alert = alerts[0].as_object();
  const json::object& labels = group_alert.at("labels").as_object();
  EXPECT_EQ(labels.at("alertname"), "cdn_rebuffering");
  EXPECT_EQ(labels.at("cdn"), "edgeB");
  EXPECT_EQ(labels.at("team"), "delivery");
  EXPECT_FALSE(labels.contains("sessionid"));
  const std::string key(labels.at("incident").as_string());
  EXPECT_TRUE(key.starts_with("cdn_rebuffering/cdn=edgeB/")) << key;
  const json::object& annotations = group_alert.at("annotations").as_object();
  EXPECT_EQ(annotations.at("sessions"), "6");
  EXPECT_EQ(annotations.at("offending"), "4");
  EXPECT_TRUE(std::string(annotations.at("summary").as_string())
                  .starts_with("cdn=edgeB: 66.67 % of 6 sessions have cirrbufferingratio > 2"))
      << annotations.at("summary");
  std::set<std::string> evidence;
  for (std::size_t i = 1; i < alerts.size(); ++i) {
    const json::object& l = alerts[i].at("labels").as_object();
    EXPECT_EQ(l.at("cdn"), "edgeB");
    evidence.insert(std::string(l.at("sessionid").as_string()));
  }
  EXPECT_EQ(evidence.size(), 3u);
  for (const std::string& id : evidence) EXPECT_TRUE(id >= "b1" && id <= "b4") << id;
  EXPECT_EQ(n.at("qoewatch").at("group").at("cdn"), "edgeB");
  EXPECT_EQ(n.at("qoewatch").at("aggregates").at("sessions"), 6);

  // The sessions leave the 10 s window: the group is quiet and resolves, once, on its key.
  ASSERT_TRUE(eventually([&] { return !group_notifications(received, "resolved").empty(); }, 30s))
      << daemon.log();
  ASSERT_TRUE(wait_for_more_polls(daemon.port(), rule_name, 2, 20s));
  std::vector<json::object> resolved = group_notifications(received, "resolved");
  ASSERT_EQ(resolved.size(), 1u) << read_file(received);
  const json::object& r = resolved.front().at("alerts").at(0).as_object();
  EXPECT_EQ(r.at("labels").at("incident"), key.c_str());
  EXPECT_EQ(r.at("status"), "resolved");
  EXPECT_EQ(group_notifications(received, "firing").size(), 1u) << "fired once";
  EXPECT_EQ(daemon.metric(group_series("qoewatch_group_firing", "cdn=edgeB")), std::nullopt)
      << "a group neither in the window nor firing leaves /metrics";
  EXPECT_EQ(daemon.metric("qoewatch_rule_groups{rule=\"" + rule_name + "\"}"), 0);
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(15s), 0);
}

TEST_F(Population, AFiringGroupSurvivesARestartAndResolvesWhenItsRuleIsRemoved) {
  sim s({"--rate", "0"});
  std::string received = (dir_.path / "received.jsonl").string();
  receiver hook(received);
  config_builder c;
  c.smartsight(s.port);
  c.rule(rule("120s", 1));
  c.rule(rule_spec("slow", "latency > 100"));
  c.sink(webhook(hook.port));
  const std::string cfg = c.write(dir_);
  add_sessions(s, sessions_of("b", "edgeB", 5, 5, wall_now() - 1));
  const std::string firing = group_series("qoewatch_group_firing", "cdn=edgeB");
  std::string key;
  {
    qoewatchd daemon(cfg, {{"QW_KEY", s.key}});
    ASSERT_TRUE(wait_for_metric(daemon.port(), firing, equal_to(1), 20s)) << daemon.log();
    ASSERT_TRUE(eventually([&] { return !group_notifications(received, "firing").empty(); }, 20s));
    key = group_notifications(received, "firing")
              .front()
              .at("alerts")
              .at(0)
              .at("labels")
              .at("incident")
              .as_string();
    daemon.signal(SIGTERM);
    ASSERT_EQ(daemon.wait(15s), 0);
  }
  EXPECT_EQ(sqlite(dir_.path / "state" / "qoewatch.db", "SELECT key FROM group_incidents"),
            key + "\n");

  // Back up: the group still fires under its key, and nothing is notified twice.
  qoewatchd daemon(cfg, {{"QW_KEY", s.key}});
  ASSERT_TRUE(wait_for_log(daemon, "1 group(s) firing", 20s)) << daemon.log();
  ASSERT_TRUE(wait_for_more_polls(daemon.port(), rule_name, 3, 20s));
  EXPECT_EQ(daemon.metric(firing), 1);
  EXPECT_EQ(group_notifications(received, "firing").size(), 1u) << read_file(received);

  // The rule leaves the config: its firing group resolves now, on the same key.
  config_builder without = c;
  without.rules.erase(without.rules.begin());
  without.write(dir_);
  daemon.signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return !group_notifications(received, "resolved").empty(); }, 20s))
      << daemon.log();
  EXPECT_EQ(group_notifications(received, "resolved")
                .front()
                .at("alerts")
                .at(0)
                .at("labels")
                .at("incident"),
            key.c_str());
  ASSERT_TRUE(wait_for_more_polls(daemon.port(), "slow", 2, 20s));
  EXPECT_EQ(sqlite(dir_.path / "state" / "qoewatch.db", "SELECT count(*) FROM group_incidents"),
            "0\n");
  EXPECT_EQ(daemon.metric(firing), std::nullopt);
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(15s), 0);
}

TEST_F(Population, OnceDryRunPrintsTheGroupNotificationAndItsFigures) {
  sim s({"--rate", "0"});
  std::vector<std::string> sessions = sessions_of("b", "edgeB", 5, 4, wall_now() - 5);
  for (const std::string& row : sessions_of("a", "edgeA", 5, 0, wall_now() - 5))
    sessions.push_back(row);
  add_sessions(s, sessions);
  config_builder c;
  c.smartsight(s.port);
  c.rule(rule("60s", 1).with("resolve_when: \"ratio < 5%\""));
  c.sink(webhook("9"));
  child_process once(QOEWATCHD_BINARY, {"--config", c.write(dir_), "--once", "--dry-run"},
                     {{"QW_KEY", s.key}});
  std::vector<std::string> lines;
  while (auto line = once.read_line(20s)) lines.push_back(*line);
  ASSERT_EQ(once.wait(10s), 0) << once.log();
  ASSERT_EQ(lines.size(), 1u) << once.log();
  json::value n = json::parse(lines.front());
  EXPECT_EQ(n.at("groupKey"), "qoewatch/cdn_rebuffering/cdn=edgeB");
  EXPECT_EQ(n.at("qoewatch").at("aggregates").at("offending"), 4);
  // The figures of every group, at info in a dry run.
  EXPECT_NE(once.log().find("group cdn=edgeA: 5 sessions, 0 offending, ratio 0"),
            std::string::npos)
      << once.log();
  EXPECT_NE(once.log().find("group cdn=edgeB firing"), std::string::npos) << once.log();
}

TEST_F(Population, ARealAlertmanagerShowsTheGroupAndItsEvidence) {
  sim s({"--rate", "0"});
  std::string am_received = (dir_.path / "from-alertmanager.jsonl").string();
  receiver am_hook(am_received);
  const reserved_port am_port;
  std::string am_cfg = dir_.write("alertmanager.yml", R"(route:
  receiver: test
  group_by: [alertname, cdn]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: test
    webhook_configs:
      - url: http://127.0.0.1:)" + am_hook.port + R"(/from-am
        send_resolved: true
)");
  child_process am("/usr/bin/prometheus-alertmanager",
                   {"--config.file=" + am_cfg, "--storage.path=" + (dir_.path / "am").string(),
                    "--web.listen-address=127.0.0.1:" + am_port.port(), "--cluster.listen-address="});
  ASSERT_TRUE(
      eventually([&] { return http_request(am_port.port(), "GET", "/-/ready").status == 200; }, 30s))
      << am.log();
  config_builder c;
  c.smartsight(s.port);
  c.rule(rule("60s", 1));
  c.sink(sink_spec("am", "alertmanager").with("urls: [\"http://127.0.0.1:" + am_port.port() + "\"]"));
  add_sessions(s, sessions_of("b", "edgeB", 5, 4, wall_now() - 1));
  qoewatchd daemon(c.write(dir_), {{"QW_KEY", s.key}});

  // In Alertmanager: the group alert (cdn and incident labels, the numbers as annotations)
  // and one alert per evidence session, labelled with the group's dimension.
  auto in_am = [&] {
    std::set<std::string> found;
    http_reply r = http_request(am_port.port(), "GET", "/api/v2/alerts");
    if (r.status != 200) return found;
    const json::value all = json::parse(r.body);
    for (const json::value& a : all.as_array()) {
      const json::object& labels = a.at("labels").as_object();
      if (labels.at("alertname") != rule_name.c_str() || labels.at("cdn") != "edgeB") continue;
      if (labels.contains("incident") && a.at("annotations").at("offending") == "4")
        found.insert("group");
      if (labels.contains("sessionid")) found.insert(std::string(labels.at("sessionid").as_string()));
    }
    return found;
  };
  ASSERT_TRUE(eventually(
      [&] { return in_am() == std::set<std::string>{"group", "b1", "b2", "b3"}; }, 30s))
      << testing::PrintToString(in_am()) << "\n"
      << daemon.log() << am.log();
  // Re-sent while it fires, so Alertmanager keeps it; its notification reaches the receiver.
  ASSERT_TRUE(wait_for_more_polls(daemon.port(), rule_name, 3, 20s));
  EXPECT_TRUE(in_am().contains("group"));
  ASSERT_TRUE(eventually([&] { return !notifications(am_received).empty(); }, 30s)) << am.log();
  EXPECT_EQ(notifications(am_received).front().at("groupLabels").at("cdn"), "edgeB");
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(15s), 0);
}

TEST_F(Population, AnEditedThresholdResolvesWhatFiredAndJudgesAfresh) {
  sim s({"--rate", "0"});
  std::string received = (dir_.path / "received.jsonl").string();
  receiver hook(received);
  config_builder c;
  c.smartsight(s.port);
  c.rule(rule("120s", 1));
  c.sink(webhook(hook.port));
  const std::string cfg = c.write(dir_);
  add_sessions(s, sessions_of("b", "edgeB", 5, 5, wall_now() - 1));
  qoewatchd daemon(cfg, {{"QW_KEY", s.key}});
  ASSERT_TRUE(eventually([&] { return !group_notifications(received, "firing").empty(); }, 20s))
      << daemon.log();
  auto key_of = [](const json::object& n) {
    return std::string(n.at("alerts").at(0).at("labels").at("incident").as_string());
  };
  const std::string first = key_of(group_notifications(received, "firing").front());
  ASSERT_TRUE(wait_for_more_polls(daemon.port(), rule_name, 2, 20s));

  // A stricter threshold that still holds: the old incident resolves, a new one fires.
  config_builder stricter = c;
  stricter.rules.front().more[1] = "when: \"ratio > 50% AND sessions >= 4\"";
  stricter.write(dir_);
  daemon.signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return group_notifications(received, "firing").size() == 2; }, 20s))
      << daemon.log();
  std::vector<json::object> resolved = group_notifications(received, "resolved");
  ASSERT_EQ(resolved.size(), 1u);
  EXPECT_EQ(key_of(resolved.front()), first);
  EXPECT_NE(key_of(group_notifications(received, "firing").back()), first);

  // Labels only: the incident carries over, nothing is notified.
  config_builder relabelled = stricter;
  relabelled.rules.front().more.back() = "labels: {team: video}";
  relabelled.write(dir_);
  daemon.signal(SIGHUP);
  ASSERT_TRUE(wait_for_log(daemon, "reloaded:", 20s, 2)) << daemon.log();
  ASSERT_TRUE(wait_for_more_polls(daemon.port(), rule_name, 3, 20s));
  EXPECT_EQ(group_notifications(received, "firing").size(), 2u);
  EXPECT_EQ(group_notifications(received, "resolved").size(), 1u);
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(15s), 0);
}

TEST_F(Population, PagerDutyAndSlackGetOneEventPerGroupChange) {
  sim s({"--rate", "0"});
  std::string pd_requests = (dir_.path / "pd.jsonl").string();
  receiver_options pd_opts;
  pd_opts.requests = pd_requests;
  receiver pd((dir_.path / "pd-accepted.jsonl").string(), pd_opts);
  std::string chat_requests = (dir_.path / "chat.jsonl").string();
  receiver_options chat_opts;
  chat_opts.requests = chat_requests;
  receiver chat((dir_.path / "chat-accepted.jsonl").string(), chat_opts);
  dir_.write("pd.key", "R0UTING0KEY0population\n");
  dir_.write("chat.url", "http://127.0.0.1:" + chat.port + "/services/T0/B0/X0\n");
  config_builder c;
  c.smartsight(s.port);
  c.rule(rule("8s", 1));
  c.sink(sink_spec("pd", "pagerduty")
             .with("url: http://127.0.0.1:" + pd.port + "/v2/enqueue")
             .with("routing_key_file: pd.key"));
  c.sink(sink_spec("chat", "slack").with("url_file: chat.url"));
  std::vector<std::string> sessions = sessions_of("b", "edgeB", 4, 4, wall_now() - 1);
  for (const std::string& row : sessions_of("c", "edgeC", 5, 2, wall_now() - 1))
    sessions.push_back(row);
  add_sessions(s, sessions);
  qoewatchd daemon(c.write(dir_), {{"QW_KEY", s.key}});

  auto bodies = [](const std::string& file) {
    std::vector<json::object> out;
    for (json::value& r : json_lines(file))
      if (r.at("status").to_number<int>() / 100 == 2) out.push_back(r.at("body").as_object());
    return out;
  };
  // Two groups fire and resolve (the sessions leave the 8 s window): 4 events each way.
  ASSERT_TRUE(eventually([&] { return bodies(pd_requests).size() >= 4; }, 40s)) << daemon.log();
  ASSERT_TRUE(eventually([&] { return bodies(chat_requests).size() >= 4; }, 40s)) << daemon.log();
  std::map<std::string, std::vector<std::string>> by_key;  // dedup_key: actions
  for (const json::object& e : bodies(pd_requests)) {
    by_key[std::string(e.at("dedup_key").as_string())].emplace_back(
        e.at("event_action").as_string());
    if (e.at("event_action") == "trigger") {
      const json::object& details = e.at("payload").at("custom_details").as_object();
      EXPECT_TRUE(details.at("group").at("cdn") == "edgeB" ||
                  details.at("group").at("cdn") == "edgeC");
      EXPECT_EQ(details.at("aggregates").at("ratio").to_number<double>() > 0.2, true);
    }
  }
  ASSERT_EQ(by_key.size(), 2u) << "one PagerDuty incident per group";
  for (const auto& [key, actions] : by_key) {
    EXPECT_EQ(actions, (std::vector<std::string>{"trigger", "resolve"})) << key;
    EXPECT_TRUE(key.starts_with("cdn_rebuffering/cdn=edge")) << key;
  }
  std::string texts;
  for (const json::object& m : bodies(chat_requests)) texts += std::string(m.at("text").as_string()) + "\n";
  EXPECT_NE(texts.find("cdn=edgeB: 100 % of 4 sessions have cirrbufferingratio &gt; 2"),
            std::string::npos)
      << texts;
  EXPECT_NE(texts.find("cdn=edgeC: 40 % of 5 sessions"), std::string::npos) << texts;
  EXPECT_EQ(occurrences(texts, "Resolved: cdn_rebuffering: cdn=edge"), 2u) << texts;
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(15s), 0);
}

TEST_F(Population, AnEditWhileStoppedThatRegroupsOrChangesKindResolvesWhatFired) {
  sim s({"--rate", "0"});
  std::string received = (dir_.path / "received.jsonl").string();
  receiver hook(received);
  config_builder c;
  c.smartsight(s.port);
  c.rule(rule("120s", 1));
  c.rule(rule_spec("slow", "latency > 5").window_of("120s"));
  c.sink(webhook(hook.port));
  const std::string cfg = c.write(dir_);
  add_sessions(s, sessions_of("b", "edgeB", 5, 5, wall_now() - 1));  // latency 3..7
  {
    qoewatchd daemon(cfg, {{"QW_KEY", s.key}});
    ASSERT_TRUE(eventually(
        [&] {
          return !group_notifications(received, "firing").empty() &&
                 !sessions_by_rule(received)["slow"].empty();
        },
        20s))
        << daemon.log();
    daemon.signal(SIGTERM);
    ASSERT_EQ(daemon.wait(15s), 0);
  }
  // While stopped: the population rule groups by platform now, and "slow" becomes a
  // population rule. What each had firing no longer means the same: both resolve at start.
  config_builder edited = c;
  edited.rules[0].more[0] = "group_by: [platform]";
  edited.rules[1].more.push_back("when: \"p95(latency) > 100\"");
  edited.write(dir_);
  qoewatchd daemon(cfg, {{"QW_KEY", s.key}});
  ASSERT_TRUE(eventually([&] { return !group_notifications(received, "resolved").empty(); }, 20s))
      << daemon.log();
  EXPECT_EQ(group_notifications(received, "resolved")
                .front()
                .at("alerts")
                .at(0)
                .at("labels")
                .at("cdn"),
            "edgeB");
  ASSERT_TRUE(eventually(
      [&] {
        for (const json::value& n : notifications(received))
          if (n.at("groupKey") == "qoewatch/slow" && n.at("status") == "resolved") return true;
        return false;
      },
      20s))
      << read_file(received) << daemon.log();
  ASSERT_TRUE(wait_for_more_polls(daemon.port(), "slow", 2, 20s));
  EXPECT_EQ(daemon.metric("qoewatch_rule_firing{rule=\"slow\"}"), 0);
  EXPECT_EQ(sqlite(dir_.path / "state" / "qoewatch.db", "SELECT count(*) FROM incidents"), "0\n");
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(15s), 0);
}
