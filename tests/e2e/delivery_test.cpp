// What on-call must be able to trust, with the real daemon, simulator and receiver: a receiver
// outage plus a SIGKILL lose and repeat nothing, deliveries are signed, SmartSight outages
// neither resolve nor alert and are caught up on, and what cannot be delivered is kept.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <boost/json.hpp>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "e2e/harness.hpp"
#include "support/process.hpp"

namespace json = boost::json;
using namespace qoewatch::test;
using namespace qoewatch::e2e;
using namespace std::chrono_literals;

namespace {

const std::string slow = R"("latency":9,"cirrbufferingratio":0,"fatalerrors":0)";
const std::string fine = R"("latency":1,"cirrbufferingratio":0,"fatalerrors":0)";

class Delivery : public testing::Test {
 protected:
  // One rule, "slow" (latency > 5), polled every second over `window` in pages of 2; one
  // webhook sink, "hook", with at most 2 sessions per notification.
  static config_builder builder(const std::string& sim_port, const std::string& hook_port,
                                const std::string& window) {
    config_builder c;
    c.smartsight(sim_port).smartsight_setting("page_size: 2");
    c.sink(webhook(hook_port, {"max_sessions_per_notification: 2"}));
    c.rule(rule_spec("slow", "latency > 5").window_of(window));
    return c;
  }

  // builder() with more settings of "hook" and more rules after "slow", written.
  std::string config(const std::string& sim_port, const std::string& hook_port,
                     const std::string& window, const std::vector<std::string>& sink_extra = {},
                     const std::vector<rule_spec>& more_rules = {}) const {
    config_builder c = builder(sim_port, hook_port, window);
    c.sinks[0].settings.insert(c.sinks[0].settings.end(), sink_extra.begin(), sink_extra.end());
    c.rules.insert(c.rules.end(), more_rules.begin(), more_rules.end());
    return c.write(dir_);
  }

  std::unique_ptr<qoewatchd> start(const std::string& cfg, const std::string& key) {
    return std::make_unique<qoewatchd>(cfg, std::map<std::string, std::string>{{"QW_KEY", key}},
                                       std::vector<std::string>{"--log-level", "debug"});
  }

  // A second rule, kept when "slow" is removed from the config.
  static rule_spec other_rule() {
    return rule_spec("other", "fatalerrors > 0").window_of("30s");
  }

  // The config without the rule "slow".
  static config_builder without_rule_slow(config_builder c) {
    std::erase_if(c.rules, [](const rule_spec& r) { return r.name == "slow"; });
    return c;
  }

  temp_dir dir_;
};

// The accepted deliveries of a --requests file, by webhook-id.
struct deliveries {
  std::map<std::string, std::vector<json::value>> by_id;  // every accepted copy
  std::size_t refused = 0;
  std::size_t bad_signatures = 0;
};

deliveries read_requests(const std::string& file) {
  deliveries d;
  for (const json::value& r : json_lines(file)) {
    if (r.at("signature_valid") != json::value(true)) ++d.bad_signatures;
    if (r.at("status").to_number<int>() / 100 != 2) {
      ++d.refused;
      continue;
    }
    d.by_id[std::string(r.at("webhook_id").as_string())].push_back(r.at("body"));
  }
  return d;
}

std::vector<std::string> session_ids(const json::value& body) {
  std::vector<std::string> out;
  for (const json::value& a : body.at("alerts").as_array())
    if (const json::value* id = a.at("labels").as_object().if_contains("sessionid"))
      out.emplace_back(id->as_string());
  return out;
}

// The sessions of the accepted POSTs in a --requests file, sorted; a session that arrived
// under two webhook-ids (notified twice, not merely retried) fails the test.
std::vector<std::string> sessions_each_under_one_id(const std::string& requests) {
  std::map<std::string, std::set<std::string>> ids_by_session;
  for (const auto& [id, copies] : read_requests(requests).by_id)
    for (const json::value& body : copies)
      for (const std::string& session : session_ids(body)) ids_by_session[session].insert(id);
  std::vector<std::string> out;
  for (const auto& [session, ids] : ids_by_session) {
    out.push_back(session);
    EXPECT_EQ(ids.size(), 1u) << session << " was notified under several webhook-ids";
  }
  return out;
}

}  // namespace

TEST_F(Delivery, AReceiverOutageAndASigkillLoseNothingAndRepeatNothing) {
  sim s({"--rate", "0"});
  std::string secret = dir_.write("hook.secret", "whsec_c2VjcmV0LWZvci10aGUtdGVzdA==\n");
  std::string requests = (dir_.path / "requests.jsonl").string();
  std::string accepted = (dir_.path / "accepted.jsonl").string();
  receiver_options opts;
  opts.status = 503;
  opts.secret_file = secret;
  opts.requests = requests;
  // Held for the whole test, so the receiver comes back on it.
  const reserved_port hook_port;
  opts.port = hook_port.port();
  auto hook = std::make_unique<receiver>(accepted, opts);
  std::string cfg = config(s.port, hook_port.port(), "10m", {"secret_file: hook.secret"});

  std::set<std::string> expected;
  auto offend = [&](const std::string& prefix, int n) {
    std::vector<std::string> rows;
    for (int i = 0; i < n; ++i) {
      std::string id = prefix + std::to_string(i);
      rows.push_back(session(id, wall_now() - 1, slow));
      expected.insert(id);
    }
    rows.push_back(session(prefix + "-ok", wall_now() - 1, fine));
    add_sessions(s, rows);
  };

  // 1. The receiver answers 503: notifications wait in the outbox, retried.
  offend("a", 3);
  auto daemon = start(cfg, s.key);
  ASSERT_TRUE(eventually([&] { return read_requests(requests).refused >= 3; }, 30s))
      << daemon->log();
  // 2. SIGKILL mid-outage, more sessions end, and the receiver goes away altogether.
  daemon->signal(SIGKILL);
  EXPECT_EQ(daemon->wait(10s), 128 + SIGKILL);
  offend("b", 3);
  hook.reset();
  daemon = start(cfg, s.key);
  ASSERT_TRUE(eventually(
      [&] { return daemon->log().find("connection refused by") != std::string::npos; }, 30s))
      << daemon->log();
  offend("c", 1);
  // 3. The receiver is back on the same port: everything arrives.
  opts.status = 200;
  hook = std::make_unique<receiver>(accepted, opts);
  auto delivered_sessions = [&] {
    std::set<std::string> got;
    for (const auto& [id, copies] : read_requests(requests).by_id)
      for (const std::string& sid : session_ids(copies.front())) got.insert(sid);
    return got;
  };
  ASSERT_TRUE(eventually([&] { return delivered_sessions() == expected; }, 90s))
      << "got " << testing::PrintToString(delivered_sessions()) << "\n"
      << daemon->log();
  // A late duplicate would be a retry still queued or a later poll alerting again: nothing is
  // left in the outbox, and three more polls went by.
  ASSERT_TRUE(
      wait_for_metric(daemon->port(), "qoewatch_outbox_pending{sink=\"hook\"}", equal_to(0), 20s));
  ASSERT_TRUE(wait_for_more_polls(daemon->port(), "slow", 3, 20s)) << daemon->log();

  deliveries d = read_requests(requests);
  EXPECT_EQ(d.bad_signatures, 0u) << "every POST carries a valid Standard Webhooks signature";
  std::map<std::string, std::string> id_of_session;
  for (const auto& [id, copies] : d.by_id) {
    // A webhook-id always names the same body, however often it was sent.
    for (const json::value& c : copies) EXPECT_EQ(c, copies.front()) << id;
    for (const std::string& sid : session_ids(copies.front())) {
      auto [it, inserted] = id_of_session.emplace(sid, id);
      EXPECT_TRUE(inserted) << "session " << sid << " notified under " << it->second << " and "
                            << id;
    }
  }
  EXPECT_EQ(id_of_session.size(), expected.size());
  EXPECT_EQ(daemon->metric("qoewatch_outbox_pending{sink=\"hook\"}"), 0);
  EXPECT_EQ(daemon->metric("qoewatch_dead_letters_total{sink=\"hook\"}"), 0);
  EXPECT_EQ(daemon->metric("qoewatch_rule_firing{rule=\"slow\"}"), 1);
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait(15s), 0) << daemon->log();
}

TEST_F(Delivery, SmartSightOutageNeitherResolvesNorAlertsAndIsCaughtUpOn) {
  // Held for the whole test, so the simulator comes back on it.
  const reserved_port sim_port;
  auto s = std::make_unique<sim>(
      std::vector<std::string>{"--rate", "0", "--listen", "127.0.0.1:" + sim_port.port()});
  const std::string key = s->key;
  std::string accepted = (dir_.path / "accepted.jsonl").string();
  receiver hook(accepted);
  // An Alertmanager stand-in: it must keep getting the incident's alert through the outage.
  std::string am_requests = (dir_.path / "am.jsonl").string();
  receiver_options am_opts;
  am_opts.requests = am_requests;
  receiver am((dir_.path / "am-accepted.jsonl").string(), am_opts);
  config_builder c = builder(sim_port.port(), hook.port, "4s");
  c.sink(sink_spec("am", "alertmanager").with("urls: [\"http://127.0.0.1:" + am.port + "\"]"));
  c.rules[0].with("resolve_after: 2");
  const std::string cfg = c.write(dir_);
  add_sessions(*s, {session("before", wall_now() - 1, slow)});
  auto daemon = start(cfg, key);
  ASSERT_TRUE(eventually([&] { return sessions_by_rule(accepted)["slow"].size() == 1; }, 20s))
      << daemon->log();
  ASSERT_EQ(daemon->metric("qoewatch_rule_firing{rule=\"slow\"}"), 1);

  // SmartSight goes away for longer than the window (4 s): seven failed polls, a second apart.
  s.reset();
  const std::int64_t down_at = wall_now();
  ASSERT_TRUE(
      wait_for_metric(daemon->port(), "qoewatch_source_up{rule=\"slow\"}", equal_to(0), 10s));
  const std::size_t am_posts_at_outage = json_lines(am_requests).size();
  ASSERT_TRUE(wait_for_more_polls(daemon->port(), "slow", 7, 30s, "failure")) << daemon->log();
  // Alertmanager would resolve an alert not re-sent within its endsAt: it keeps coming, one
  // post each failed poll.
  std::vector<json::value> am_posts = json_lines(am_requests);
  ASSERT_GE(am_posts.size(), am_posts_at_outage + 3) << daemon->log();
  const json::array& last_am = am_posts.back().at("body").as_array();
  ASSERT_EQ(last_am.size(), 1u) << "the incident's alert only";
  EXPECT_TRUE(last_am[0].at("labels").as_object().contains("incident"));
  EXPECT_EQ(daemon->metric("qoewatch_source_up{rule=\"slow\"}"), 0);
  EXPECT_EQ(daemon->metric("qoewatch_rule_firing{rule=\"slow\"}"), 1) << "a failed poll never resolves";
  EXPECT_EQ(notifications(accepted).size(), 1u) << "nothing new while the source is down";

  // It comes back knowing a session that ended during the outage, now older than one window.
  ASSERT_GT(wall_now(), down_at + 2 + 4) << "the outage was not longer than the window";
  s = std::make_unique<sim>(
      std::vector<std::string>{"--rate", "0", "--listen", "127.0.0.1:" + sim_port.port()});
  add_sessions(*s, {session("during", down_at + 2, slow)});
  ASSERT_TRUE(eventually([&] { return sessions_by_rule(accepted)["slow"].size() == 2; }, 20s))
      << daemon->log();
  EXPECT_EQ(sessions_by_rule(accepted)["slow"], (std::vector<std::string>{"before", "during"}));
  EXPECT_EQ(daemon->metric("qoewatch_source_up{rule=\"slow\"}"), 1);

  // Quiet windows now: the incident resolves after two successful polls, once.
  ASSERT_TRUE(eventually(
      [&] {
        for (const json::value& n : notifications(accepted))
          if (n.at("status") == "resolved") return true;
        return false;
      },
      30s))
      << daemon->log();
  json::value resolved = notifications(accepted).back();
  EXPECT_EQ(resolved.at("status"), "resolved");
  EXPECT_EQ(daemon->metric("qoewatch_rule_firing{rule=\"slow\"}"), 0);
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait(15s), 0);
}

TEST_F(Delivery, ALongOutageIsCaughtUpOnInSlicesThatEachFitMaxPages) {
  sim s({"--rate", "0"});
  std::string accepted = (dir_.path / "accepted.jsonl").string();
  receiver hook(accepted);
  // page_size 2 and max_pages 2: one poll can read at most 3 sessions.
  const std::string cfg =
      builder(s.port, hook.port, "2s").smartsight_setting("max_pages: 2").write(dir_);
  auto once = [&] {
    child_process d(QOEWATCHD_BINARY, {"--config", cfg, "--once", "--log-level", "debug"},
                    {{"QW_KEY", s.key}});
    int code = d.wait(60s);
    return std::make_pair(code, d.log());
  };
  auto [first, first_log] = once();
  ASSERT_EQ(first, 0) << first_log;  // the checkpoint is now
  const std::int64_t t0 = wall_now();
  // Down for 9 s, four and a half windows, while 8 slow sessions end: four pages' worth.
  std::vector<std::string> down;
  std::vector<std::string> ids;
  for (int i = 1; i <= 8; ++i) {
    ids.push_back("down-" + std::to_string(i));
    down.push_back(session(ids.back(), t0 + i, slow));
  }
  add_sessions(s, down);
  // Nothing runs meanwhile: the outage is the time it takes the sessions to end, and it is over
  // once the clock has passed the last one's end.
  ASSERT_TRUE(eventually([&] { return wall_now() >= t0 + 9; }, 15s));
  auto [second, second_log] = once();
  ASSERT_EQ(second, 0) << second_log;
  EXPECT_NE(second_log.find("catching up"), std::string::npos) << second_log;
  std::vector<std::string> got = sessions_by_rule(accepted)["slow"];
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, ids) << "every session of the outage, each once\n" << second_log;
  // The checkpoint reached the present: a third run finds nothing left to send.
  auto [third, third_log] = once();
  ASSERT_EQ(third, 0) << third_log;
  EXPECT_EQ(third_log.find("catching up"), std::string::npos) << third_log;
  EXPECT_EQ(sessions_by_rule(accepted)["slow"].size(), 8u);
}

TEST_F(Delivery, QuietPollsCheckpointsReachTheDatabaseWithinSecondsAndAtStop) {
  // Polls that notify nothing write their checkpoints together, at most a second later,
  // not one disk sync each: the database still follows the polls closely, and holds the
  // last poll of every rule after a stop.
  sim s({"--rate", "0"});
  receiver hook((dir_.path / "accepted.jsonl").string());
  std::string cfg = config(s.port, hook.port, "10s", {}, {other_rule()});
  const auto db = dir_.path / "state/qoewatch.db";
  auto stored = [&](const std::string& rule) -> std::int64_t {
    const std::optional<std::string> text =
        sqlite(db, "SELECT window_end FROM checkpoints WHERE rule = '" + rule + "'");
    return !text || text->empty() ? 0 : std::stoll(*text);
  };
  // The end of the rule's last window in the log: "rule slow: window 100..110: ...".
  auto logged = [](const std::string& log, const std::string& rule) -> std::int64_t {
    const std::size_t line = log.rfind("rule " + rule + ": window ");
    if (line == std::string::npos) return -1;
    return std::stoll(log.substr(log.find("..", line) + 2));
  };
  auto daemon = start(cfg, s.key);
  for (const std::string rule : {"slow", "other"})
    ASSERT_TRUE(wait_for_metric(daemon->port(), polls_series(rule), at_least(3), 20s))
        << daemon->log();
  for (int i = 0; i < 3; ++i) {
    for (const std::string rule : {"slow", "other"}) {
      const std::int64_t lag = wall_now() - stored(rule);
      EXPECT_LE(lag, 3) << rule << ": the database's checkpoint trails the polls by " << lag
                        << " s\n"
                        << daemon->log();
    }
    for (const std::string rule : {"slow", "other"})
      ASSERT_TRUE(wait_for_more_polls(daemon->port(), rule, 1, 10s)) << daemon->log();
  }
  daemon->signal(SIGTERM);
  ASSERT_EQ(daemon->wait(15s), 0) << daemon->log();
  const std::string last_log = daemon->log();
  for (const std::string rule : {"slow", "other"})
    EXPECT_EQ(stored(rule), logged(last_log, rule)) << rule << "\n" << last_log;

  // --once polls both rules at the same moment: the second one's checkpoint is written at exit.
  // (Its windows end later than the stopped daemon's, once the clock has passed their ends.)
  ASSERT_TRUE(eventually(
      [&] { return wall_now() > std::max(logged(last_log, "slow"), logged(last_log, "other")); },
      5s));
  child_process once(QOEWATCHD_BINARY, {"--config", cfg, "--once", "--log-level", "debug"},
                     {{"QW_KEY", s.key}});
  ASSERT_EQ(once.wait(60s), 0) << once.log();
  for (const std::string rule : {"slow", "other"})
    EXPECT_EQ(stored(rule), logged(once.log(), rule)) << rule << "\n" << once.log();
  EXPECT_TRUE(json_lines((dir_.path / "accepted.jsonl").string()).empty());
}

TEST_F(Delivery, ARuleRemovedWhileFiringResolvesAndRemembersWhatItSentWhenItComesBack) {
  sim s({"--rate", "0"});
  std::string accepted = (dir_.path / "accepted.jsonl").string();
  receiver hook(accepted);
  config_builder with_slow = builder(s.port, hook.port, "30s");
  with_slow.rule(other_rule());
  const config_builder without_slow = without_rule_slow(with_slow);
  const std::string cfg = with_slow.write(dir_);
  auto statuses = [&](const std::string& rule) {
    std::vector<std::string> out;
    for (const json::value& n : notifications(accepted))
      if (n.at("groupLabels").at("alertname").as_string() == rule)
        out.emplace_back(n.at("status").as_string());
    return out;
  };

  add_sessions(s, {session("a", wall_now() - 1, slow)});
  auto daemon = start(cfg, s.key);
  ASSERT_TRUE(eventually([&] { return sessions_by_rule(accepted)["slow"].size() == 1; }, 20s))
      << daemon->log();

  // Removed while firing: nobody could resolve its incident any more, so it resolves now.
  without_slow.write(dir_);
  daemon->signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return statuses("slow").size() == 2; }, 10s)) << daemon->log();
  EXPECT_EQ(statuses("slow"), (std::vector<std::string>{"firing", "resolved"}));
  EXPECT_FALSE(daemon->metric("qoewatch_rule_firing{rule=\"slow\"}").has_value());

  // Back again while "a" is still in its window: "a" is not sent again, "b" is.
  with_slow.write(dir_);
  daemon->signal(SIGHUP);
  ASSERT_TRUE(
      wait_for_metric(daemon->port(), "qoewatch_rule_firing{rule=\"slow\"}", equal_to(1), 10s))
      << daemon->log();
  add_sessions(s, {session("b", wall_now() - 1, slow)});
  ASSERT_TRUE(eventually([&] { return sessions_by_rule(accepted)["slow"].size() >= 2; }, 20s))
      << daemon->log();
  // "a" again would come with a later poll: nothing waits in the outbox, two more polls went by.
  ASSERT_TRUE(
      wait_for_metric(daemon->port(), "qoewatch_outbox_pending{sink=\"hook\"}", equal_to(0), 10s));
  ASSERT_TRUE(wait_for_more_polls(daemon->port(), "slow", 2, 20s)) << daemon->log();
  EXPECT_EQ(sessions_by_rule(accepted)["slow"], (std::vector<std::string>{"a", "b"}))
      << daemon->log();

  // Decommissioned together with its only sink: the retired sink still delivers the resolve.
  config_builder no_sinks = without_slow;
  no_sinks.sinks.clear();
  no_sinks.write(dir_);
  daemon->signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return statuses("slow").size() == 4; }, 10s)) << daemon->log();
  EXPECT_EQ(statuses("slow"),
            (std::vector<std::string>{"firing", "resolved", "firing", "resolved"}));
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait(15s), 0);
}

TEST_F(Delivery, ARuleRemovedWhileQoewatchWasStoppedResolvesAtTheNextStart) {
  sim s({"--rate", "0"});
  std::string accepted = (dir_.path / "accepted.jsonl").string();
  receiver hook(accepted);
  config_builder with_slow = builder(s.port, hook.port, "30s");
  with_slow.rule(other_rule());
  const std::string cfg = with_slow.write(dir_);
  add_sessions(s, {session("a", wall_now() - 1, slow)});
  auto daemon = start(cfg, s.key);
  ASSERT_TRUE(eventually([&] { return sessions_by_rule(accepted)["slow"].size() == 1; }, 20s))
      << daemon->log();
  daemon->signal(SIGTERM);
  ASSERT_EQ(daemon->wait(15s), 0);

  without_rule_slow(with_slow).write(dir_);
  daemon = start(cfg, s.key);
  ASSERT_TRUE(eventually([&] { return notifications(accepted).size() == 2; }, 20s))
      << daemon->log();
  const json::value resolved = notifications(accepted).back();
  EXPECT_EQ(resolved.at("status"), "resolved") << json::serialize(resolved);
  EXPECT_EQ(resolved.at("groupLabels").at("alertname"), "slow");
  EXPECT_NE(json::serialize(resolved).find("removed from the config while qoewatch was stopped"),
            std::string::npos)
      << json::serialize(resolved);
  // Once: a further restart finds nothing left to resolve.
  daemon->signal(SIGTERM);
  ASSERT_EQ(daemon->wait(15s), 0);
  daemon = start(cfg, s.key);
  // Orphans are resolved at the start, before the first poll: two polls later, with nothing
  // waiting in the outbox, a second resolve would have been sent.
  ASSERT_TRUE(wait_for_more_polls(daemon->port(), "other", 2, 20s)) << daemon->log();
  ASSERT_TRUE(
      wait_for_metric(daemon->port(), "qoewatch_outbox_pending{sink=\"hook\"}", equal_to(0), 10s));
  EXPECT_EQ(notifications(accepted).size(), 2u) << daemon->log();
  EXPECT_EQ(daemon->metric("qoewatch_notifications_total{outcome=\"success\",sink=\"hook\"}"), 0);
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait(15s), 0);
}

TEST_F(Delivery, ARemovedOrRetypedSinkSettlesItsPostInFlightAndKeepsTheRestAsDeadLetters) {
  sim s({"--rate", "0"});
  std::string accepted = (dir_.path / "accepted.jsonl").string();
  receiver hook(accepted);
  auto write_config = [&](std::vector<sink_spec> sinks) {
    config_builder c;
    c.smartsight(s.port).timeout = "5s";
    c.rule(rule_spec("slow", "latency > 5").window_of("30s"));
    c.sinks = std::move(sinks);
    return c.write(dir_);
  };
  const sink_spec webhook_sink = webhook(hook.port, {"max_sessions_per_notification: 1"});
  const sink_spec slack =
      sink_spec("hook", "slack").with("url: \"http://127.0.0.1:" + hook.port + "/slack\"");
  std::string cfg = write_config({webhook_sink});

  // The receiver holds each POST for 2 s; while "a1" is on the wire and "a2" waits behind it,
  // a reload removes the sink: "a1" completes, "a2" gets its last attempt, nothing is lost.
  hook.set_delay(2);
  add_sessions(s, {session("a1", wall_now() - 1, slow), session("a2", wall_now() - 1, slow)});
  auto daemon = start(cfg, s.key);
  ASSERT_TRUE(
      eventually([&] { return daemon->metric("qoewatch_outbox_pending{sink=\"hook\"}") == 2; }, 20s))
      << daemon->log();
  // "a1" is on the wire once the daemon holds a connection to the receiver.
  ASSERT_TRUE(eventually([&] { return connections_to(hook.port) >= 1; }, 10s)) << daemon->log();
  write_config({});
  daemon->signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return notifications(accepted).size() == 2; }, 15s))
      << daemon->log();
  // Settled once both rows left the outbox, as delivered or as dead letters.
  const auto db = dir_.path / "state/qoewatch.db";
  ASSERT_TRUE(eventually([&] { return sqlite(db, "SELECT count(*) FROM outbox") == "0\n"; }, 10s))
      << daemon->log();
  EXPECT_NE(dead_letters(cfg).find("0 dead letter(s)"), std::string::npos)
      << "accepted by the receiver, so not a dead letter\n"
      << daemon->log();
  EXPECT_FALSE(daemon->metric("qoewatch_outbox_pending{sink=\"hook\"}").has_value());
  EXPECT_FALSE(daemon->metric("qoewatch_dead_letters_total{sink=\"hook\"}").has_value());

  // Back, failing: "b" waits in its queue when the sink becomes a Slack sink. Its webhook body
  // would be the wrong shape for Slack: it is kept as a dead letter, never sent misshapen.
  hook.set_delay(0);
  hook.set_status(503);
  write_config({webhook_sink});
  daemon->signal(SIGHUP);
  add_sessions(s, {session("b", wall_now() - 1, slow)});
  ASSERT_TRUE(
      eventually([&] { return daemon->metric("qoewatch_outbox_pending{sink=\"hook\"}") == 1; }, 20s))
      << daemon->log();
  write_config({slack});
  daemon->signal(SIGHUP);
  ASSERT_TRUE(
      eventually([&] { return daemon->metric("qoewatch_dead_letters_total{sink=\"hook\"}") == 1; }, 10s))
      << daemon->log();
  EXPECT_EQ(daemon->metric("qoewatch_outbox_pending{sink=\"hook\"}"), 0);
  hook.set_status(200);
  add_sessions(s, {session("c", wall_now() - 1, slow)});
  ASSERT_TRUE(eventually([&] { return notifications(accepted).size() == 3; }, 20s))
      << daemon->log();
  const json::value slack_body = notifications(accepted).back();
  EXPECT_TRUE(slack_body.as_object().contains("blocks")) << json::serialize(slack_body);
  EXPECT_NE(json::serialize(slack_body).find("`c`"), std::string::npos)
      << json::serialize(slack_body);
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait(15s), 0);

  const std::string listed = dead_letters(cfg);
  EXPECT_NE(listed.find("reason: sink hook changed type from webhook to slack"), std::string::npos)
      << listed;
  EXPECT_NE(listed.find("\"b\""), std::string::npos) << listed;
  EXPECT_NE(listed.find("1 dead letter(s)"), std::string::npos) << listed;
}

TEST_F(Delivery, ASinkRetypedWhileQoewatchWasStoppedKeepsItsOldQueueAsDeadLetters) {
  sim s({"--rate", "0"});
  std::string accepted = (dir_.path / "accepted.jsonl").string();
  receiver hook(accepted, 503);
  config_builder c = builder(s.port, hook.port, "30s");
  const std::string cfg = c.write(dir_);
  add_sessions(s, {session("a", wall_now() - 1, slow)});
  auto daemon = start(cfg, s.key);
  ASSERT_TRUE(
      eventually([&] { return daemon->metric("qoewatch_outbox_pending{sink=\"hook\"}") == 1; }, 20s))
      << daemon->log();
  daemon->signal(SIGTERM);
  ASSERT_EQ(daemon->wait(15s), 0);

  // The queued body is a webhook body: a Slack sink of the same name must not send it.
  c.sinks[0].type = "slack";
  c.write(dir_);
  hook.set_status(200);
  daemon = start(cfg, s.key);
  ASSERT_TRUE(
      eventually([&] { return daemon->metric("qoewatch_dead_letters_total{sink=\"hook\"}") == 1; }, 20s))
      << daemon->log();
  EXPECT_EQ(daemon->metric("qoewatch_outbox_pending{sink=\"hook\"}"), 0);
  EXPECT_TRUE(notifications(accepted).empty());
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait(15s), 0);
  const std::string out = dead_letters(cfg);
  EXPECT_NE(out.find("reason: sink hook changed type from webhook to slack while qoewatch was "
                     "stopped"),
            std::string::npos)
      << out;
}

TEST_F(Delivery, RejectedAndExpiredNotificationsBecomeListedDeadLetters) {
  sim s({"--rate", "0"});
  std::string accepted = (dir_.path / "accepted.jsonl").string();
  receiver hook(accepted, 400);
  std::string cfg = config(s.port, hook.port, "10m", {"max_age: 3s"});
  add_sessions(s, {session("rejected", wall_now() - 1, slow)});
  auto daemon = start(cfg, s.key);
  ASSERT_TRUE(
      eventually([&] { return daemon->metric("qoewatch_dead_letters_total{sink=\"hook\"}") == 1; }, 20s))
      << daemon->log();
  // Now the receiver only fails for a while: past max_age the notification is given up on.
  hook.set_status(503);
  add_sessions(s, {session("expired", wall_now() - 1, slow)});
  ASSERT_TRUE(
      eventually([&] { return daemon->metric("qoewatch_dead_letters_total{sink=\"hook\"}") == 2; }, 30s))
      << daemon->log();
  EXPECT_EQ(daemon->metric("qoewatch_outbox_pending{sink=\"hook\"}"), 0);
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait(15s), 0);

  const std::string out = dead_letters(cfg);
  EXPECT_NE(out.find("sink=hook rule=slow"), std::string::npos) << out;
  EXPECT_NE(out.find("reason: HTTP 400"), std::string::npos) << out;
  EXPECT_NE(out.find("reason: undelivered after 3s (last: HTTP 503"), std::string::npos) << out;
  EXPECT_NE(out.find("\"rejected\""), std::string::npos) << "the body is kept for a replay";
  EXPECT_NE(out.find("2 dead letter(s) in "), std::string::npos) << out;
  EXPECT_TRUE(notifications(accepted).empty());
}

TEST_F(Delivery, ACorruptStateDatabaseStopsTheStartNamingTheFile) {
  sim s({"--rate", "0"});
  std::string cfg = config(s.port, "9", "10m");
  std::string db = dir_.write("state/qoewatch.db", std::string(8192, 'x'));
  auto daemon = start(cfg, s.key);
  EXPECT_EQ(daemon->wait(15s), 1);
  EXPECT_NE(daemon->log().find(db + ": not a usable SQLite database"), std::string::npos)
      << daemon->log();
  EXPECT_EQ(read_file(db), std::string(8192, 'x')) << "never a silent reset";
}

TEST_F(Delivery, EveryKindOfSmartSightFaultLosesNothingAndRepeatsNothing) {
  // The simulator injects each kind of fault in turn into every answer while offending
  // sessions keep ending. A poll that gets one fails (and the next covers its window again) or,
  // for rows whose values are of the wrong type, skips and counts those rows; counters that lie
  // change nothing; /metrics answers throughout. Once the faults stop, every offending session
  // is notified, each under one webhook-id.
  sim s({"--rate", "0"});
  const std::string requests = (dir_.path / "requests.jsonl").string();
  receiver_options opts;
  opts.requests = requests;
  receiver hook((dir_.path / "accepted.jsonl").string(), opts);
  auto set_faults = [&](const std::string& method, const std::string& plan) {
    http_reply r = http_request(s.port, method, "/_sim/faults", plan, {{"X-API-Key", s.key}});
    EXPECT_EQ(r.status, 200u) << r.body;
  };
  set_faults("PUT", R"({"server_error": 1})");
  auto daemon = start(config(s.port, hook.port, "2m"), s.key);
  auto polls = [&](const char* outcome) {
    return daemon->metric(std::string("qoewatch_polls_total{outcome=\"") + outcome + "\",rule=\"slow\"}")
        .value_or(0);
  };
  struct step {
    const char* plan;
    bool fails;
  };
  const step steps[] = {{R"({"server_error": 1})", true},
                        {R"({"throttle": 1, "retry_after": 1})", true},
                        {R"({"reset": 1})", true},
                        {R"({"truncated": 1})", true},
                        {R"({"malformed": 1})", true},
                        {R"({"slow": 1, "slow_ms": 2500})", true},  // the timeout is 2 s
                        {R"({"wrong_types": 1})", false},
                        {R"({"lying_counters": 1})", false}};
  std::vector<std::string> offending;
  int n = 0;
  for (const step& st : steps) {
    set_faults("PUT", st.plan);
    const std::string id = "f" + std::to_string(n++);
    add_sessions(s, {session(id, wall_now() - 1, slow), session(id + "-ok", wall_now() - 1, fine)});
    offending.push_back(id);
    const double before = polls(st.fails ? "failure" : "success");
    EXPECT_TRUE(eventually([&] { return polls(st.fails ? "failure" : "success") > before; }, 15s))
        << st.plan << "\n"
        << daemon->log();
    if (st.fails) {
      EXPECT_EQ(daemon->metric("qoewatch_source_up{rule=\"slow\"}"), 0) << st.plan;
    }
  }
  EXPECT_GE(daemon->metric("qoewatch_rows_skipped_total{reason=\"bad_endtime\",rule=\"slow\"}").value_or(0),
            1);
  set_faults("DELETE", "");
  ASSERT_TRUE(eventually(
      [&] {
        return sessions_by_rule((dir_.path / "accepted.jsonl").string())["slow"].size() >=
               offending.size();
      },
      30s))
      << daemon->log();
  // A repeat would be a retry still queued or a later poll alerting again: nothing is left in
  // the outbox, and three more polls went by.
  ASSERT_TRUE(
      wait_for_metric(daemon->port(), "qoewatch_outbox_pending{sink=\"hook\"}", equal_to(0), 20s));
  ASSERT_TRUE(wait_for_more_polls(daemon->port(), "slow", 3, 20s)) << daemon->log();
  const std::vector<std::string> notified = sessions_each_under_one_id(requests);
  std::sort(offending.begin(), offending.end());
  EXPECT_EQ(notified, offending);
  EXPECT_EQ(daemon->metric("qoewatch_source_up{rule=\"slow\"}"), 1);
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait(15s), 0);
}

TEST_F(Delivery, EveryKindOfReceiverFaultLosesNothingAndRepeatsNoSession) {
  // The receiver answers 500, then 429 with Retry-After, then resets the connection after
  // reading the request, then answers late, while offending sessions keep ending. Nothing is
  // dropped: once the faults stop, every session has arrived, each under one webhook-id (a
  // retried POST keeps its id, so a receiver can drop a repeat), and /metrics answered
  // throughout.
  sim s({"--rate", "0"});
  const std::string requests = (dir_.path / "requests.jsonl").string();
  receiver_options opts;
  opts.requests = requests;
  receiver hook((dir_.path / "accepted.jsonl").string(), opts);
  auto daemon = start(config(s.port, hook.port, "2m"), s.key);
  auto answered = [&](int status) {
    int n = 0;
    for (const json::value& r : json_lines(requests))
      if (r.at("status").to_number<int>() == status) ++n;
    return n;
  };
  const std::pair<const char*, int> faults[] = {{R"({"error": 1})", 500},
                                                {R"({"throttle": 1, "retry_after": 1})", 429},
                                                {R"({"reset": 1})", 0},
                                                {R"({"slow": 1, "slow_s": 2})", 200}};
  std::vector<std::string> offending;
  int n = 0;
  for (const auto& [plan, status] : faults) {
    hook.set_faults(plan);
    const int before = answered(status);
    const std::string id = "r" + std::to_string(n++);
    add_sessions(s, {session(id, wall_now() - 1, slow)});
    offending.push_back(id);
    EXPECT_TRUE(eventually([&] { return answered(status) > before; }, 30s)) << plan << "\n"
                                                                            << daemon->log();
    EXPECT_TRUE(daemon->metric("qoewatch_source_up{rule=\"slow\"}").has_value()) << "/metrics answers";
  }
  hook.set_faults("{}");
  const std::string accepted = (dir_.path / "accepted.jsonl").string();
  ASSERT_TRUE(eventually(
      [&] { return as_set(sessions_by_rule(accepted)["slow"]).size() >= offending.size(); }, 60s))
      << daemon->log();
  const std::vector<std::string> notified = sessions_each_under_one_id(requests);
  EXPECT_EQ(notified, offending);
  EXPECT_GE(daemon->metric("qoewatch_notifications_total{outcome=\"failure\",sink=\"hook\"}").value_or(0),
            3);
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait(15s), 0);
}

TEST_F(Delivery, HostileSmartSightAnswersAreCutOffWhileMetricsAnswer) {
  // An answer larger than max_response_bytes, a chunked body that never ends, a header that
  // never ends and a peer that sends one byte at a time are each cut off by a cap or the 2 s
  // deadline: the poll fails naming why, /metrics answers within a second throughout, and
  // once the peer behaves the session waiting in the window is alerted.
  sim s({"--rate", "0"});
  receiver hook((dir_.path / "accepted.jsonl").string());
  const std::string cfg = builder(s.port, hook.port, "2m")
                              .smartsight_setting("max_response_bytes: 1MiB")
                              .write(dir_, "hostile.yaml");
  auto set_faults = [&](const std::string& method, const std::string& plan) {
    http_reply r = http_request(s.port, method, "/_sim/faults", plan, {{"X-API-Key", s.key}});
    EXPECT_EQ(r.status, 200u) << r.body;
  };
  set_faults("PUT", R"({"oversized": 1, "oversized_bytes": 50000000})");
  add_sessions(s, {session("h1", wall_now() - 1, slow)});
  auto daemon = start(cfg, s.key);
  const std::pair<const char*, const char*> steps[] = {
      {R"({"oversized": 1, "oversized_bytes": 50000000})", "larger than"},
      {R"({"endless": 1})", "larger than"},
      {R"({"huge_header": 1})", "header larger than"},
      {R"({"trickle": 1, "trickle_ms": 300})", "deadline of 2s exceeded"}};
  for (const auto& [plan, why] : steps) {
    set_faults("PUT", plan);
    const double before =
        daemon->metric("qoewatch_polls_total{outcome=\"failure\",rule=\"slow\"}").value_or(0);
    const std::size_t log_before = daemon->log().size();
    EXPECT_TRUE(eventually(
        [&] {
          const auto t0 = std::chrono::steady_clock::now();
          const double failed =
              daemon->metric("qoewatch_polls_total{outcome=\"failure\",rule=\"slow\"}").value_or(-1);
          EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s) << "/metrics was slow: " << plan;
          return failed > before && daemon->log().find(why, log_before) != std::string::npos;
        },
        20s))
        << plan << "\n"
        << daemon->log() << s.process.log();
    EXPECT_EQ(daemon->metric("qoewatch_source_up{rule=\"slow\"}"), 0) << plan;
  }
  EXPECT_TRUE(sessions_by_rule((dir_.path / "accepted.jsonl").string())["slow"].empty());
  set_faults("DELETE", "");
  EXPECT_TRUE(eventually(
      [&] {
        return sessions_by_rule((dir_.path / "accepted.jsonl").string())["slow"] ==
               std::vector<std::string>{"h1"};
      },
      20s))
      << daemon->log();
  EXPECT_EQ(daemon->metric("qoewatch_source_up{rule=\"slow\"}"), 1);
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait(15s), 0);
}
