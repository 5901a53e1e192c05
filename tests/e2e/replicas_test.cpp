// Replicas: qoewatchd processes that judge the same data give what they send the same
// identities (incident keys, webhook-ids), so receivers that dedupe on them hear one page;
// behind an Alertmanager cluster, two independent replicas page once. Upgrade: what an older
// qoewatch left in its state database keeps the identities it had.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <cstdint>
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "e2e/harness.hpp"
#include "support/process.hpp"

namespace json = boost::json;
using namespace qoewatch::test;
using namespace qoewatch::e2e;
using namespace std::chrono_literals;

namespace {

const std::string slow = R"("latency":9,"cirrbufferingratio":0,"fatalerrors":0)";

// The accepted POSTs of a --requests file: per webhook-id, how many copies and the sessions.
struct by_id {
  std::map<std::string, int> copies;
  std::map<std::string, std::set<std::string>> ids_of_session;
  std::set<std::string> incidents;
};

by_id read_by_id(const std::string& requests) {
  by_id out;
  for (const json::value& r : json_lines(requests)) {
    if (r.at("status").to_number<int>() / 100 != 2) continue;
    const std::string id(r.at("webhook_id").as_string());
    ++out.copies[id];
    const json::value& body = r.at("body");
    for (const json::value& a : body.at("alerts").as_array())
      if (const json::value* s = a.at("labels").as_object().if_contains("sessionid"))
        out.ids_of_session[std::string(s->as_string())].insert(id);
    out.incidents.insert(std::string(body.at("qoewatch").at("incident").at("key").as_string()));
  }
  return out;
}

// Waits until every daemon has polled "slow" `more` more times than when called: a few polls
// of each go by, at once rather than one daemon after the other.
testing::AssertionResult more_polls_of_each(std::initializer_list<qoewatchd*> daemons, int more) {
  std::vector<std::pair<qoewatchd*, double>> before;
  for (qoewatchd* d : daemons) before.emplace_back(d, d->metric(polls_series("slow")).value_or(0));
  for (auto& [d, polls] : before) {
    testing::AssertionResult ok =
        wait_for_metric(d->port(), polls_series("slow"), at_least(polls + more), 20s);
    if (!ok) return ok << "\n" << d->log();
  }
  return testing::AssertionSuccess();
}

// --- Alertmanager's cluster ------------------------------------------------------------------
//
// Every peer gets every alert (qoewatch posts to each URL of the sink) and groups it on its
// own. A peer at position p (peers sorted by name) waits p x --cluster.peer-timeout before it
// notifies, then sends only what the notification log, gossiped among the peers, does not say
// was sent. The group's state is taken when the flush starts, before that wait.
//
// The timings, for two peers on loopback:
// - A peer flushes a new group at once (startsAt, the window end, is older than group_wait),
//   then every group_interval. Both replicas post on the same second grid (window end + delay
//   + the rule's jitter), so both peers first flush within a few ms of each other; but a peer
//   that gets the other replica's POST before that first flush has begun flushes once more
//   right after it, which for the second peer is after its wait: its ticks lag the first
//   peer's by about 0 or by one peer_timeout.
// - A change the first peer sees first is sent at once; the second peer's wait must cover
//   that POST and a gossip round (a few ms on loopback, ~100 ms on a loaded machine; 20ms):
//   peer_timeout > POST + gossip.
// - A change the second peer sees first (its ticks lag, or it landed between the two peers'
//   ticks) is sent after its wait, and must be in the first peer's log before that peer's
//   next tick: 2 x peer_timeout + POST + gossip < group_interval.
// So peer_timeout 500ms and group_interval 2s: about 0.4 s to spare on either side. Run with
// peer_timeout 1s, a lagging second peer paged the resolve a second time.
// - gossip_interval 20ms also makes the cluster settle (4 steady polls, 10 gossip intervals
//   apart) in about 1 s; pushpull_interval 1s resynchronises a peer that missed a broadcast.
//   repeat_interval is long: a repeated page would be a second page.
constexpr const char* group_interval = "2s";
constexpr const char* peer_timeout = "500ms";
constexpr const char* gossip_interval = "20ms";
constexpr const char* pushpull_interval = "1s";

// One peer of the cluster: its web and gossip ports, held until it binds them.
struct am_peer {
  reserved_port web;
  reserved_port gossip;
  std::unique_ptr<child_process> process;
};

std::optional<json::value> am_get(const std::string& port, const std::string& target) {
  http_reply r = http_request(port, "GET", target);
  if (r.status != 200) return std::nullopt;
  return json::parse(r.body);
}

// Settled, with both peers in its member list.
bool clustered(const std::string& port) {
  std::optional<json::value> status = am_get(port, "/api/v2/status");
  if (!status) return false;
  const json::object& cluster = status->at("cluster").as_object();
  const json::value* peers = cluster.if_contains("peers");
  return cluster.at("status") == "ready" && peers && peers->as_array().size() == 2;
}

// The incident labels of the active (firing) alerts a peer holds.
std::vector<std::string> active_incidents(const std::string& port) {
  std::optional<json::value> alerts = am_get(port, "/api/v2/alerts");
  if (!alerts) return {"(no answer)"};
  std::vector<std::string> out;
  for (const json::value& a : alerts->as_array())
    if (const json::value* key = a.at("labels").as_object().if_contains("incident"))
      out.emplace_back(key->as_string());
  return out;
}

// The flushes of the paging group a peer logged (at debug level), and whether each of them
// has reached its decision (to send or not).
struct flushes {
  std::size_t count = 0;
  bool last_resolved = false;
  bool all_decided = false;
};

flushes paging_flushes(const am_peer& p) {
  flushes out;
  // The log before the metric: a group's flushes run one after another, each querying the
  // notification log once (after the wait), so once the queries reach the flushes logged,
  // each of those has decided. Only the paging group's receiver queries: "evidence" has no
  // integration to dedupe for.
  const std::string log = p.process->log();
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    // ... aggrGroup="{}/{incident=~\".+\"}:{alertname=\"slow\"}" msg=flushing
    //     alerts=[slow[c0eea7a][resolved]]
    if (line.find("incident=~") == std::string::npos ||
        line.find("msg=flushing") == std::string::npos)
      continue;
    ++out.count;
    out.last_resolved = line.find("][resolved]]") != std::string::npos;
  }
  const std::optional<double> queries = metric_value(
      http_request(p.web.port(), "GET", "/metrics").body, "alertmanager_nflog_queries_total");
  out.all_decided = queries && *queries >= static_cast<double>(out.count);
  return out;
}

// What reached the pager about the incident: per notification that carried its alert, the
// peer that sent it, as "firing" or "resolved".
struct page_log {
  std::vector<std::string> firing, resolved;  // externalURL of the sender
  std::set<std::string> keys;
};

page_log pages(const std::string& received) {
  page_log out;
  for (const json::value& n : notifications(received))
    for (const json::value& a : n.at("alerts").as_array()) {
      const json::value* key = a.at("labels").as_object().if_contains("incident");
      if (!key) continue;
      out.keys.insert(std::string(key->as_string()));
      (a.at("status") == "resolved" ? out.resolved : out.firing)
          .emplace_back(n.at("externalURL").as_string());
    }
  return out;
}

// The key of the incident a daemon's log says rule "slow" `did` ("firing", "resolved"), or "".
std::string key_logged(const std::string& log, const std::string& did) {
  // "rule slow: incident slow/1775750520 firing: 2 offending session(s) ..."
  const std::string before = "rule slow: incident ";
  for (std::size_t at = log.find(before); at != std::string::npos; at = log.find(before, at + 1)) {
    const std::size_t start = at + before.size();
    const std::size_t end = log.find(' ', start);
    if (end != std::string::npos && log.compare(end + 1, did.size(), did) == 0)
      return log.substr(start, end - start);
  }
  return "";
}

// --- the upgrade -----------------------------------------------------------------------------

// The accepted POSTs of a --requests file, in order.
std::vector<json::object> accepted(const std::string& requests) {
  std::vector<json::object> out;
  for (json::value& r : json_lines(requests))
    if (r.at("status").to_number<int>() / 100 == 2) out.push_back(r.as_object());
  return out;
}

// An id as an older qoewatch drew it for each outbox row: "msg_" and 32 random hex digits.
std::string random_old_id() {
  std::mt19937_64 draw{std::random_device{}()};
  static constexpr char hex[] = "0123456789abcdef";
  std::string id = "msg_";
  for (int i = 0; i < 32; ++i) id += hex[draw() % 16];
  return id;
}

}  // namespace

TEST(Replicas, TwoIndependentReplicasNotifyEachSessionUnderOneId) {
  // Two daemons, each with its own SQLite state, started a moment apart: their start jitters
  // and poll moments differ, the windows they judge do not. A 3 s delay means a session that
  // ended just now is first seen by both in the same window.
  sim s({"--rate", "0"});
  temp_dir a_dir, b_dir;
  const std::string requests = (a_dir.path / "requests.jsonl").string();
  receiver_options opts;
  opts.requests = requests;
  receiver hook((a_dir.path / "accepted.jsonl").string(), opts);
  config_builder c;
  c.smartsight(s.port);
  c.sink(webhook(hook.port, {"max_sessions_per_notification: 2"}));
  c.rule(rule_spec("slow", "latency > 5").delay_of("3s"));
  const std::map<std::string, std::string> env{{"QW_KEY", s.key}};
  qoewatchd a(c.write(a_dir), env);
  ASSERT_TRUE(wait_for_more_polls(a.port(), "slow", 1, 20s)) << a.log();
  qoewatchd b(c.write(b_dir), env);
  ASSERT_TRUE(wait_for_more_polls(b.port(), "slow", 1, 20s)) << b.log();

  std::vector<std::string> rows;
  std::set<std::string> expected;
  for (int i = 0; i < 5; ++i) {
    rows.push_back(session("r" + std::to_string(i), wall_now(), slow));
    expected.insert("r" + std::to_string(i));
  }
  add_sessions(s, rows);

  // Three bodies of at most 2 sessions, each sent by both replicas under one id.
  auto all_twice = [&] {
    const by_id got = read_by_id(requests);
    if (got.copies.size() < 3) return false;
    for (const auto& [id, n] : got.copies)
      if (n < 2) return false;
    return true;
  };
  ASSERT_TRUE(eventually(all_twice, 30s)) << json_lines(requests).size() << " POSTs\n"
                                          << a.log() << b.log();
  // Nothing more comes: a few more polls of each go by, and the outboxes are empty.
  ASSERT_TRUE(more_polls_of_each({&a, &b}, 3));
  for (qoewatchd* d : {&a, &b}) {
    ASSERT_TRUE(
        wait_for_metric(d->port(), "qoewatch_outbox_pending{sink=\"hook\"}", equal_to(0), 20s));
  }
  const by_id got = read_by_id(requests);
  EXPECT_EQ(got.copies.size(), 3u);
  for (const auto& [id, n] : got.copies) EXPECT_EQ(n, 2) << id;
  std::set<std::string> sessions;
  for (const auto& [session, ids] : got.ids_of_session) {
    sessions.insert(session);
    EXPECT_EQ(ids.size(), 1u) << session << " came under several webhook-ids";
  }
  EXPECT_EQ(sessions, expected);
  EXPECT_EQ(got.incidents.size(), 1u) << "both replicas name the incident alike";
  for (qoewatchd* d : {&a, &b}) {
    d->signal(SIGTERM);
    EXPECT_EQ(d->wait(15s), 0) << d->log();
  }
}

TEST(Replicas, TwoIndependentReplicasBehindAnAlertmanagerClusterPageOnce) {
  // Two daemons with their own SQLite state post to both peers of an Alertmanager cluster.
  // Four copies of each alert arrive; the pager hears of the incident once when it fires and
  // once when it resolves.
  sim s({"--rate", "0"});
  temp_dir a_dir, b_dir;
  const std::string received = (a_dir.path / "pages.jsonl").string();
  receiver pager(received);
  // Only the incident pages; its evidence (the session alerts) goes to a receiver that tells
  // nobody. So the paging group holds one alert, and every page is about the incident.
  const std::string am_cfg = a_dir.write("alertmanager.yml", std::string(R"(route:
  receiver: evidence
  routes:
    - receiver: page
      matchers: ['incident=~".+"']
      group_by: [alertname]
      group_wait: 1s
      group_interval: )") + group_interval + R"(
      repeat_interval: 1h
receivers:
  - name: evidence
  - name: page
    webhook_configs:
      - url: http://127.0.0.1:)" + pager.port + R"(/page
        send_resolved: true
)");
  am_peer am[2];
  for (int i = 0; i < 2; ++i) {
    const std::string web = "127.0.0.1:" + am[i].web.port();
    const std::string gossip = "127.0.0.1:" + am[i].gossip.port();
    am[i].process = std::make_unique<child_process>(
        "/usr/bin/prometheus-alertmanager",
        std::vector<std::string>{
            "--config.file=" + am_cfg,
            "--storage.path=" + (a_dir.path / ("am" + std::to_string(i))).string(),
            "--web.listen-address=" + web, "--web.external-url=http://" + web,
            "--cluster.listen-address=" + gossip, "--cluster.advertise-address=" + gossip,
            "--cluster.peer=127.0.0.1:" + am[1 - i].gossip.port(),
            std::string("--cluster.peer-timeout=") + peer_timeout,
            std::string("--cluster.gossip-interval=") + gossip_interval,
            std::string("--cluster.pushpull-interval=") + pushpull_interval,
            "--log.level=debug"});  // its flushes: see paging_flushes
  }

  config_builder c;
  c.smartsight(s.port);
  c.sink(sink_spec("am", "alertmanager")
             .with("urls: [\"http://127.0.0.1:" + am[0].web.port() +
                   "\", \"http://127.0.0.1:" + am[1].web.port() + "\"]"));
  // A 3 s delay: sessions that end now are first judged, by both, in the same window. They
  // stay in the 2 s window for 3 polls, then the incident resolves.
  c.rule(rule_spec("slow", "latency > 5").window_of("2s").delay_of("3s").with("resolve_after: 1"));
  const std::map<std::string, std::string> env{{"QW_KEY", s.key}};
  qoewatchd a(c.write(a_dir), env);
  qoewatchd b(c.write(b_dir), env);
  for (am_peer& p : am) ASSERT_TRUE(eventually([&] { return clustered(p.web.port()); }, 30s));
  for (qoewatchd* d : {&a, &b})
    ASSERT_TRUE(wait_for_metric(d->port(), polls_series("slow"), at_least(1), 20s)) << d->log();

  const std::int64_t now = wall_now();
  add_sessions(s, {session("p1", now, slow), session("p2", now, slow)});
  ASSERT_TRUE(eventually([&] { return !pages(received).firing.empty(); }, 30s));
  // Both replicas named the incident alike, and both peers hold that one alert: without the
  // cluster's dedup, both would page.
  const std::string key = key_logged(a.log(), "firing");
  EXPECT_NE(key, "") << a.log();
  EXPECT_EQ(key_logged(b.log(), "firing"), key) << b.log();
  for (am_peer& p : am) {
    EXPECT_TRUE(eventually(
        [&] { return active_incidents(p.web.port()) == std::vector<std::string>{key}; }, 10s))
        << testing::PrintToString(active_incidents(p.web.port()));
  }
  for (qoewatchd* d : {&a, &b}) {
    EXPECT_GE(
        d->metric("qoewatch_notifications_total{outcome=\"success\",sink=\"am\"}").value_or(0), 1)
        << d->log();
  }

  // The window moves past the sessions: both replicas resolve, the pager hears it.
  ASSERT_TRUE(eventually([&] { return !pages(received).resolved.empty(); }, 30s));
  EXPECT_EQ(key_logged(a.log(), "resolved"), key) << a.log();
  EXPECT_EQ(key_logged(b.log(), "resolved"), key) << b.log();
  // Nothing more: each peer flushed the resolved incident and decided every flush (the
  // second peer decides a peer_timeout later); neither holds the incident any more; and a
  // couple more polls of each replica go by, long enough for a decided POST to land.
  for (am_peer& p : am) {
    ASSERT_TRUE(eventually(
        [&] {
          const flushes f = paging_flushes(p);
          return f.last_resolved && f.all_decided;
        },
        20s));
    EXPECT_EQ(active_incidents(p.web.port()), std::vector<std::string>{});
  }
  ASSERT_TRUE(more_polls_of_each({&a, &b}, 2));
  const page_log got = pages(received);
  EXPECT_EQ(got.firing.size(), 1u) << "firing pages from " << testing::PrintToString(got.firing);
  EXPECT_EQ(got.resolved.size(), 1u)
      << "resolved pages from " << testing::PrintToString(got.resolved);
  EXPECT_EQ(got.keys, std::set<std::string>{key});
  for (qoewatchd* d : {&a, &b}) {
    d->signal(SIGTERM);
    EXPECT_EQ(d->wait(15s), 0) << d->log();
  }
}

TEST(Upgrade, AnIncidentFiringAcrossTheUpgradeKeepsItsKey) {
  // An older qoewatch named an incident after the moment of its poll and drew a random id for
  // each outbox row. Stopped while an incident fired and a notification waited in its outbox,
  // then upgraded: the waiting notification goes out as it was, id and body, and the incident
  // resolves under its old key on both sinks that were told it fired.
  sim s({"--rate", "0"});
  temp_dir dir;
  const std::string hook_requests = (dir.path / "hook-requests.jsonl").string();
  const std::string hook_bodies = (dir.path / "hook-accepted.jsonl").string();
  receiver_options hook_opts;
  hook_opts.requests = hook_requests;
  receiver hook(hook_bodies, hook_opts);
  const std::string pd_requests = (dir.path / "pd-requests.jsonl").string();
  receiver_options pd_opts;
  pd_opts.requests = pd_requests;
  receiver pd((dir.path / "pd-accepted.jsonl").string(), pd_opts);
  dir.write("pd.key", "R0UTING0KEY0upgrade\n");
  config_builder c;
  c.smartsight(s.port);
  c.sink(webhook(hook.port));
  c.sink(sink_spec("pd", "pagerduty")
             .with("url: http://127.0.0.1:" + pd.port + "/v2/enqueue")
             .with("routing_key_file: pd.key"));
  // Windows on a 2 s grid: the old key's time (odd) is off it, so a key rebuilt from the
  // incident's start would differ from the stored one. On a 1 s grid every second is on it.
  c.rule(rule_spec("slow", "latency > 5").interval_of("2s").with("resolve_after: 1"));
  const std::string cfg = c.write(dir);
  const std::map<std::string, std::string> env{{"QW_KEY", s.key}};

  // The schema and a checkpoint, written by one poll (--once) of the daemon.
  child_process once(QOEWATCHD_BINARY, {"--config", cfg, "--once"}, env);
  ASSERT_EQ(once.wait(20s), 0) << once.log();
  // Then what an older qoewatch would have left: its checkpoint where a poll ended (off the
  // grid), an incident that fired a minute ago under the time of that poll, and its firing
  // notification, refused once by the webhook and still in the outbox.
  const std::filesystem::path db = dir.path / "state" / "qoewatch.db";
  const std::optional<std::string> checkpoint =
      sqlite(db, "SELECT window_end FROM checkpoints WHERE rule = 'slow'");
  ASSERT_TRUE(checkpoint && !checkpoint->empty());
  ASSERT_EQ(std::stoll(*checkpoint) % 2, 0) << *checkpoint;
  const std::int64_t fired = (wall_now() - 60) | 1;  // odd: off the 2 s grid
  const std::string key = "slow/" + std::to_string(fired);
  const std::string id = random_old_id();
  const std::string body =
      R"({"version":"4","groupKey":"qoewatch/slow","status":"firing","receiver":"hook",)"
      R"("alerts":[{"status":"firing","labels":{"alertname":"slow","severity":"warning",)"
      R"("sessionid":"before-upgrade"}}],"qoewatch":{"incident":{"key":")" +
      key + R"(","status":"firing","startsAt":")" + utc_rfc3339(fired) + R"(","offending":1}}})";
  ASSERT_TRUE(sqlite(db, "UPDATE checkpoints SET window_end = window_end - 1 WHERE rule = 'slow'"));
  const std::string incident_row =
      "'slow', '" + key + "', " + std::to_string(fired) + ".5, 0, 'hook,pd'";
  ASSERT_TRUE(
      sqlite(db, "INSERT INTO incidents(rule, key, started_at, polls_below, sinks) VALUES(" +
                     incident_row + ")"));
  const std::string outbox_row = "'" + id + "', 'hook', 'slow', CAST('" + body + "' AS BLOB), " +
                                 std::to_string(fired + 1) + ".25, 1, 'HTTP 503', 'webhook'";
  ASSERT_TRUE(sqlite(db,
                     "INSERT INTO outbox(id, sink, rule, body, created_at, attempts, last_error, "
                     "sink_type) VALUES(" +
                         outbox_row + ")"));

  // The new daemon: no session offends, so the first poll resolves the incident.
  qoewatchd after(cfg, env);
  ASSERT_TRUE(eventually(
      [&] { return accepted(hook_requests).size() >= 2 && !accepted(pd_requests).empty(); }, 30s))
      << after.log();
  ASSERT_TRUE(wait_for_log(after, "incident " + key + " resolved", 5s));
  // Nothing more: three more polls go by and nothing is left to send.
  ASSERT_TRUE(wait_for_more_polls(after.port(), "slow", 3, 20s)) << after.log();
  for (const char* sink : {"hook", "pd"}) {
    EXPECT_TRUE(wait_for_metric(after.port(),
                                std::string("qoewatch_outbox_pending{sink=\"") + sink + "\"}",
                                equal_to(0), 5s));
  }

  const std::vector<json::object> hooks = accepted(hook_requests);
  ASSERT_EQ(hooks.size(), 2u) << after.log();
  // First the notification the old daemon left, under its id and with its bytes...
  EXPECT_EQ(hooks[0].at("webhook_id"), id.c_str());
  const std::string bodies = read_file(hook_bodies);
  EXPECT_EQ(bodies.substr(0, bodies.find('\n')), body);
  // ...then the resolve, under the old key, with the incident's old start.
  const json::value& resolve = hooks[1].at("body");
  EXPECT_EQ(resolve.at("status"), "resolved");
  const json::value& incident = resolve.at("qoewatch").at("incident");
  EXPECT_EQ(incident.at("key"), key.c_str());
  EXPECT_EQ(incident.at("status"), "resolved");
  EXPECT_EQ(incident.at("startsAt"), utc_rfc3339(fired).c_str());
  EXPECT_EQ(resolve.at("alerts").at(0).at("labels").at("incident"), key.c_str());
  // PagerDuty closes the alert the old trigger opened: same dedup_key.
  const std::vector<json::object> pds = accepted(pd_requests);
  ASSERT_EQ(pds.size(), 1u) << after.log();
  EXPECT_EQ(pds[0].at("body").at("event_action"), "resolve");
  EXPECT_EQ(pds[0].at("body").at("dedup_key"), key.c_str());

  after.signal(SIGTERM);
  EXPECT_EQ(after.wait(15s), 0) << after.log();
  // The next start has nothing left to resolve or send.
  EXPECT_EQ(sqlite(db,
                   "SELECT (SELECT count(*) FROM incidents) || ' ' || "
                   "(SELECT count(*) FROM outbox) || ' ' || (SELECT count(*) FROM dead_letters)"),
            "0 0 0\n");
}
