// Silences in the state stores, against real databases: what the API stored is read back as
// it was written, after a restart too, and from a database that an older qoewatchd created
// (SQLite v3, PostgreSQL v1); --migrate-state carries them into PostgreSQL. SilenceStore runs
// on both backends, as store_test.cpp's StateStore does; SqliteSilences and PgSilences hold
// what only one of them has.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "shared_pg.hpp"
#include "state/pg_store.hpp"
#include "state/sqlite_store.hpp"

using namespace qoewatch::state;
namespace fs = std::filesystem;

namespace {

// SQL straight into a SQLite file, for what qoewatch would never write itself.
std::string sqlite_exec(const fs::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open(file.c_str(), &db) != SQLITE_OK) {
    ADD_FAILURE() << file << ": " << sqlite3_errmsg(db);
  } else {
    auto row = [](void* to, int n, char** values, char**) {
      for (int i = 0; i < n; ++i)
        *static_cast<std::string*>(to) += std::string(i ? "|" : "") + (values[i] ? values[i] : "");
      return 0;
    };
    char* err = nullptr;
    if (sqlite3_exec(db, sql.c_str(), row, &out, &err) != SQLITE_OK)
      ADD_FAILURE() << sql << ": " << (err ? err : "?");
    sqlite3_free(err);
  }
  sqlite3_close(db);
  return out;
}

// A silence as the API stores it, its matchers the API's JSON.
silence_row silence(const std::string& id, const std::string& comment = "maintenance") {
  return {id,
          R"([{"isEqual":true,"isRegex":false,"name":"rule","value":"slow-start"}])",
          1700000000000,
          1700003600000,
          1699999999123,
          "ops@example.com",
          comment};
}

// Everything a person may type into amtool, and more: quotes, newlines, backslashes,
// non-ASCII text, and a comment far longer than any page.
silence_row awkward() {
  silence_row r;
  r.id = "3f1c2a9e-5b7d-4e8f-9a0b-1c2d3e4f5a6b";
  r.matchers =
      R"([{"isEqual":false,"isRegex":true,"name":"cdn","value":"edge\"B\"|a,b\\.c\n\u00e9"},)"
      R"({"isEqual":true,"isRegex":false,"name":"platform","value":"Andro'id"}])";
  r.starts_at = std::numeric_limits<std::int64_t>::min();
  r.ends_at = std::numeric_limits<std::int64_t>::max();
  r.updated_at = 1700000000123;
  r.created_by = "O'Brien \"ops\" <ops@example.com>; DROP TABLE silences; --";
  r.comment =
      "line 1\nline 2\r\n\ttab, back\\slash, 'single' \"double\", \u00e9t\u00e9, "
      "\u65e5\u672c\u8a9e, \U0001F680\n";
  while (r.comment.size() < 200000) r.comment += "the CDN is being moved to the new edge; ";
  return r;
}

// One test, run on each backend: "sqlite" or "postgresql".
class SilenceStore : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() / ("qoewatch-silences-test-" + std::to_string(::getpid()) +
                                        "-" + std::to_string(counter++));
    fs::remove_all(dir_);
    if (postgresql()) {
      QOEWATCH_REQUIRE_POSTGRESQL();
      db_ = qoewatch::test::fresh_database("silences");
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  bool postgresql() const { return GetParam() == "postgresql"; }

  /// The test's store; a second open() reopens the same state (a restart).
  std::unique_ptr<store> open() {
    if (postgresql()) return pg_store::open(db_.url, "test-host/1/0000abcd");
    return sqlite_store::open(dir_.string());
  }

  std::string psql(const std::string& sql) const {
    return qoewatch::test::shared_pg().psql(db_.name, sql);
  }

  /// Writing the silence "poison-put", or forgetting "poison-drop", fails from now on: a
  /// transaction that breaks midway. The table must exist (open() first).
  void poison() {
    if (postgresql()) {
      psql(
          "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
          "IF TG_OP = 'DELETE' THEN "
          "IF OLD.id = 'poison-drop' THEN RAISE EXCEPTION 'poisoned'; END IF; RETURN OLD; "
          "END IF; "
          "IF NEW.id = 'poison-put' THEN RAISE EXCEPTION 'poisoned'; END IF; RETURN NEW; END $$; "
          "CREATE TRIGGER poison BEFORE INSERT OR DELETE ON silences "
          "FOR EACH ROW EXECUTE FUNCTION poison()");
    } else {
      sqlite_exec(dir_ / "qoewatch.db",
                  "CREATE TRIGGER poison_put BEFORE INSERT ON silences "
                  "WHEN NEW.id = 'poison-put' BEGIN SELECT RAISE(ABORT, 'poisoned'); END; "
                  "CREATE TRIGGER poison_drop BEFORE DELETE ON silences "
                  "WHEN OLD.id = 'poison-drop' BEGIN SELECT RAISE(ABORT, 'poisoned'); END");
    }
  }

  fs::path dir_;                      // sqlite, and the source of an import
  qoewatch::test::test_database db_;  // postgresql
};

INSTANTIATE_TEST_SUITE_P(Backends, SilenceStore, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& backend) {
                           return backend.param;
                         });

// What only one backend has: each suite runs on its own.
class SqliteSilences : public SilenceStore {};
INSTANTIATE_TEST_SUITE_P(Backends, SqliteSilences, ::testing::Values("sqlite"),
                         [](const auto& backend) { return backend.param; });
class PgSilences : public SilenceStore {};
INSTANTIATE_TEST_SUITE_P(Backends, PgSilences, ::testing::Values("postgresql"),
                         [](const auto& backend) { return backend.param; });

}  // namespace

TEST_P(SilenceStore, WhatIsPutIsReadBackExactlyInIdOrder) {
  auto s = open();
  EXPECT_TRUE(s->silences().empty());
  // Byte order, whatever the database's locale: "B" before "a", "a" before "ab".
  const std::vector<silence_row> given = {silence("ab"), awkward(), silence("a"),
                                          silence("B-upper")};
  s->put_silences(given);
  EXPECT_EQ(s->silences(),
            (std::vector<silence_row>{awkward(), silence("B-upper"), silence("a"), silence("ab")}));
  s->put_silences({});
  EXPECT_EQ(s->silences().size(), 4u) << "nothing to write changes nothing";
}

TEST_P(SilenceStore, APutReplacesWhatIsStoredUnderItsIdAndLeavesTheRest) {
  auto s = open();
  s->put_silences({silence("a"), silence("b")});
  silence_row expired = silence("a", "ended early");
  expired.ends_at = expired.updated_at = 1700000100000;
  expired.matchers = "[]";
  expired.created_by = "";
  s->put_silences({expired});
  EXPECT_EQ(s->silences(), (std::vector<silence_row>{expired, silence("b")}));

  // An id twice in one put: the later row is the one kept.
  s->put_silences({silence("c", "first"), silence("c", "second")});
  EXPECT_EQ(s->silences().back(), silence("c", "second"));
}

TEST_P(SilenceStore, ADropForgetsTheGivenIdsAndIgnoresUnknownOnes) {
  auto s = open();
  s->put_silences({silence("a"), silence("b"), silence("c")});
  s->drop_silences({"c", "no-such-id", "a"});
  EXPECT_EQ(s->silences(), std::vector<silence_row>{silence("b")});
  s->drop_silences({});
  s->drop_silences({"a"});
  EXPECT_EQ(s->silences(), std::vector<silence_row>{silence("b")});
  s->drop_silences({"b"});
  EXPECT_TRUE(s->silences().empty());
}

TEST_P(SilenceStore, APutOrADropThatFailsMidwayChangesNothing) {
  auto s = open();
  s->put_silences({silence("a", "kept")});
  poison();
  EXPECT_THROW(s->put_silences({silence("a", "changed"), silence("b"), silence("poison-put")}),
               store_error);
  EXPECT_EQ(s->silences(), std::vector<silence_row>{silence("a", "kept")});
  s->put_silences({silence("poison-drop")});
  EXPECT_THROW(s->drop_silences({"a", "poison-drop"}), store_error);
  EXPECT_EQ(s->silences(),
            (std::vector<silence_row>{silence("a", "kept"), silence("poison-drop")}));
}

TEST_P(SilenceStore, SilencesSurviveAReopenAndEverythingHoldsThem) {
  {
    auto s = open();
    s->put_silences({awkward(), silence("z")});
    s->drop_silences({"z"});
  }
  auto s = open();
  EXPECT_EQ(s->silences(), std::vector<silence_row>{awkward()});
  const snapshot all = s->everything();
  EXPECT_EQ(all.silences, std::vector<silence_row>{awkward()});
  EXPECT_TRUE(all.outbox.empty()) << "a silence is no notification";
}

TEST_P(SilenceStore, TextPostgresqlCannotHoldIsStoredWithReplacementCharacters) {
  // JSON's "\u0000" puts a NUL in a decoded comment; an id is anything a client sent.
  const std::string odd = std::string("x\xff", 2) + '\0' + "y";
  silence_row r = silence("id-" + odd, "comment " + odd);
  r.created_by = odd;
  r.matchers = "[\"" + odd + "\"]";
  auto s = open();
  EXPECT_NO_THROW(s->put_silences({r}));
  ASSERT_EQ(s->silences().size(), 1u);
  const silence_row back = s->silences()[0];
  if (postgresql()) {
    const std::string replaced = "x\uFFFD\uFFFDy";
    EXPECT_EQ(back.id, "id-" + replaced);
    EXPECT_EQ(back.comment, "comment " + replaced);
    EXPECT_EQ(back.created_by, replaced);
    EXPECT_EQ(back.matchers, "[\"" + replaced + "\"]");
  } else {
    EXPECT_EQ(back, r) << "SQLite keeps the bytes as they are";
  }
  // Dropped by the id it was put under, on either.
  s->drop_silences({r.id});
  EXPECT_TRUE(s->silences().empty());
}

// ---- SQLite only ----

TEST_P(SqliteSilences, AVersionThreeDatabaseIsMigratedKeepingEverything) {
  // What qoewatch left before silences (schema v3): a checkpoint, a notified pair, a queued
  // notification, a firing incident and a firing group.
  fs::create_directories(dir_);
  const fs::path file = dir_ / "qoewatch.db";
  sqlite_exec(file, R"sql(
PRAGMA application_id = 1903125879;
CREATE TABLE checkpoints(rule TEXT PRIMARY KEY, window_end INTEGER NOT NULL);
CREATE TABLE notified(rule TEXT NOT NULL, sessionid TEXT NOT NULL, ended_at INTEGER NOT NULL,
  PRIMARY KEY(rule, sessionid)) WITHOUT ROWID;
CREATE INDEX notified_ended_at ON notified(ended_at);
CREATE TABLE incidents(rule TEXT PRIMARY KEY, key TEXT NOT NULL, started_at REAL NOT NULL,
  polls_below INTEGER NOT NULL, sinks TEXT NOT NULL DEFAULT '');
CREATE TABLE outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL,
  sink TEXT NOT NULL, rule TEXT NOT NULL, body BLOB NOT NULL, created_at REAL NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',
  sink_type TEXT NOT NULL DEFAULT '');
CREATE TABLE dead_letters(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL,
  sink TEXT NOT NULL, rule TEXT NOT NULL, body BLOB NOT NULL, created_at REAL NOT NULL,
  dead_at REAL NOT NULL, attempts INTEGER NOT NULL, reason TEXT NOT NULL);
CREATE TABLE group_incidents(rule TEXT NOT NULL, grp TEXT NOT NULL, key TEXT NOT NULL,
  started_at REAL NOT NULL, polls_below INTEGER NOT NULL, sinks TEXT NOT NULL,
  PRIMARY KEY(rule, grp));
INSERT INTO checkpoints VALUES('slow-start', 1700000060);
INSERT INTO notified VALUES('slow-start', 's1', 1700000000);
INSERT INTO incidents VALUES('slow-start', 'slow-start/1700000000', 1700000000.5, 0, 'pager');
INSERT INTO outbox(id, sink, rule, body, created_at, sink_type) VALUES('msg_a', 'pager',
  'slow-start', '{"a":1}', 1700000000.25, 'pagerduty');
INSERT INTO group_incidents VALUES('cdn', '[["cdn","a"]]', 'cdn/a/1', 1700000000, 1, 'pager');
PRAGMA user_version = 3;
)sql");

  // --migrate-state reads it without upgrading the file: no silences yet.
  {
    auto exclusive = sqlite_store::open_exclusive(file.string());
    const snapshot all = exclusive->everything();
    EXPECT_TRUE(all.silences.empty());
    EXPECT_EQ(all.outbox.size(), 1u);
  }
  EXPECT_EQ(sqlite_exec(file, "PRAGMA user_version"), "3");

  {
    auto s = sqlite_store::open(dir_.string());
    EXPECT_EQ(sqlite_exec(file, "PRAGMA user_version"), std::to_string(4));
    EXPECT_EQ(sqlite_store::schema_version(), 4);
    EXPECT_TRUE(s->silences().empty());
    s->put_silences({silence("a")});
  }
  auto s = sqlite_store::open(dir_.string());
  EXPECT_EQ(s->silences(), std::vector<silence_row>{silence("a")});
  EXPECT_EQ(s->checkpoint("slow-start"), 1700000060);
  EXPECT_EQ(s->notified(), (std::vector<notified_row>{{"slow-start", "s1", 1700000000}}));
  EXPECT_EQ(s->incidents(),
            (std::vector<incident_row>{
                {"slow-start", "slow-start/1700000000", 1700000000.5, 0, {"pager"}, {}}}));
  ASSERT_EQ(s->outbox().size(), 1u);
  EXPECT_EQ(s->outbox()[0].sink_type, "pagerduty");
  EXPECT_EQ(
      s->group_incidents(),
      (std::vector<incident_row>{{"cdn", "cdn/a/1", 1700000000, 1, {"pager"}, {{"cdn", "a"}}}}));
}

// ---- PostgreSQL only ----

TEST_P(PgSilences, AVersionOneSchemaIsMigratedKeepingEverything) {
  // Schema v2 only adds the silences table: v1 is today's schema without it.
  poll_commit c;
  c.rule = "slow-start";
  c.checkpoint = 1700000060;
  open()->commit(c);
  psql("DROP TABLE silences; UPDATE qoewatch_meta SET value = '1' WHERE key = 'schema_version'");
  EXPECT_EQ(psql("SELECT count(*) FROM pg_tables WHERE tablename = 'silences'"), "0");
  auto s = open();
  EXPECT_EQ(pg_store::schema_version(), 2);
  EXPECT_EQ(psql("SELECT value FROM qoewatch_meta WHERE key = 'schema_version'"), "2");
  EXPECT_EQ(s->checkpoint("slow-start"), 1700000060);
  EXPECT_TRUE(s->silences().empty());
  s->put_silences({awkward()});
  EXPECT_EQ(open()->silences(), std::vector<silence_row>{awkward()});
}

TEST_P(PgSilences, ATableNamedSilencesWithoutQoewatchMetaIsNotOurs) {
  psql("CREATE TABLE silences(x int)");
  try {
    open();
    ADD_FAILURE() << "no store_refused";
  } catch (const store_refused& e) {
    EXPECT_NE(std::string(e.what()).find("not a qoewatch state database (it has tables named "
                                         "like qoewatch's, silences, but no qoewatch_meta)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), "1");
}

TEST_P(PgSilences, MigrateStateCarriesTheSilencesFromSqlite) {
  {
    auto single = sqlite_store::open(dir_.string());
    single->put_silences({silence("b"), awkward(), silence("a", "")});
  }
  const snapshot read = sqlite_store::open_exclusive((dir_ / "qoewatch.db").string())->everything();
  ASSERT_EQ(read.silences.size(), 3u);
  pg_store::open(db_.url, "migrate/1")->import(read);
  EXPECT_EQ(open()->silences(), read.silences);
  EXPECT_EQ(open()->everything(), read);
}
