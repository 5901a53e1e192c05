// Moving a single node to replicas: qoewatchd --migrate-state copies the state of a stopped
// node's SQLite database into PostgreSQL (a real server of the test's own), and two replicas
// go on from it: what waited in the outbox arrives under its old webhook-ids, the incident
// resolves under its old key, nothing notified before is notified again; --dead-letters lists
// the copied dead letters from PostgreSQL; a database already in use is never copied into.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "e2e/harness.hpp"
#include "support/pg_server.hpp"
#include "support/process.hpp"

namespace json = boost::json;
using namespace qoewatch::test;
using namespace qoewatch::e2e;
using namespace std::chrono_literals;

namespace {

const std::string slow = R"("latency":9,"cirrbufferingratio":0,"fatalerrors":0)";

// One POST the receiver answered, as its --requests file has it.
struct post {
  int status = 0;
  std::string id;     // webhook-id
  std::string rule;   // groupLabels.alertname
  std::string state;  // the body's status: firing or resolved
  std::string key;    // qoewatch.incident.key ("" without one)
  std::vector<std::string> sessions;
};

std::vector<post> posts(const std::string& requests) {
  std::vector<post> out;
  for (const json::value& r : json_lines(requests)) {
    post p;
    p.status = r.at("status").to_number<int>();
    p.id = std::string(r.at("webhook_id").as_string());
    const json::object& body = r.at("body").as_object();
    p.rule = std::string(body.at("groupLabels").at("alertname").as_string());
    p.state = std::string(body.at("status").as_string());
    if (const json::value* q = body.if_contains("qoewatch"))
      if (const json::value* i = q->as_object().if_contains("incident"))
        p.key = std::string(i->at("key").as_string());
    for (const json::value& a : body.at("alerts").as_array())
      if (const json::value* s = a.at("labels").as_object().if_contains("sessionid"))
        p.sessions.emplace_back(s->as_string());
    out.push_back(std::move(p));
  }
  return out;
}

// The (rule, session) pairs of the POSTs answered with a status `ok` accepts.
template <class Ok>
std::set<std::pair<std::string, std::string>> pairs(const std::vector<post>& seen, Ok ok) {
  std::set<std::pair<std::string, std::string>> out;
  for (const post& p : seen)
    if (ok(p.status))
      for (const std::string& s : p.sessions) out.insert({p.rule, s});
  return out;
}

// The lines of `text`, without the empty last one.
std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// What a one-shot qoewatchd printed, and how it ended.
struct run_result {
  int code = -1;
  std::string out, err;
};

run_result run_qoewatchd(const std::vector<std::string>& args, const std::string& key) {
  child_process p(QOEWATCHD_BINARY, args, {{"QW_KEY", key}});
  run_result r;
  while (auto line = p.read_line(20s)) r.out += *line + "\n";
  r.code = p.wait(20s);
  r.err = p.log();
  return r;
}

// Successful polls of every rule the daemon polls, so far.
double polls(qoewatchd& d) {
  double sum = 0;
  const std::string text = d.metrics();
  const std::string prefix = "qoewatch_polls_total{outcome=\"success\"";
  for (std::size_t at = text.find(prefix); at != std::string::npos; at = text.find(prefix, at)) {
    const std::size_t space = text.find(' ', at);
    sum += std::stod(text.substr(space + 1, text.find('\n', space) - space - 1));
    at = space;
  }
  return sum;
}

}  // namespace

TEST(MigrateState, ASingleNodeMovesWithoutRepeatingOrLosing) {
  QOEWATCH_REQUIRE_POSTGRESQL();
  temp_dir dir;
  pg_server pg;
  const std::string url = pg.create_database("qoewatch");
  const std::string password = read_file(pg.dir() / "password").substr(0, 48);
  ASSERT_EQ(password.size(), 48u);
  const std::string shown_url = "postgresql://postgres@127.0.0.1:" + pg.port() + "/qoewatch";
  ASSERT_EQ(url, "postgresql://postgres:" + password + "@127.0.0.1:" + pg.port() + "/qoewatch");
  const std::string url_file = dir.write("pg_url", url + "\n");
  const std::string requests = (dir.path / "requests.jsonl").string();
  receiver_options opts;
  opts.status = 400;  // the first notifications are rejected: dead letters
  opts.requests = requests;
  receiver hook((dir.path / "accepted.jsonl").string(), opts);
  sim s({"--rate", "0"});

  // Both rules fire on every slow session; r1's short window lets its incident resolve while
  // the replicas run, r0's keeps the sessions in view all along (a replica that did not know
  // them notified would notify them again).
  config_builder c;
  c.smartsight(s.port);
  c.sink(webhook(hook.port));
  c.rule(rule_spec("r0", "latency > 5").window_of("120s"));
  c.rule(rule_spec("r1", "latency > 5").window_of("20s"));
  const std::string single = c.write(dir, "single.yaml");  // state_dir: state
  c.state = {"backend: postgresql", "url_file: " + url_file, "lease_ttl: 2s", "lease_renew: 500ms"};
  const std::string replicas_cfg = c.write(dir, "replicas.yaml");
  const std::string db = (dir.path / "state" / "qoewatch.db").string();

  // 1. The single node: d1 is rejected (two dead letters), a1 and a2 wait behind 503s.
  auto node =
      std::make_unique<qoewatchd>(single, std::map<std::string, std::string>{{"QW_KEY", s.key}});
  add_sessions(s, {session("d1", wall_now(), slow)});
  ASSERT_TRUE(
      wait_for_metric(node->port(), "qoewatch_dead_letters_total{sink=\"hook\"}", equal_to(2), 20s))
      << node->log();
  hook.set_status(503);
  add_sessions(s, {session("a1", wall_now(), slow), session("a2", wall_now(), slow)});
  // A sink delivers in order: the first rule's row is retried, the other's waits behind it.
  auto refused = [&] {
    const auto got = pairs(posts(requests), [](int st) { return st == 503; });
    return got == std::set<std::pair<std::string, std::string>>{{"r0", "a1"}, {"r0", "a2"}} ||
           got == std::set<std::pair<std::string, std::string>>{{"r1", "a1"}, {"r1", "a2"}};
  };
  ASSERT_TRUE(eventually(refused, 20s)) << node->log();
  ASSERT_TRUE(
      wait_for_metric(node->port(), "qoewatch_outbox_pending{sink=\"hook\"}", equal_to(2), 20s))
      << node->log();

  // Still running: the file is refused, PostgreSQL is not even opened.
  run_result busy = run_qoewatchd({"--config", replicas_cfg, "--migrate-state", db}, s.key);
  EXPECT_EQ(busy.code, 1) << busy.out << busy.err;
  EXPECT_EQ(busy.out, "");
  EXPECT_EQ(busy.err, "qoewatchd: " + db +
                          ": open in another process (stop qoewatchd first: only a stopped "
                          "node's state can be copied, or what it writes meanwhile would be "
                          "lost)\n");
  EXPECT_EQ(pg.psql("qoewatch", "SELECT count(*) FROM pg_tables WHERE tablename = 'outbox'"), "0");

  ASSERT_TRUE(wait_for_more_polls(node->port(), "r1", 2, 20s)) << node->log();
  node->signal(SIGTERM);
  ASSERT_EQ(node->wait(15s), 0) << node->log();

  // What the node left: every row it had, the order and attempts of its outbox.
  auto query = [&](const std::string& sql) { return sqlite(db, sql).value_or("<sqlite3 failed>"); };
  const std::string outbox_sql = "SELECT id, attempts, last_error FROM outbox ORDER BY seq";
  const std::string old_outbox = query(outbox_sql);
  const std::vector<std::string> outbox_ids = lines(query("SELECT id FROM outbox ORDER BY seq"));
  ASSERT_EQ(outbox_ids.size(), 2u) << old_outbox;
  const std::set<std::string> old_ids(outbox_ids.begin(), outbox_ids.end());
  // The first was attempted (the error text is the receiver's, with its newline).
  EXPECT_TRUE(old_outbox.starts_with(outbox_ids[0] + "|")) << old_outbox;
  EXPECT_FALSE(old_outbox.starts_with(outbox_ids[0] + "|0|")) << old_outbox;
  EXPECT_NE(old_outbox.find("|HTTP 503 ("), std::string::npos) << old_outbox;
  const std::string old_incidents = query("SELECT rule, key FROM incidents ORDER BY rule");
  ASSERT_EQ(lines(old_incidents).size(), 2u) << old_incidents;
  const std::string r1_key = lines(old_incidents)[1].substr(3);
  ASSERT_TRUE(r1_key.starts_with("r1/")) << old_incidents;
  const std::string old_dead = query("SELECT id FROM dead_letters ORDER BY seq");
  ASSERT_EQ(lines(old_dead).size(), 2u) << old_dead;
  ASSERT_EQ(query("SELECT count(*) FROM notified"), "6\n");
  ASSERT_EQ(query("SELECT count(*) FROM checkpoints"), "2\n");
  // A silence as the Alertmanager API stores it (expired: the copy takes those too).
  const std::string silence_sql =
      "SELECT id, matchers, starts_at, ends_at, updated_at, created_by, comment FROM silences";
  ASSERT_EQ(query("INSERT INTO silences VALUES('0b5e5c1e-6d2a-4c4f-8b0e-2f1a3c4d5e6f', "
                  "'[{\"isEqual\":true,\"isRegex\":false,\"name\":\"rule\",\"value\":\"r0\"}]', "
                  "1699990000000, 1699993600000, 1699993600000, 'ops', 'CDN move, \u00e9t\u00e9')"),
            "");
  const std::string old_silences = query(silence_sql);
  ASSERT_EQ(lines(old_silences).size(), 1u) << old_silences;

  // 2. The copy, naming the state_dir (the file itself would do as well).
  run_result copied = run_qoewatchd(
      {"--config", replicas_cfg, "--migrate-state", (dir.path / "state").string()}, s.key);
  ASSERT_EQ(copied.code, 0) << copied.out << copied.err;
  EXPECT_EQ(copied.out, "copied the state in " + db + " into " + shown_url +
                            ":\n"
                            "  checkpoints      2\n"
                            "  notified         6\n"
                            "  incidents        2\n"
                            "  group_incidents  0\n"
                            "  outbox           2\n"
                            "  dead_letters     2\n"
                            "  silences         1\n"
                            "start the replicas on " +
                            replicas_cfg + "; the single node must not run again\n");
  EXPECT_EQ(pg.psql("qoewatch", outbox_sql) + "\n", old_outbox) << "order, ids and attempts kept";
  EXPECT_EQ(pg.psql("qoewatch", "SELECT rule, key FROM incidents ORDER BY rule") + "\n",
            old_incidents);
  EXPECT_EQ(pg.psql("qoewatch", silence_sql) + "\n", old_silences);
  EXPECT_EQ(query(outbox_sql), old_outbox) << "the SQLite file is left as it was";

  // The dead letters, listed from PostgreSQL.
  run_result listed = run_qoewatchd({"--config", replicas_cfg, "--dead-letters"}, s.key);
  EXPECT_EQ(listed.code, 0) << listed.err;
  for (const std::string& id : lines(old_dead))
    EXPECT_NE(listed.out.find(id + " sink=hook rule=r"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("  reason: HTTP 400"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("\n2 dead letter(s) in " + shown_url + "\n"), std::string::npos)
      << listed.out;

  // 3. Two replicas on PostgreSQL, the receiver back.
  hook.set_status(200);
  std::vector<std::unique_ptr<qoewatchd>> replicas;
  for (int i = 0; i < 2; ++i)
    replicas.push_back(std::make_unique<qoewatchd>(
        replicas_cfg, std::map<std::string, std::string>{{"QW_KEY", s.key}}));
  auto owned = [&](int i) { return replicas[i]->metric("qoewatch_rules_owned").value_or(-1); };
  ASSERT_TRUE(eventually([&] { return owned(0) == 1 && owned(1) == 1; }, 40s))
      << owned(0) << " " << owned(1) << replicas[0]->log() << replicas[1]->log();
  auto accepted_ids = [&] {
    std::set<std::string> ids;
    for (const post& p : posts(requests))
      if (p.status == 200) ids.insert(p.id);
    return ids;
  };
  ASSERT_TRUE(eventually(
      [&] {
        const std::set<std::string> got = accepted_ids();
        return std::includes(got.begin(), got.end(), old_ids.begin(), old_ids.end());
      },
      30s))
      << replicas[0]->log() << replicas[1]->log();
  // r1's sessions leave its window: it resolves the incident the single node fired.
  auto resolved = [&] {
    std::vector<post> out;
    for (const post& p : posts(requests))
      if (p.status == 200 && p.rule == "r1" && p.state == "resolved") out.push_back(p);
    return out;
  };
  ASSERT_TRUE(eventually([&] { return !resolved().empty(); }, 60s))
      << replicas[0]->log() << replicas[1]->log();
  EXPECT_EQ(resolved().front().key, r1_key);
  // The positive event before checking that nothing more came: both replicas polled their
  // rules a few more times, and delivered everything.
  for (auto& r : replicas) {
    const double before = polls(*r);
    ASSERT_TRUE(eventually([&] { return polls(*r) >= before + 3; }, 20s)) << r->log();
    ASSERT_TRUE(
        wait_for_metric(r->port(), "qoewatch_outbox_pending{sink=\"hook\"}", equal_to(0), 20s));
  }

  const std::vector<post> seen = posts(requests);
  std::map<std::pair<std::string, std::string>, std::set<std::string>> ids_by_pair;
  std::size_t copies = 0;
  for (const post& p : seen) {
    for (const std::string& session : p.sessions) ids_by_pair[{p.rule, session}].insert(p.id);
    if (p.status == 200 && old_ids.contains(p.id)) ++copies;
  }
  const std::set<std::pair<std::string, std::string>> all_pairs = {
      {"r0", "d1"}, {"r0", "a1"}, {"r0", "a2"}, {"r1", "d1"}, {"r1", "a1"}, {"r1", "a2"}};
  EXPECT_EQ(pairs(seen, [](int) { return true; }), all_pairs);
  for (const auto& [pair, ids] : ids_by_pair) {
    EXPECT_EQ(ids.size(), 1u) << pair.first << "/" << pair.second
                              << " was notified under several webhook-ids";
  }
  // Accepted from the replicas: the old rows, and r1's resolve; no firing under a new id.
  for (const post& p : seen) {
    if (p.status != 200) continue;
    const bool old = old_ids.contains(p.id);
    EXPECT_TRUE(old || (p.rule == "r1" && p.state == "resolved"))
        << p.id << " (" << p.rule << ", " << p.state << ") is new";
  }
  std::printf("%zu old outbox row(s), delivered %zu time(s) in all\n", old_ids.size(), copies);

  // 4. The database is in use now: a second copy is refused and writes nothing.
  const std::string before = pg.psql("qoewatch", "SELECT count(*) FROM notified");
  run_result again = run_qoewatchd({"--config", replicas_cfg, "--migrate-state", db}, s.key);
  EXPECT_EQ(again.code, 1) << again.out << again.err;
  EXPECT_EQ(again.out, "");
  EXPECT_TRUE(again.err.starts_with("qoewatchd: " + shown_url +
                                    ": cannot import: the database holds qoewatch state already "
                                    "(rows in checkpoints, notified, incidents, "))
      << again.err;
  EXPECT_NE(again.err.find("nothing was written"), std::string::npos) << again.err;
  EXPECT_EQ(pg.psql("qoewatch", "SELECT count(*) FROM notified"), before);

  for (const std::string& text : {copied.out, copied.err, listed.out, listed.err, again.err,
                                  busy.err, replicas[0]->log(), replicas[1]->log()})
    EXPECT_EQ(text.find(password), std::string::npos) << "the database password was written out";
  for (auto& r : replicas) {
    r->signal(SIGTERM);
    EXPECT_EQ(r->wait(15s), 0) << r->log();
  }
}
