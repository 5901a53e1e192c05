// What only the PostgreSQL store does, against a real server (one per test process, a database
// per test): refusing a schema that is not ours or is newer, replicas starting together, errors
// that never carry the password, outages, and the leases that split the rules between
// replicas, with the fence on every commit. What both stores do alike is in store_test.cpp.
#include "state/pg_store.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <latch>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "redact.hpp"
#include "shared_pg.hpp"

using namespace qoewatch::state;
using namespace std::chrono_literals;
using qoewatch::lease::kind;
using qoewatch::test::shared_pg;

namespace {

const std::string owner_a = "host-a/101/0000000a";
const std::string owner_b = "host-b/202/0000000b";
const std::string owner_c = "host-c/303/0000000c";

outbox_row notification(const std::string& id, const std::string& rule) {
  return {id, "pager", rule, "{\"id\":\"" + id + "\"}", 1700000000.25, 0, "", "webhook"};
}

// A poll of `rule` decided under the lease epoch `epoch`: a checkpoint, a notified pair, a
// notification and an incident, all named after `tag`.
poll_commit poll_of(const std::string& rule, std::int64_t epoch, std::int64_t checkpoint,
                    const std::string& tag) {
  poll_commit c;
  c.rule = rule;
  c.epoch = epoch;
  c.checkpoint = checkpoint;
  c.notified = {{rule, "session-" + tag, 1700086400}};
  c.outbox = {notification("msg-" + tag, rule)};
  c.incident = incident_row{rule, rule + "/" + tag, 1700000000, 0, {"pager"}, {}};
  return c;
}

std::vector<qoewatch::lease::wanted_name> rules(int n) {
  std::vector<qoewatch::lease::wanted_name> out;
  for (int i = 0; i < n; ++i) {
    out.push_back({kind::rule, "rule-" + std::string(i < 10 ? "0" : "") + std::to_string(i)});
  }
  return out;
}

lease_request round_of(std::vector<qoewatch::lease::wanted_name> wanted,
                       std::chrono::milliseconds ttl, std::chrono::milliseconds renew,
                       bool leaving = false) {
  return lease_request{.ttl = ttl, .renew = renew, .wanted = std::move(wanted), .leaving = leaving};
}

std::set<std::string> names_of(const std::vector<held_lease>& held) {
  std::set<std::string> out;
  for (const held_lease& h : held) out.insert(h.name);
  return out;
}

class PgStore : public ::testing::Test {
 protected:
  void SetUp() override {
    QOEWATCH_REQUIRE_POSTGRESQL();
    db_ = qoewatch::test::fresh_database("pg");
  }

  std::unique_ptr<pg_store> open(const std::string& owner = owner_a) {
    return pg_store::open(db_.url, owner);
  }
  std::string psql(const std::string& sql) const { return shared_pg().psql(db_.name, sql); }
  std::string password() const {
    const std::size_t from = db_.url.find("postgres:") + 9;
    return db_.url.substr(from, db_.url.find('@') - from);
  }

  // Expects `f` to throw a store_error naming `url` (without its password) first, then
  // holding `rest`, and never the password.
  template <class F>
  std::string expect_error(const std::string& url, F f, const std::string& rest) {
    try {
      f();
      ADD_FAILURE() << "no store_error, expected: " << rest;
      return "";
    } catch (const store_error& e) {
      const std::string what = e.what();
      EXPECT_TRUE(what.starts_with(qoewatch::redact_url(url) + ": ")) << what;
      EXPECT_NE(what.find(rest), std::string::npos) << what;
      EXPECT_EQ(what.find(password()), std::string::npos) << what;
      return what;
    }
  }

  qoewatch::test::test_database db_;
};

// Resumes the server when the test leaves, however: a paused server would hang every test after.
struct resume_at_exit {
  ~resume_at_exit() { shared_pg().resume(); }
};

}  // namespace

TEST_F(PgStore, ANewDatabaseGetsTheSchemaAndItsMetaRows) {
  open();
  EXPECT_EQ(psql("SELECT key, value FROM qoewatch_meta ORDER BY key"),
            "application|qoewatch\nschema_version|" + std::to_string(pg_store::schema_version()));
  // Reopening a current database changes nothing.
  psql("INSERT INTO checkpoints VALUES ('kept', 42)");
  EXPECT_EQ(open()->checkpoint("kept"), 42);
}

namespace {

// A single node's state as --migrate-state reads it: a little of everything, the outbox and
// the dead letters in an order that is not their ids'.
snapshot single_node() {
  snapshot s;
  s.checkpoints = {{"rebuffer", 1700000030}, {"slow-start", 1700000060}};
  s.notified = {{"rebuffer", "s9", 1700086000},
                {"slow-start", "s1", 1700086400},
                {"slow-start", "s2", 1700086460}};
  s.incidents = {{"slow-start", "slow-start/1700000000", 1700000000.125, 2, {"pager"}, {}}};
  s.group_incidents = {{"cdn-errors",
                        "cdn-errors/a/1700000000",
                        1700000000.5,
                        0,
                        {"pager", "chat"},
                        {{"cdn", "a"}}}};
  s.outbox = {notification("msg-z", "slow-start"), notification("msg-a", "slow-start"),
              notification("msg-m", "rebuffer")};
  s.outbox[1].attempts = 7;
  s.outbox[1].last_error = "HTTP 503: try later";
  s.outbox[2].sink_type = "";  // written before types were recorded
  s.dead_letters = {{"msg-y", "pager", "slow-start", "{}", 1699999000.25, 1699999999.5, 12,
                     "undelivered after 24h (last: HTTP 503)"},
                    {"msg-b", "pager", "rebuffer", "{\"b\":1}", 1699999001, 1699999998, 1,
                     "HTTP 400: bad payload"}};
  // An expired silence too: kept until the retention forgets it.
  s.silences = {{"0b5e5c1e-6d2a-4c4f-8b0e-2f1a3c4d5e6f",
                 R"([{"isEqual":true,"isRegex":false,"name":"rule","value":"slow-start"}])",
                 1699990000000, 1699993600000, 1699993600000, "ops", "expired: kept"},
                {"9a8b7c6d-1e2f-4a3b-8c9d-0e1f2a3b4c5d",
                 R"([{"isEqual":true,"isRegex":true,"name":"cdn","value":"edge.*"}])",
                 1700000000000, 1700086400000, 1700000000000, "ops", "cdn move\nweek 2"}};
  return s;
}

}  // namespace

TEST_F(PgStore, AnImportWritesEverythingAsGivenInItsOrder) {
  const snapshot given = single_node();
  open("migrate/1")->import(given);
  auto s = open();
  EXPECT_EQ(s->everything(), given);
  // seq follows the order given: later rows come after the imported ones.
  s->commit(poll_of("slow-start", 0, 1700000120, "new"));
  std::vector<std::string> ids;
  for (const outbox_row& o : s->outbox()) ids.push_back(o.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"msg-z", "msg-a", "msg-m", "msg-new"}));
  // Unclaimed, as rows written by a commit are.
  EXPECT_EQ(psql("SELECT count(*) FROM outbox WHERE claimed_by IS NULL AND claim_epoch IS NULL"),
            "4");
}

TEST_F(PgStore, AnImportIntoADatabaseInUseIsRefusedAndWritesNothing) {
  open("migrate/1")->import(single_node());
  snapshot more;
  more.checkpoints = {{"other", 1}};
  const std::string second = expect_error(
      db_.url, [&] { open("migrate/2")->import(more); },
      "cannot import: the database holds qoewatch state already (rows in checkpoints, "
      "notified, incidents, group_incidents, outbox, dead_letters, silences)");
  EXPECT_NE(second.find("nothing was written"), std::string::npos) << second;
  EXPECT_EQ(open()->everything(), single_node());

  // A replica that only ran a lease round has used it too.
  const qoewatch::test::test_database fresh = qoewatch::test::fresh_database("pg_used");
  pg_store::open(fresh.url, owner_a)->lease_round(round_of(rules(1), 2000ms, 500ms));
  expect_error(
      fresh.url, [&] { pg_store::open(fresh.url, "migrate/3")->import(more); },
      "(rows in leases, replicas)");
  EXPECT_TRUE(pg_store::open(fresh.url, owner_b)->checkpoints().empty());
}

TEST_F(PgStore, AnImportThatFailsMidwayWritesNothing) {
  snapshot bad = single_node();
  bad.notified.push_back(bad.notified.front());  // the same pair twice: the key refuses it
  expect_error(
      db_.url, [&] { open("migrate/1")->import(bad); }, "cannot import: ");
  EXPECT_EQ(open()->everything(), snapshot{});
  open("migrate/2")->import(single_node());
  EXPECT_EQ(open()->everything(), single_node());
}

TEST_F(PgStore, AnImportOfManyRowsGoesInPartsAndKeepsThemAll) {
  snapshot big;
  for (int i = 0; i < 12001; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "s%06d", i);
    big.notified.push_back({"slow-start", id, 1700086400 + i});
  }
  for (int i = 0; i < 5003; ++i)
    big.outbox.push_back(notification("msg-" + std::to_string(5003 - i), "slow-start"));
  open("migrate/1")->import(big);
  auto s = open();
  EXPECT_EQ(s->notified(), big.notified);
  EXPECT_EQ(s->outbox(), big.outbox);
}

TEST_F(PgStore, ASchemaFromANewerQoewatchdIsRefusedAndLeftAlone) {
  open();
  psql("UPDATE qoewatch_meta SET value = '99' WHERE key = 'schema_version'");
  expect_error(
      db_.url, [&] { open(); },
      "written by a newer qoewatchd (schema v99, this build reads up to v" +
          std::to_string(pg_store::schema_version()) + ")");
  EXPECT_EQ(psql("SELECT value FROM qoewatch_meta WHERE key = 'schema_version'"), "99");
}

TEST_F(PgStore, TablesThatAreNotOursAreRefusedAndLeftAlone) {
  // Tables named like ours without qoewatch_meta: someone else's (or a damaged state).
  psql("CREATE TABLE outbox(x int); CREATE TABLE customers(name text)");
  expect_error(
      db_.url, [&] { open(); },
      "not a qoewatch state database (it has tables named like qoewatch's, outbox, but no "
      "qoewatch_meta)");
  EXPECT_EQ(psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), "2");

  // A qoewatch_meta of another application.
  const auto other = qoewatch::test::fresh_database("other_app");
  shared_pg().psql(other.name,
                   "CREATE TABLE qoewatch_meta(key text PRIMARY KEY, value text); "
                   "INSERT INTO qoewatch_meta VALUES ('application', 'someone-else'), "
                   "('schema_version', '1')");
  expect_error(
      other.url, [&] { pg_store::open(other.url, owner_a); },
      "not a qoewatch state database (qoewatch_meta says application \"someone-else\")");
  EXPECT_EQ(shared_pg().psql(other.name,
                             "SELECT count(*) FROM pg_tables WHERE "
                             "schemaname = 'public'"),
            "1");

  // Unrelated tables beside ours are fine: a database may be shared.
  const auto shared = qoewatch::test::fresh_database("shared");
  shared_pg().psql(shared.name, "CREATE TABLE customers(name text)");
  pg_store::open(shared.url, owner_a)->commit(poll_of("r", 0, 1, "x"));
  EXPECT_EQ(shared_pg().psql(shared.name, "SELECT window_end FROM checkpoints"), "1");
}

TEST_F(PgStore, ReplicasOpeningAnEmptyDatabaseTogetherMigrateItOnce) {
  // Without the advisory lock, concurrent CREATE TABLEs collide and all but one open fails.
  for (int attempt = 0; attempt < 3; ++attempt) {
    const auto db = qoewatch::test::fresh_database("together");
    constexpr int replicas = 4;
    std::latch start(replicas);
    std::vector<std::string> errors(replicas);
    std::vector<std::thread> threads;
    for (int i = 0; i < replicas; ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        try {
          pg_store::open(db.url, "host/" + std::to_string(i) + "/00000000");
        } catch (const std::exception& e) {
          errors[i] = e.what();
        }
      });
    }
    for (std::thread& t : threads) t.join();
    for (const std::string& e : errors) EXPECT_EQ(e, "");
    EXPECT_EQ(shared_pg().psql(db.name,
                               "SELECT value FROM qoewatch_meta WHERE "
                               "key = 'schema_version'"),
              std::to_string(pg_store::schema_version()));
  }
}

TEST_F(PgStore, AWrongPasswordIsReportedWithTheServerAndWithoutThePassword) {
  const std::string wrong = "Wrong-Passw0rd-4815162342";
  std::string url = db_.url;
  url.replace(url.find(password()), password().size(), wrong);
  const std::string what = expect_error(
      url, [&] { pg_store::open(url, owner_a); }, "cannot connect: ");
  EXPECT_NE(what.find("127.0.0.1:" + shared_pg().port()), std::string::npos) << what;
  EXPECT_NE(what.find("password authentication failed"), std::string::npos) << what;
  EXPECT_EQ(what.find(wrong), std::string::npos) << what;

  // The keyword=value form, with the password quoted.
  const std::string settings = "host=127.0.0.1 port=" + shared_pg().port() +
                               " user=postgres dbname=" + db_.name + " password='" + wrong + "'";
  const std::string what2 = expect_error(
      settings, [&] { pg_store::open(settings, owner_a); }, "cannot connect: ");
  EXPECT_NE(what2.find("host=127.0.0.1"), std::string::npos) << what2;
  EXPECT_EQ(what2.find(wrong), std::string::npos) << what2;
}

TEST_F(PgStore, WhatTheServerEchoesIsScrubbedOfThePassword) {
  // The server quotes the database name it did not find: here, the password. (The name is
  // also in the URL's path, which describe() keeps: only what follows it is checked.)
  const std::string url =
      "postgresql://postgres:" + password() + "@127.0.0.1:" + shared_pg().port() + "/" + password();
  try {
    pg_store::open(url, owner_a);
    ADD_FAILURE() << "no store_error";
  } catch (const store_error& e) {
    const std::string prefix = qoewatch::redact_url(url) + ": ";
    const std::string what = e.what();
    ASSERT_TRUE(what.starts_with(prefix)) << what;
    const std::string reason = what.substr(prefix.size());
    EXPECT_TRUE(reason.starts_with("cannot connect: ")) << reason;
    EXPECT_NE(reason.find("database \"[redacted]\" does not exist"), std::string::npos) << reason;
    EXPECT_EQ(reason.find(password()), std::string::npos) << reason;
  }
}

TEST_F(PgStore, ALostConnectionFailsAtMostOneCallAndTheNextOneReconnects) {
  auto s = open();
  s->commit(poll_of("r", 0, 60, "a"));

  shared_pg().restart();  // every session is cut
  int failures = 0;
  for (int i = 0; i < 3; ++i) {
    try {
      EXPECT_EQ(s->checkpoint("r"), 60);
    } catch (const store_error& e) {
      ++failures;
      EXPECT_EQ(i, 0) << e.what();
      EXPECT_TRUE(std::string(e.what()).starts_with(s->describe() + ": ")) << e.what();
    }
  }
  EXPECT_LE(failures, 1);
  EXPECT_TRUE(s->commit(poll_of("r", 0, 120, "b")).refused_rules.empty());

  // A server that is down: each call fails at once with "cannot connect"; once it is back, the
  // next call works.
  shared_pg().stop();
  expect_error(
      db_.url, [&] { s->checkpoint("r"); }, "cannot connect: ");
  expect_error(
      db_.url, [&] { s->commit(poll_of("r", 0, 180, "c")); }, "cannot connect: ");
  shared_pg().start();
  EXPECT_EQ(s->checkpoint("r"), 120);
  EXPECT_EQ(s->outbox().size(), 2u);
}

TEST_F(PgStore, ACallCutOffInFlightFailsAndTheNextOneReconnects) {
  auto s = open();
  s->commit(poll_of("r", 0, 60, "a"));
  psql(
      "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
      "PERFORM pg_sleep(10); RETURN NEW; END $$; "
      "CREATE TRIGGER slow BEFORE INSERT ON checkpoints FOR EACH ROW EXECUTE FUNCTION slow()");
  std::string error;
  std::thread writer([&] {
    try {
      s->commit(poll_of("r", 0, 120, "b"));
    } catch (const store_error& e) {
      error = e.what();
    }
  });
  // The session is cut while the commit waits in its trigger (found by its application_name).
  std::string cut = "0";
  for (int i = 0; i < 100 && cut != "1"; ++i) {
    cut = psql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name = 'qoewatchd' AND wait_event = 'PgSleep'");
    if (cut != "1") std::this_thread::sleep_for(50ms);
  }
  writer.join();
  ASSERT_EQ(cut, "1");
  EXPECT_TRUE(error.starts_with(s->describe() + ": cannot commit: ")) << error;
  psql("DROP TRIGGER slow ON checkpoints");
  EXPECT_EQ(s->checkpoint("r"), 60);
  EXPECT_EQ(s->outbox().size(), 1u);
}

TEST_F(PgStore, AFrozenServerFailsTheCallAtItsDeadlineAndTheNextCallReconnects) {
  auto s = pg_store::open(db_.url, owner_a, 1000ms);
  s->commit(poll_of("r", 0, 60, "a"));
  {
    resume_at_exit resume;
    shared_pg().pause();  // TCP still answers; PostgreSQL does not
    const auto start = std::chrono::steady_clock::now();
    expect_error(
        db_.url, [&] { s->checkpoint("r"); },
        "cannot read a checkpoint: no answer from the server within 1000 ms");
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_GE(took, 1000ms);
    EXPECT_LT(took, 5s);
  }
  EXPECT_EQ(s->checkpoint("r"), 60);
}

TEST_F(PgStore, MalformedErrorTextsAreStoredWithReplacementCharacters) {
  auto s = open();
  s->commit(poll_of("r", 0, 60, "a"));
  s->attempt_failed("msg-a", 1, std::string("HTTP 500: \xff\xfe ok \xc3\xa9", 18) + '\0' + "!");
  ASSERT_EQ(s->outbox().size(), 1u);
  EXPECT_EQ(s->outbox()[0].last_error, "HTTP 500: \uFFFD\uFFFD ok \u00e9\uFFFD!");
  s->dead("msg-a", "HTTP 400: \x80", 1700000001);
  ASSERT_EQ(s->dead_letters().size(), 1u);
  EXPECT_EQ(s->dead_letters()[0].reason, "HTTP 400: \uFFFD");
}

TEST_F(PgStore, SessionIdsAndKeysWithNulOrMalformedBytesDoNotStopTheCommit) {
  auto s = open();
  poll_commit c = poll_of("r", 0, 60, "a");
  const std::string odd = std::string("s\xff", 2) + '\0' + "1";
  c.notified = {{"r", odd, 1700086400}};
  c.incident->key = "r/" + odd;
  EXPECT_NO_THROW(s->commit(c));
  EXPECT_EQ(s->checkpoint("r"), 60);
  ASSERT_EQ(s->notified("r").size(), 1u);
  EXPECT_EQ(s->notified("r")[0].sessionid, "s\uFFFD\uFFFD1");
  EXPECT_EQ(s->incidents().at(0).key, "r/s\uFFFD\uFFFD1");
}

TEST_F(PgStore, ACommitIsWrittenOnlyUnderTheLeaseItWasDecidedUnder) {
  auto a = open(owner_a);
  auto b = open(owner_b);
  const std::vector<held_lease> held = a->lease_round(round_of(rules(2), 1000ms, 100ms)).held;
  ASSERT_EQ(held,
            (std::vector<held_lease>{{kind::rule, "rule-00", 1}, {kind::rule, "rule-01", 1}}));

  // At the current epoch: written.
  commit_result r = a->commit(poll_of("rule-00", 1, 100, "first"));
  EXPECT_TRUE(r.refused_rules.empty());
  EXPECT_EQ(a->checkpoint("rule-00"), 100);

  // a is paused past its lease; b takes the rules over.
  std::this_thread::sleep_for(1200ms);
  const std::vector<held_lease> taken = b->lease_round(round_of(rules(2), 10s, 100ms)).held;
  ASSERT_EQ(taken,
            (std::vector<held_lease>{{kind::rule, "rule-00", 2}, {kind::rule, "rule-01", 2}}));

  // a comes back and commits at its old epoch, in a batch with an unfenced commit: that one is
  // written, nothing of the stale one is.
  std::vector<poll_commit> late = {poll_of("rule-00", 1, 200, "late"), poll_of("other", 0, 5, "x")};
  late[1].incident.reset();
  r = a->commit(late);
  EXPECT_EQ(r.refused_rules, std::vector<std::string>{"rule-00"});
  EXPECT_EQ(a->checkpoint("rule-00"), 100);
  EXPECT_EQ(a->checkpoint("other"), 5);
  EXPECT_EQ(a->notified("rule-00"), poll_of("rule-00", 1, 100, "first").notified);
  std::vector<std::string> ids;
  for (const outbox_row& o : a->outbox()) ids.push_back(o.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"msg-first", "msg-x"}));
  EXPECT_EQ(a->incidents(),
            std::vector<incident_row>{*poll_of("rule-00", 1, 100, "first").incident});

  // Nor may a commit under b's epoch: the lease is b's, not a's.
  EXPECT_EQ(a->commit(poll_of("rule-01", 2, 7, "a-as-b")).refused_rules,
            std::vector<std::string>{"rule-01"});
  // b, the holder, commits at its epoch; a stale epoch of b's own is refused too.
  EXPECT_TRUE(b->commit(poll_of("rule-00", 2, 300, "b")).refused_rules.empty());
  EXPECT_EQ(b->commit(poll_of("rule-01", 1, 8, "b-old")).refused_rules,
            std::vector<std::string>{"rule-01"});
  EXPECT_EQ(b->checkpoint("rule-00"), 300);
  EXPECT_EQ(b->checkpoint("rule-01"), std::nullopt);
  // A rule no lease row names cannot be committed under an epoch either.
  EXPECT_EQ(b->commit(poll_of("unknown", 1, 9, "u")).refused_rules,
            std::vector<std::string>{"unknown"});

  // A lease that lapsed with no one taking it over: its epoch is still current, and still
  // refused (the holder may be cut off; another replica may take it any moment).
  const std::vector<held_lease> short_lease =
      b->lease_round(round_of({{kind::rule, "lapsing"}}, 300ms, 100ms)).held;
  ASSERT_EQ(short_lease, (std::vector<held_lease>{{kind::rule, "lapsing", 1}}));
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(b->commit(poll_of("lapsing", 1, 10, "lapsed")).refused_rules,
            std::vector<std::string>{"lapsing"});
  EXPECT_EQ(b->checkpoint("lapsing"), std::nullopt);
}

TEST_F(PgStore, ATakeoverWaitsForTheCommitHoldingTheLease) {
  auto a = open(owner_a);
  auto b = open(owner_b);
  ASSERT_EQ(a->lease_round(round_of(rules(1), 1000ms, 100ms)).held,
            (std::vector<held_lease>{{kind::rule, "rule-00", 1}}));
  // a's commit takes its time: its lease expires while it is under way.
  psql(
      "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
      "PERFORM pg_sleep(2.5); RETURN NEW; END $$; "
      "CREATE TRIGGER slow BEFORE INSERT ON checkpoints FOR EACH ROW EXECUTE FUNCTION slow()");
  const auto expiry = std::chrono::steady_clock::now() + 1000ms;
  std::atomic<bool> committed{false};
  commit_result written;
  std::thread writer([&] {
    written = a->commit(poll_of("rule-00", 1, 100, "slow"));
    committed = true;
  });
  // Once a's commit is in its trigger (past the fence) and its lease has expired, b tries to
  // take the rule over.
  for (int i = 0; i < 50; ++i) {
    if (psql("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'") == "1") break;
    std::this_thread::sleep_for(50ms);
  }
  std::this_thread::sleep_until(expiry + 200ms);
  ASSERT_FALSE(committed.load()) << "the commit was not slow enough for this test";
  const lease_outcome taken = b->lease_round(round_of(rules(1), 10s, 100ms));
  // Asked of the server, not of the writer thread (which learns of its commit a moment after
  // the server made it, and so after b may already be back): a's commit was durable before
  // b's round ended.
  const std::string seen = psql("SELECT window_end FROM checkpoints WHERE rule = 'rule-00'");
  writer.join();
  EXPECT_EQ(seen, "100") << "b took the lease over while a's fenced commit was under way";
  EXPECT_TRUE(written.refused_rules.empty());
  EXPECT_EQ(a->checkpoint("rule-00"), 100);
  EXPECT_EQ(taken.held, (std::vector<held_lease>{{kind::rule, "rule-00", 2}}));
}

TEST_F(PgStore, ThreeReplicasSettleOnTenRulesEachAndALeavingOneHandsOverAtOnce) {
  constexpr auto ttl = 2000ms;  // every step below takes well under this
  constexpr auto renew = 300ms;
  const auto wanted = rules(30);
  std::vector<std::unique_ptr<pg_store>> replicas;
  for (const std::string& owner : {owner_a, owner_b, owner_c}) replicas.push_back(open(owner));
  // A lease of a kind this build does not know: never read into a plan, never touched.
  psql("INSERT INTO leases VALUES ('silence', 'maintenance', 'host-z/9/00000009', 7, 0, '', '')");

  std::vector<lease_outcome> last(3);
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  auto settled = [&] {
    for (const lease_outcome& o : last) {
      if (o.held.size() != 10 || o.live_replicas != 3) return false;
    }
    return true;
  };
  do {
    for (std::size_t i = 0; i < replicas.size(); ++i) {
      last[i] = replicas[i]->lease_round(round_of(wanted, ttl, renew));
    }
    std::this_thread::sleep_for(100ms);
  } while (!settled() && std::chrono::steady_clock::now() < deadline);
  ASSERT_TRUE(settled()) << last[0].held.size() << " " << last[1].held.size() << " "
                         << last[2].held.size();
  std::set<std::string> all;
  for (const lease_outcome& o : last) {
    for (const held_lease& h : o.held) {
      EXPECT_TRUE(all.insert(h.name).second) << h.name << " held twice";
    }
  }
  EXPECT_EQ(all.size(), 30u);
  // What each holds is what the table says, at the epochs of their fences.
  std::map<std::string, std::string> expected;
  for (std::size_t i = 0; i < 3; ++i) {
    for (const held_lease& h : last[i].held) {
      expected[h.name] = h.name + "|" + replicas[i]->owner() + "|" + std::to_string(h.epoch);
    }
  }
  std::string table;
  for (const auto& [name, row] : expected) table += (table.empty() ? "" : "\n") + row;
  EXPECT_EQ(psql("SELECT name, owner, epoch FROM leases WHERE kind = 'rule' ORDER BY name"), table);

  // A graceful stop: a releases everything and leaves the replicas table in one round.
  const lease_outcome left = replicas[0]->lease_round(round_of(wanted, ttl, renew, true));
  EXPECT_TRUE(left.held.empty());
  std::set<std::string> released;
  for (const qoewatch::lease::release& r : left.released) {
    released.insert(r.name);
    EXPECT_EQ(r.why, qoewatch::lease::release::reason::unwanted);
  }
  EXPECT_EQ(released, names_of(last[0].held));
  EXPECT_EQ(psql("SELECT count(*) FROM replicas WHERE owner = '" + owner_a + "'"), "0");

  // b's next round after a renew period takes every rule a held, under new epochs. (It may
  // also start handing some of its own to c, now that they share the rules half and half.)
  std::this_thread::sleep_for(renew + 100ms);
  const lease_outcome b = replicas[1]->lease_round(round_of(wanted, ttl, renew));
  EXPECT_EQ(b.live_replicas, 2u);
  std::map<std::string, std::int64_t> b_epochs;
  for (const held_lease& h : b.held) b_epochs[h.name] = h.epoch;
  for (const held_lease& h : last[0].held) {
    ASSERT_TRUE(b_epochs.contains(h.name)) << h.name;
    EXPECT_EQ(b_epochs[h.name], h.epoch + 1) << h.name;
  }
  EXPECT_EQ(b.held.size() + b.released.size(), 20u);
  for (const qoewatch::lease::release& r : b.released) {
    EXPECT_TRUE(names_of(last[1].held).contains(r.name)) << r.name;
    EXPECT_EQ(r.why, qoewatch::lease::release::reason::rebalanced);
  }
  const std::set<std::string> c_now =
      names_of(replicas[2]->lease_round(round_of(wanted, ttl, renew)).held);
  for (const std::string& name : names_of(last[2].held)) {
    EXPECT_TRUE(c_now.contains(name)) << name;
  }
  EXPECT_EQ(psql("SELECT owner, epoch, expires_at FROM leases WHERE kind = 'silence'"),
            "host-z/9/00000009|7|0");
}
