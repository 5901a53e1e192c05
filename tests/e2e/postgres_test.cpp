// Replicas on PostgreSQL, with a real server of the test's own: the state lives there and
// survives restarts; replicas share the rules through leases and take over a dead one's;
// a paused replica's late commits are refused; an outage of the database neither freezes the
// daemon nor loses anything; and the database password is never written anywhere.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <algorithm>
#include <cstdio>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "e2e/harness.hpp"
#include "support/pg_server.hpp"
#include "support/process.hpp"

namespace json = boost::json;
using namespace qoewatch::test;
using namespace qoewatch::e2e;
using namespace std::chrono_literals;

namespace {

const std::string slow = R"("latency":9,"cirrbufferingratio":0,"fatalerrors":0)";

class Postgres : public testing::Test {
 protected:
  void SetUp() override {
    QOEWATCH_REQUIRE_POSTGRESQL();
    pg_ = std::make_unique<pg_server>();
    url_ = pg_->create_database("qoewatch");
    url_file_ = dir_.write("pg_url", url_ + "\n");
    receiver_options opts;
    opts.requests = requests();
    hook_ = std::make_unique<receiver>((dir_.path / "accepted.jsonl").string(), opts);
  }

  std::string requests() const { return (dir_.path / "requests.jsonl").string(); }
  std::string password() const {
    return read_file(pg_->dir() / "password").substr(0, 48);
  }

  // `rules` rules r0, r1, ... (latency > 5, every second), all telling "hook"; state in
  // PostgreSQL with leases of 2 s renewed every 500 ms.
  std::string config(const sim& s, int rules, std::vector<std::string> sink_lines = {}) const {
    config_builder c;
    c.smartsight(s.port);
    c.sink(webhook(hook_->port, std::move(sink_lines)));
    for (int i = 0; i < rules; ++i) c.rule(rule_spec("r" + std::to_string(i), "latency > 5"));
    c.state = {"backend: postgresql", "url_file: " + url_file_, "lease_ttl: 2s",
               "lease_renew: 500ms"};
    return c.write(dir_);
  }

  std::unique_ptr<qoewatchd> start(const std::string& cfg, const sim& s) const {
    return std::make_unique<qoewatchd>(cfg, std::map<std::string, std::string>{{"QW_KEY", s.key}});
  }

  // For each (rule, session) notified: the webhook-ids it came under.
  std::map<std::pair<std::string, std::string>, std::set<std::string>> ids_by_pair() const {
    std::map<std::pair<std::string, std::string>, std::set<std::string>> out;
    for (const json::value& r : json_lines(requests())) {
      if (r.at("status").to_number<int>() / 100 != 2) continue;
      const std::string id(r.at("webhook_id").as_string());
      const json::value& body = r.at("body");
      const std::string rule(body.at("groupLabels").at("alertname").as_string());
      for (const json::value& a : body.at("alerts").as_array())
        if (const json::value* s = a.at("labels").as_object().if_contains("sessionid"))
          out[{rule, std::string(s->as_string())}].insert(id);
    }
    return out;
  }

  // Sessions `ids` ending now, offending every rule.
  static void offend(const sim& s, const std::vector<std::string>& ids) {
    std::vector<std::string> rows;
    for (const std::string& id : ids) rows.push_back(session(id, wall_now(), slow));
    add_sessions(s, rows);
  }

  // Whether every rule of `rules` notified every session of `ids`.
  bool all_told(int rules, const std::vector<std::string>& ids) const {
    const auto got = ids_by_pair();
    for (int i = 0; i < rules; ++i)
      for (const std::string& id : ids)
        if (!got.contains({"r" + std::to_string(i), id})) return false;
    return true;
  }

  // Each (rule, session) came under exactly one webhook-id (retries of it allowed).
  void expect_each_pair_under_one_id() const {
    for (const auto& [pair, ids] : ids_by_pair())
      EXPECT_EQ(ids.size(), 1u) << pair.first << "/" << pair.second
                                << " was notified under several webhook-ids";
  }

  static double owned(qoewatchd& d) {
    return d.metric("qoewatch_rules_owned").value_or(-1);
  }

  // The replicas of `all` that deliver the sink "hook" now; -1 unless exactly one does.
  static int sink_owner(const std::vector<std::unique_ptr<qoewatchd>>& all) {
    int owner = -1;
    for (std::size_t i = 0; i < all.size(); ++i) {
      if (!all[i]) continue;
      const double v = all[i]->metric("qoewatch_sink_owned{sink=\"hook\"}").value_or(-1);
      if (v == 1 && owner != -1) return -1;
      if (v == 1) owner = static_cast<int>(i);
      if (v != 0 && v != 1) return -1;
    }
    return owner;
  }

  // Successful polls of every rule the replica polls, so far.
  static double polls(qoewatchd& d) {
    double sum = 0;
    const std::string text = d.metrics();
    std::size_t at = 0;
    const std::string prefix = "qoewatch_polls_total{outcome=\"success\"";
    while ((at = text.find(prefix, at)) != std::string::npos) {
      const std::size_t space = text.find(' ', at);
      sum += std::stod(text.substr(space + 1, text.find('\n', space) - space - 1));
      at = space;
    }
    return sum;
  }

  // The positive event before checking that nothing more arrives: `n` more polls of the
  // replica's rules have ended.
  static bool more_polls(qoewatchd& d, double n) {
    const double before = polls(d);
    return eventually([&] { return polls(d) >= before + n; }, 20s);
  }

  temp_dir dir_;
  std::unique_ptr<pg_server> pg_;
  std::string url_, url_file_;
  std::unique_ptr<receiver> hook_;
};

}  // namespace

TEST_F(Postgres, StateLivesThereSurvivesARestartAndThePasswordIsWrittenNowhere) {
  sim s({"--rate", "0"});
  const std::string cfg = config(s, 2);
  auto d = start(cfg, s);
  ASSERT_TRUE(wait_for_metric(d->port(), "qoewatch_rules_owned", equal_to(2), 20s)) << d->log();
  offend(s, {"a1", "a2"});
  ASSERT_TRUE(eventually([&] { return all_told(2, {"a1", "a2"}); }, 20s)) << d->log();
  ASSERT_TRUE(wait_for_more_polls(d->port(), "r0", 2, 20s)) << d->log();
  const std::string metrics = d->metrics();
  EXPECT_EQ(metric_value(metrics, "qoewatch_state_up"), 1);
  d->signal(SIGTERM);
  ASSERT_EQ(d->wait(15s), 0) << d->log();
  EXPECT_NE(pg_->psql("qoewatch", "SELECT count(*) FROM notified"), "0");

  // A new process takes the rules back from the database: nothing is told again.
  auto again = start(cfg, s);
  ASSERT_TRUE(wait_for_metric(again->port(), "qoewatch_rules_owned", equal_to(2), 20s))
      << again->log();
  offend(s, {"b1"});
  ASSERT_TRUE(eventually([&] { return all_told(2, {"b1"}); }, 20s)) << again->log();
  ASSERT_TRUE(wait_for_more_polls(again->port(), "r1", 3, 20s)) << again->log();
  expect_each_pair_under_one_id();
  EXPECT_EQ(ids_by_pair().size(), 6u);  // 2 rules x 3 sessions

  const std::string pw = password();
  ASSERT_EQ(pw.size(), 48u);
  for (const std::string& text : {d->log(), again->log(), metrics, again->metrics()})
    EXPECT_EQ(text.find(pw), std::string::npos) << "the database password was written out";
  again->signal(SIGTERM);
  EXPECT_EQ(again->wait(15s), 0) << again->log();
}

TEST_F(Postgres, ReplicasShareTheRulesAndTheSurvivorsTakeOverAKilledOnesRules) {
  sim s({"--rate", "0"});
  const std::string cfg = config(s, 9);
  std::vector<std::unique_ptr<qoewatchd>> replicas;
  for (int i = 0; i < 3; ++i) replicas.push_back(start(cfg, s));
  auto spread = [&](std::size_t alive, double each) {
    double sum = 0;
    for (std::size_t i = 0; i < alive; ++i) {
      const double n = owned(*replicas[i]);
      if (n != each) return false;
      sum += n;
    }
    return sum == 9;
  };
  ASSERT_TRUE(eventually([&] { return spread(3, 3); }, 40s))
      << owned(*replicas[0]) << " " << owned(*replicas[1]) << " " << owned(*replicas[2]);
  offend(s, {"k1", "k2"});
  ASSERT_TRUE(eventually([&] { return all_told(9, {"k1", "k2"}); }, 20s));

  // SIGKILL: no release; the survivors take its rules once its leases expire (ttl 2 s).
  replicas[2]->signal(SIGKILL);
  replicas[2]->wait(10s);
  const auto killed = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually(
      [&] { return owned(*replicas[0]) + owned(*replicas[1]) == 9; }, 10s));
  const double takeover =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  EXPECT_LT(takeover, 2 * 2.0 + 1.0) << "taken over within 2 x ttl (plus a scrape's slack)";
  std::printf("takeover after SIGKILL: %.1f s\n", takeover);
  offend(s, {"k3"});
  ASSERT_TRUE(eventually([&] { return all_told(9, {"k3"}); }, 20s))
      << replicas[0]->log() << replicas[1]->log();
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(more_polls(*replicas[i], 9)) << replicas[i]->log();
    ASSERT_TRUE(wait_for_metric(replicas[i]->port(), "qoewatch_outbox_pending{sink=\"hook\"}",
                                equal_to(0), 20s));
  }
  expect_each_pair_under_one_id();
  EXPECT_EQ(ids_by_pair().size(), 27u);  // 9 rules x 3 sessions
  for (int i = 0; i < 2; ++i) {
    replicas[i]->signal(SIGTERM);
    EXPECT_EQ(replicas[i]->wait(15s), 0) << replicas[i]->log();
  }
}

TEST_F(Postgres, APausedReplicaCommitsNothingLate) {
  sim s({"--rate", "0"});
  const std::string cfg = config(s, 4);
  auto a = start(cfg, s);
  auto b = start(cfg, s);
  ASSERT_TRUE(eventually([&] { return owned(*a) == 2 && owned(*b) == 2; }, 40s))
      << owned(*a) << " " << owned(*b);
  // Frozen past its leases: b takes every rule, and sessions come meanwhile.
  a->signal(SIGSTOP);
  ASSERT_TRUE(eventually([&] { return owned(*b) == 4; }, 10s)) << b->log();
  offend(s, {"p1", "p2"});
  ASSERT_TRUE(eventually([&] { return all_told(4, {"p1", "p2"}); }, 20s)) << b->log();
  // Back: whatever it had decided before the pause is refused or never made; it learns that
  // its leases are gone and polls only what it is given again.
  a->signal(SIGCONT);
  ASSERT_TRUE(eventually(
      [&] {
        return a->metric("qoewatch_lease_changes_total{reason=\"expired\"}").value_or(0) +
                   a->metric("qoewatch_lease_changes_total{reason=\"fenced\"}").value_or(0) >=
               2;
      },
      10s))
      << a->log();
  ASSERT_TRUE(eventually([&] { return owned(*a) + owned(*b) == 4; }, 20s));
  offend(s, {"p3"});
  ASSERT_TRUE(eventually([&] { return all_told(4, {"p3"}); }, 20s)) << a->log() << b->log();
  for (qoewatchd* d : {a.get(), b.get()}) {
    ASSERT_TRUE(more_polls(*d, 4)) << d->log();
    ASSERT_TRUE(wait_for_metric(d->port(), "qoewatch_outbox_pending{sink=\"hook\"}",
                                equal_to(0), 20s));
  }
  expect_each_pair_under_one_id();
  EXPECT_EQ(ids_by_pair().size(), 12u);  // 4 rules x 3 sessions
  for (qoewatchd* d : {a.get(), b.get()}) {
    d->signal(SIGTERM);
    EXPECT_EQ(d->wait(15s), 0) << d->log();
  }
}

TEST_F(Postgres, AnOutageNeitherFreezesTheDaemonNorLosesAnything) {
  sim s({"--rate", "0"});
  const std::string cfg = config(s, 2);
  auto d = start(cfg, s);
  ASSERT_TRUE(wait_for_metric(d->port(), "qoewatch_rules_owned", equal_to(2), 20s)) << d->log();
  ASSERT_TRUE(wait_for_more_polls(d->port(), "r0", 1, 20s)) << d->log();
  pg_->pause();
  offend(s, {"o1", "o2"});
  // The event loop never waits for the database: /metrics answers at once, says so.
  ASSERT_TRUE(wait_for_metric(d->port(), "qoewatch_state_up", equal_to(0), 15s)) << d->log();
  for (int i = 0; i < 5; ++i) {
    const auto t = std::chrono::steady_clock::now();
    EXPECT_FALSE(d->metrics().empty());
    EXPECT_LT(std::chrono::steady_clock::now() - t, 1s);
  }
  pg_->resume();
  ASSERT_TRUE(eventually([&] { return all_told(2, {"o1", "o2"}); }, 30s)) << d->log();
  // Then a restart of the server under way: cut connections come back.
  pg_->restart();
  offend(s, {"o3"});
  ASSERT_TRUE(eventually([&] { return all_told(2, {"o3"}); }, 30s)) << d->log();
  ASSERT_TRUE(wait_for_metric(d->port(), "qoewatch_state_up", equal_to(1), 15s));
  ASSERT_TRUE(more_polls(*d, 4)) << d->log();
  ASSERT_TRUE(wait_for_metric(d->port(), "qoewatch_outbox_pending{sink=\"hook\"}", equal_to(0),
                              20s));
  expect_each_pair_under_one_id();
  EXPECT_EQ(ids_by_pair().size(), 6u);
  d->signal(SIGTERM);
  EXPECT_EQ(d->wait(20s), 0) << d->log();
}

TEST_F(Postgres, ASchemaFromANewerQoewatchdStopsTheStartAndIsLeftAlone) {
  sim s({"--rate", "0"});
  const std::string cfg = config(s, 1);
  auto d = start(cfg, s);
  ASSERT_TRUE(wait_for_metric(d->port(), "qoewatch_rules_owned", equal_to(1), 20s)) << d->log();
  d->signal(SIGTERM);
  ASSERT_EQ(d->wait(15s), 0) << d->log();
  pg_->psql("qoewatch", "UPDATE qoewatch_meta SET value = '99' WHERE key = 'schema_version'");
  // As with a SQLite file from a newer version: no retrying, no change, exit 1.
  auto older = start(cfg, s);
  EXPECT_EQ(older->wait(30s), 1) << older->log();
  EXPECT_NE(older->log().find("written by a newer qoewatchd (schema v99"), std::string::npos)
      << older->log();
  EXPECT_EQ(pg_->psql("qoewatch", "SELECT value FROM qoewatch_meta WHERE key = 'schema_version'"),
            "99");
}

TEST_F(Postgres, ASinkIsDeliveredByOneReplicaAtItsRateLimit) {
  sim s({"--rate", "0"});
  // 2 POSTs a second, a burst of 1: the limit of one process, which must hold for all three.
  const std::string cfg = config(s, 12, {"rate_limit: 2", "burst: 1"});
  std::vector<std::unique_ptr<qoewatchd>> replicas;
  for (int i = 0; i < 3; ++i) replicas.push_back(start(cfg, s));
  ASSERT_TRUE(eventually(
      [&] {
        double sum = 0;
        for (auto& r : replicas) sum += owned(*r);
        // Settled: the spread is even (the sink's lease may move until then).
        return sum == 12 && owned(*replicas[0]) == 4 && owned(*replicas[1]) == 4 &&
               owned(*replicas[2]) == 4 && sink_owner(replicas) >= 0;
      },
      40s));
  const int owner = sink_owner(replicas);
  // Every replica's rules notify: 12 rules x 3 polls with new sessions = 36 notifications.
  for (const char* batch : {"q1", "q2", "q3"}) {
    offend(s, {batch});
    ASSERT_TRUE(eventually([&] { return all_told(12, {batch}); }, 60s))
        << replicas[owner]->log();
  }
  expect_each_pair_under_one_id();
  ASSERT_EQ(sink_owner(replicas), owner) << "the sink's lease moved during the test";
  // The POSTs' arrival times: no second-long span holds more than the rate plus the burst.
  std::vector<double> at;
  for (const json::value& r : json_lines(requests()))
    at.push_back(r.at("received_at").to_number<double>());
  std::sort(at.begin(), at.end());
  ASSERT_GE(at.size(), 36u);
  std::size_t most_in_5s = 0;
  for (std::size_t i = 0, j = 0; i < at.size(); ++i) {
    while (at[i] - at[j] >= 5.0) ++j;
    most_in_5s = std::max(most_in_5s, i - j + 1);
  }
  std::printf("%zu POSTs over %.1f s, at most %zu in any 5 s\n", at.size(), at.back() - at[0],
              most_in_5s);
  EXPECT_LE(most_in_5s, 2u * 5 + 1 + 1) << "the sink's rate limit did not hold across replicas";
  // Only the holder of the sink's lease sent; the others never tried.
  for (int i = 0; i < 3; ++i) {
    const double sent =
        replicas[i]->metric("qoewatch_notifications_total{outcome=\"success\",sink=\"hook\"}")
            .value_or(0);
    if (i == owner)
      EXPECT_GE(sent, 36) << replicas[i]->log();
    else
      EXPECT_EQ(sent, 0) << "replica " << i << " delivered a sink it does not hold";
  }
  for (auto& r : replicas) {
    r->signal(SIGTERM);
    EXPECT_EQ(r->wait(15s), 0) << r->log();
  }
}

TEST_F(Postgres, KillingTheSinkOwnerMovesItsOutbox) {
  sim s({"--rate", "0"});
  const std::string cfg = config(s, 4);
  std::vector<std::unique_ptr<qoewatchd>> replicas;
  for (int i = 0; i < 2; ++i) replicas.push_back(start(cfg, s));
  ASSERT_TRUE(eventually(
      [&] {
        return owned(*replicas[0]) == 2 && owned(*replicas[1]) == 2 && sink_owner(replicas) >= 0;
      },
      40s));
  const int owner = sink_owner(replicas);
  const int other = 1 - owner;
  // The receiver is down: the owner keeps the rows of both replicas' rules, retrying.
  hook_->set_status(503);
  offend(s, {"x1", "x2"});
  ASSERT_TRUE(wait_for_metric(replicas[owner]->port(), "qoewatch_outbox_pending{sink=\"hook\"}",
                              at_least(4), 30s))
      << replicas[owner]->log();
  const double pending =
      replicas[owner]->metric("qoewatch_outbox_pending{sink=\"hook\"}").value_or(-1);
  EXPECT_EQ(replicas[other]->metric("qoewatch_outbox_pending{sink=\"hook\"}"), 0);
  EXPECT_EQ(pg_->psql("qoewatch", "SELECT count(*) FROM outbox"),
            std::to_string(static_cast<int>(pending)));

  // The owner dies without a word; the receiver comes back. The survivor takes the sink's
  // lease once it expires (ttl 2 s) and delivers what the dead one had claimed.
  replicas[owner]->signal(SIGKILL);
  replicas[owner]->wait(10s);
  const auto killed = std::chrono::steady_clock::now();
  hook_->set_status(200);
  ASSERT_TRUE(wait_for_metric(replicas[other]->port(), "qoewatch_sink_owned{sink=\"hook\"}",
                              equal_to(1), 10s))
      << replicas[other]->log();
  ASSERT_TRUE(eventually([&] { return all_told(4, {"x1", "x2"}); }, 20s))
      << replicas[other]->log();
  std::printf("outbox delivered by the survivor %.1f s after the SIGKILL\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count());
  ASSERT_TRUE(wait_for_metric(replicas[other]->port(), "qoewatch_outbox_pending{sink=\"hook\"}",
                              equal_to(0), 20s));
  EXPECT_EQ(pg_->psql("qoewatch", "SELECT count(*) FROM outbox"), "0");
  // And it goes on: new sessions of every rule reach the receiver once.
  offend(s, {"x3"});
  ASSERT_TRUE(eventually([&] { return all_told(4, {"x3"}); }, 20s)) << replicas[other]->log();
  expect_each_pair_under_one_id();
  EXPECT_EQ(ids_by_pair().size(), 12u);  // 4 rules x 3 sessions
  replicas[other]->signal(SIGTERM);
  EXPECT_EQ(replicas[other]->wait(15s), 0) << replicas[other]->log();
}

namespace {

// The sum of every sample of `family` in a replica's /metrics.
double sum_of(qoewatchd& d, const std::string& family) {
  double sum = 0;
  const std::string text = d.metrics();
  for (std::size_t at = text.find(family + "{"); at != std::string::npos;
       at = text.find(family + "{", at + 1)) {
    if (at > 0 && text[at - 1] != '\n') continue;
    const std::size_t space = text.find(' ', text.find('}', at));
    sum += std::stod(text.substr(space + 1, text.find('\n', space) - space - 1));
  }
  return sum;
}

}  // namespace

TEST_F(Postgres, ASilenceMadeThroughOneReplicaHoldsOnEveryReplica) {
  sim s({"--rate", "0"});
  const std::string cfg = config(s, 4);
  std::vector<std::unique_ptr<qoewatchd>> replicas;
  for (int i = 0; i < 2; ++i) replicas.push_back(start(cfg, s));
  ASSERT_TRUE(
      eventually([&] { return owned(*replicas[0]) == 2 && owned(*replicas[1]) == 2; }, 40s));
  const http_reply made = http_request(
      replicas[0]->port(), "POST", "/api/v2/silences",
      R"({"matchers":[{"isEqual":true,"isRegex":true,"name":"alertname","value":"r[0-9]"}],)"
      R"("createdBy":"oncall","comment":"vendor outage","startsAt":"2020-01-01T00:00:00Z",)"
      R"("endsAt":"2099-01-01T00:00:00Z"})",
      {{"Content-Type", "application/json"}});
  ASSERT_EQ(made.status, 200u) << made.body;
  const std::string id(json::parse(made.body).at("silenceID").as_string());
  // The other replica reads it from the database within a second or two.
  ASSERT_TRUE(wait_for_metric(replicas[1]->port(), "qoewatch_silences{state=\"active\"}",
                              equal_to(1), 10s));
  EXPECT_NE(
      http_request(replicas[1]->port(), "GET", "/api/v2/silence/" + id).body.find("vendor outage"),
      std::string::npos);

  // Every rule, on either replica, holds the session back.
  offend(s, {"q1"});
  for (auto& r : replicas)
    ASSERT_TRUE(
        eventually([&] { return sum_of(*r, "qoewatch_notifications_silenced_total") >= 2; }, 20s))
        << r->log();
  for (auto& r : replicas) ASSERT_TRUE(more_polls(*r, 4));
  EXPECT_TRUE(ids_by_pair().empty());

  // Expired through the other replica: new sessions are told by every rule; q1 never is.
  ASSERT_EQ(http_request(replicas[1]->port(), "DELETE", "/api/v2/silence/" + id).status, 200u);
  ASSERT_TRUE(wait_for_metric(replicas[0]->port(), "qoewatch_silences{state=\"expired\"}",
                              equal_to(1), 10s));
  offend(s, {"q2"});
  ASSERT_TRUE(eventually([&] { return all_told(4, {"q2"}); }, 20s));
  for (auto& r : replicas) ASSERT_TRUE(more_polls(*r, 4));
  EXPECT_EQ(ids_by_pair().size(), 4u);  // 4 rules x q2
  for (auto& r : replicas) {
    r->signal(SIGTERM);
    EXPECT_EQ(r->wait(15s), 0) << r->log();
  }
}
