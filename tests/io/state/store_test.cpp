// The state stores against real databases, as the daemon and an operator see them: what one
// run commits is there after a restart, a failed commit leaves nothing behind. StateStore runs
// every test on both backends (SQLite files in a temporary directory, and a database of its
// own on the test process's PostgreSQL server); SqliteStore holds what only files have: a
// file that is not ours, damaged, or from a newer qoewatch is refused with its path, never
// reset. PostgreSQL's own tests are in pg_store_test.cpp.
#include "state/pg_store.hpp"
#include "state/sqlite_store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>

#include <unistd.h>

#include "shared_pg.hpp"

using namespace qoewatch::state;
namespace fs = std::filesystem;

namespace {

// A raw connection, for setting up what qoewatch would never write itself.
class raw_db {
 public:
  explicit raw_db(const fs::path& file) {
    if (sqlite3_open(file.c_str(), &db_) != SQLITE_OK) ADD_FAILURE() << sqlite3_errmsg(db_);
  }
  ~raw_db() { sqlite3_close(db_); }
  raw_db(const raw_db&) = delete;
  raw_db& operator=(const raw_db&) = delete;

  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << (err ? err : "?");
    }
    sqlite3_free(err);
  }
  std::string value(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    std::string out = "<error>";
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class SqliteStore : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() /
           ("qoewatch-state-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) +
            "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    root_ = dir_;
    fs::remove_all(root_);
    db_file_ = dir_ / "qoewatch.db";
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string dir() const { return dir_.string(); }

  // Makes `dir` hold a database file created by someone else.
  void foreign(const std::string& sql) {
    fs::create_directories(dir_);
    raw_db(db_file_).exec(sql);
  }

  // Expects `f` to throw a store_error starting with `<db file>: ` and containing `rest`.
  template <class F>
  void expect_error(F f, const std::string& rest) {
    try {
      f();
      ADD_FAILURE() << "no store_error, expected: " << rest;
    } catch (const store_error& e) {
      EXPECT_EQ(std::string(e.what()).substr(0, db_file_.string().size() + 2),
                db_file_.string() + ": ")
          << e.what();
      EXPECT_NE(std::string(e.what()).find(rest), std::string::npos) << e.what();
    }
  }

  fs::path root_;  // removed after the test, whatever dir_ became
  fs::path dir_;
  fs::path db_file_;
};

outbox_row notification(const std::string& id, const std::string& body = "{\"a\":1}") {
  return {id, "pager", "slow-start", body, 1700000000.25, 0, "", "pagerduty"};
}

poll_commit full_commit() {
  poll_commit c;
  c.rule = "slow-start";
  c.checkpoint = 1700000060;
  c.notified = {{"slow-start", "s1", 1700086400}, {"slow-start", "s2", 1700086460}};
  c.outbox = {notification("msg_b"), notification("msg_a")};
  c.incident =
      incident_row{"slow-start", "slow-start/1700000000", 1700000000.5, 1, {"pager", "chat"}, {}};
  return c;
}

// One test, run on each backend: "sqlite" or "postgresql".
class StateStore : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (postgresql()) {
      QOEWATCH_REQUIRE_POSTGRESQL();
      db_ = qoewatch::test::fresh_database("store");
      return;
    }
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() / ("qoewatch-store-test-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(counter++));
    fs::remove_all(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  bool postgresql() const { return GetParam() == "postgresql"; }

  /// The test's store; a second open() reopens the same state (a restart).
  std::unique_ptr<store> open() {
    if (postgresql()) return pg_store::open(db_.url, "test-host/1/0000abcd");
    return sqlite_store::open(dir_.string());
  }

  /// Any later insert of this session id into `notified` fails: a commit that breaks midway.
  /// The tables must exist (open() first).
  void poison_session(const std::string& sessionid) {
    if (postgresql()) {
      qoewatch::test::shared_pg().psql(
          db_.name,
          "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
          "IF NEW.sessionid = '" + sessionid + "' THEN RAISE EXCEPTION 'poisoned'; END IF; "
          "RETURN NEW; END $$; "
          "CREATE TRIGGER poison BEFORE INSERT ON notified FOR EACH ROW EXECUTE FUNCTION poison()");
    } else {
      raw_db(dir_ / "qoewatch.db")
          .exec("CREATE TRIGGER poison BEFORE INSERT ON notified WHEN NEW.sessionid = '" +
                sessionid + "' BEGIN SELECT RAISE(ABORT, 'poisoned'); END");
    }
  }

  // Expects `f` to throw a store_error starting with `<s.describe()>: ` and containing `rest`.
  template <class F>
  void expect_error(const store& s, F f, const std::string& rest) {
    try {
      f();
      ADD_FAILURE() << "no store_error, expected: " << rest;
    } catch (const store_error& e) {
      const std::string what = e.what();
      EXPECT_TRUE(what.starts_with(s.describe() + ": ")) << what;
      EXPECT_NE(what.find(rest), std::string::npos) << what;
    }
  }

  fs::path dir_;                         // sqlite
  qoewatch::test::test_database db_;     // postgresql
};

INSTANTIATE_TEST_SUITE_P(Backends, StateStore, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& backend) {
                           return backend.param;
                         });

}  // namespace

TEST_P(StateStore, ANewStoreIsEmpty) {
  auto s = open();
  EXPECT_EQ(s->checkpoint("slow-start"), std::nullopt);
  EXPECT_TRUE(s->notified().empty());
  EXPECT_TRUE(s->notified("slow-start").empty());
  EXPECT_TRUE(s->incidents().empty());
  EXPECT_TRUE(s->group_incidents().empty());
  EXPECT_TRUE(s->outbox().empty());
  EXPECT_TRUE(s->dead_letters().empty());
  EXPECT_FALSE(s->describe().empty());
}

TEST_P(StateStore, NumbersReadBackExactly) {
  auto s = open();
  constexpr std::int64_t big = std::numeric_limits<std::int64_t>::max();
  constexpr std::int64_t small = std::numeric_limits<std::int64_t>::min();
  const double odd = 1700000000.1 + 1e-6;  // no short decimal form
  poll_commit c;
  c.rule = "slow-start";
  c.checkpoint = small;
  c.notified = {{"slow-start", "s1", big}};
  c.outbox = {notification("msg_a")};
  c.outbox[0].created_at = odd;
  c.outbox[0].attempts = std::numeric_limits<int>::max();
  c.incident = incident_row{"slow-start", "k", 0.1 + 0.2, -3, {}, {}};
  s->commit(c);
  EXPECT_EQ(s->checkpoint("slow-start"), small);
  EXPECT_EQ(s->notified(), (std::vector<notified_row>{{"slow-start", "s1", big}}));
  ASSERT_EQ(s->outbox().size(), 1u);
  EXPECT_EQ(s->outbox()[0], c.outbox[0]);
  EXPECT_EQ(s->incidents(), std::vector<incident_row>{*c.incident});
  s->dead("msg_a", "gone", odd + 1);
  ASSERT_EQ(s->dead_letters().size(), 1u);
  EXPECT_EQ(s->dead_letters()[0].dead_at, odd + 1);
  EXPECT_EQ(s->dead_letters()[0].created_at, odd);
}

TEST_P(StateStore, WithinABatchTheLaterIncidentAndGroupsOfARuleWin) {
  auto s = open();
  const incident_row first{"r", "r/1", 1, 0, {"pager"}, {}};
  const incident_row second{"r", "r/2", 2, 1, {"pager", "chat"}, {}};
  const incident_row g1{"p", "p/a/1", 1, 0, {"pager"}, {{"cdn", "a"}}};
  const incident_row g2{"p", "p/b/1", 1, 0, {"pager"}, {{"cdn", "b"}}};
  std::vector<poll_commit> batch(4);
  batch[0].rule = "r";
  batch[0].incident = first;
  batch[1].rule = "p";
  batch[1].groups = std::vector<incident_row>{g1, g2};
  batch[2].rule = "r";
  batch[2].incident = second;
  batch[3].rule = "p";
  batch[3].groups = std::vector<incident_row>{g2};
  s->commit(batch);
  EXPECT_EQ(s->incidents(), std::vector<incident_row>{second});
  EXPECT_EQ(s->group_incidents(), std::vector<incident_row>{g2});

  // Cleared after being set, set after being cleared, in one batch.
  batch.assign(3, poll_commit{});
  batch[0].rule = "r";
  batch[0].clear_incident = true;
  batch[1].rule = "q";
  batch[1].incident = incident_row{"q", "q/1", 1, 0, {}, {}};
  batch[2].rule = "q";
  batch[2].clear_incident = true;
  s->commit(batch);
  EXPECT_TRUE(s->incidents().empty());
  batch.assign(2, poll_commit{});
  batch[0].rule = "r";
  batch[0].clear_incident = true;
  batch[1].rule = "r";
  batch[1].incident = first;
  s->commit(batch);
  EXPECT_EQ(s->incidents(), std::vector<incident_row>{first});

  // Two groups alike in one list: the later one is kept.
  incident_row g2_later = g2;
  g2_later.polls_below = 7;
  poll_commit twice;
  twice.rule = "p";
  twice.groups = std::vector<incident_row>{g2, g1, g2_later};
  s->commit(twice);
  std::vector<incident_row> groups = s->group_incidents();
  std::sort(groups.begin(), groups.end(),
            [](const incident_row& a, const incident_row& b) { return a.key < b.key; });
  EXPECT_EQ(groups, (std::vector<incident_row>{g1, g2_later}));
}

TEST_P(StateStore, EverythingCommittedSurvivesAReopen) {
  {
    auto s = open();
    s->commit(full_commit());
    poll_commit other;
    other.rule = "rebuffer";
    other.checkpoint = -5;
    other.outbox = {notification("msg_c", "")};
    s->commit(other);
    s->attempt_failed("msg_a", 3, "HTTP 503");
    s->dead("msg_a", "HTTP 400: bad payload", 1700000100.5);
  }
  auto s = open();
  EXPECT_EQ(s->checkpoint("slow-start"), 1700000060);
  EXPECT_EQ(s->checkpoint("rebuffer"), -5);
  EXPECT_EQ(s->notified(), full_commit().notified);
  EXPECT_EQ(s->incidents(), std::vector<incident_row>{*full_commit().incident});
  EXPECT_EQ(s->outbox(),
            (std::vector<outbox_row>{notification("msg_b"), notification("msg_c", "")}));
  EXPECT_EQ(s->dead_letters(),
            (std::vector<dead_letter>{{"msg_a", "pager", "slow-start", "{\"a\":1}", 1700000000.25,
                                       1700000100.5, 3, "HTTP 400: bad payload"}}));
}

TEST_P(StateStore, OutboxKeepsInsertionOrderAndBodiesByteForByte) {
  auto s = open();
  std::string binary("a\0b\xff\n", 5);
  for (const char* id : {"zz", "aa", "mm"}) {
    poll_commit c;
    c.rule = "slow-start";
    c.outbox = {notification(id, id == std::string("aa") ? binary : std::string(id))};
    s->commit(c);
  }
  std::vector<outbox_row> rows = s->outbox();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].id, "zz");
  EXPECT_EQ(rows[1].id, "aa");
  EXPECT_EQ(rows[1].body, binary);
  EXPECT_EQ(rows[2].id, "mm");
}

TEST_P(StateStore, CheckpointsListsEveryRulesCheckpointAndEverythingReadsItAll) {
  auto s = open();
  EXPECT_TRUE(s->checkpoints().empty());
  EXPECT_EQ(s->everything(), snapshot{});
  s->commit(full_commit());
  poll_commit other;
  other.rule = "rebuffer";
  other.checkpoint = -5;
  s->commit(other);
  poll_commit no_checkpoint;
  no_checkpoint.rule = "silent";
  s->commit(no_checkpoint);
  const std::map<std::string, std::int64_t> expected{{"rebuffer", -5}, {"slow-start", 1700000060}};
  EXPECT_EQ(s->checkpoints(), expected);
  s->dead("msg_a", "HTTP 400", 1700000100);
  const snapshot all = s->everything();
  EXPECT_EQ(all.checkpoints, expected);
  EXPECT_EQ(all.notified, full_commit().notified);
  EXPECT_EQ(all.incidents, std::vector<incident_row>{*full_commit().incident});
  EXPECT_TRUE(all.group_incidents.empty());
  EXPECT_EQ(all.outbox, std::vector<outbox_row>{notification("msg_b")});
  ASSERT_EQ(all.dead_letters.size(), 1u);
  EXPECT_EQ(all.dead_letters[0].id, "msg_a");
}

TEST_P(StateStore, CheckpointIsWrittenOnlyWhenGivenAndExactlyAsGiven) {
  auto s = open();
  poll_commit c;
  c.rule = "slow-start";
  c.checkpoint = 1000;
  s->commit(c);
  c.checkpoint.reset();
  s->commit(c);
  EXPECT_EQ(s->checkpoint("slow-start"), 1000);
  c.checkpoint = 400;  // the caller decides; the store does not second-guess
  s->commit(c);
  EXPECT_EQ(s->checkpoint("slow-start"), 400);
  EXPECT_EQ(s->checkpoint("other"), std::nullopt);
}

TEST_P(StateStore, ANotifiedPairIsRecordedOnce) {
  auto s = open();
  poll_commit c;
  c.rule = "slow-start";
  c.notified = {{"slow-start", "s1", 100}};
  s->commit(c);
  c.notified = {{"slow-start", "s1", 999}, {"rebuffer", "s1", 50}};
  s->commit(c);
  EXPECT_EQ(s->notified(),
            (std::vector<notified_row>{{"rebuffer", "s1", 50}, {"slow-start", "s1", 100}}));
}

TEST_P(StateStore, IncidentIsReplacedKeptOrCleared) {
  auto s = open();
  poll_commit c = full_commit();
  s->commit(c);
  poll_commit next;
  next.rule = "slow-start";
  next.incident =
      incident_row{"slow-start", "slow-start/1700000000", 1700000000.5, 2, {"pager", "chat"}, {}};
  s->commit(next);
  EXPECT_EQ(s->incidents(), std::vector<incident_row>{*next.incident});
  next.incident.reset();  // neither row nor clear: untouched
  s->commit(next);
  ASSERT_EQ(s->incidents().size(), 1u);
  EXPECT_EQ(s->incidents()[0].polls_below, 2);
  next.clear_incident = true;
  s->commit(next);
  EXPECT_TRUE(s->incidents().empty());
}

TEST_P(StateStore, ABatchIsOneTransactionInOrder) {
  auto s = open();
  std::vector<poll_commit> batch(3);
  batch[0].rule = "a";
  batch[0].checkpoint = 100;
  batch[1].rule = "b";
  batch[1].checkpoint = 200;
  batch[2].rule = "a";
  batch[2].checkpoint = 150;  // later in the batch: it wins
  s->commit(batch);
  EXPECT_EQ(s->checkpoint("a"), 150);
  EXPECT_EQ(s->checkpoint("b"), 200);

  // One bad member fails the whole batch: nothing of it is kept.
  poison_session("poison");
  std::vector<poll_commit> bad(2);
  bad[0].rule = "a";
  bad[0].checkpoint = 300;
  bad[1] = full_commit();
  bad[1].notified.push_back({"slow-start", "poison", 1700086400});
  expect_error(*s, [&] { s->commit(bad); }, "poisoned");
  EXPECT_EQ(s->checkpoint("a"), 150);
  EXPECT_TRUE(s->outbox().empty());
  EXPECT_TRUE(s->notified().empty());
}

TEST_P(StateStore, AFailedCommitLeavesNothingBehindAndTheStoreUsable) {
  auto s = open();
  poison_session("poison");
  poll_commit bad = full_commit();
  bad.notified.push_back({"slow-start", "poison", 1700086400});
  expect_error(*s, [&] { s->commit(bad); }, "poisoned");
  EXPECT_EQ(s->checkpoint("slow-start"), std::nullopt);
  EXPECT_TRUE(s->notified().empty());
  EXPECT_TRUE(s->incidents().empty());
  EXPECT_TRUE(s->outbox().empty());

  s->commit(full_commit());
  EXPECT_EQ(s->checkpoint("slow-start"), 1700000060);
  EXPECT_EQ(s->outbox().size(), 2u);
  s.reset();
  EXPECT_EQ(open()->checkpoint("slow-start"), 1700000060);
}

TEST_P(StateStore, AnIdAlreadyInTheOutboxIsKeptOnceWithItsFirstBodyAndReported) {
  // Replicas, or one window judged twice, render one notification under one id: the outbox
  // keeps the first, and the commit says which it did not queue again.
  auto s = open();
  EXPECT_TRUE(s->commit(full_commit()).duplicate_ids.empty());
  poll_commit again;
  again.rule = "slow-start";
  again.checkpoint = 1700000120;
  again.outbox = {notification("msg_a", "{\"later\":1}"), notification("msg_c"),
                  notification("msg_c", "{\"twice\":1}")};
  const commit_result r = s->commit(again);
  EXPECT_EQ(r.duplicate_ids, (std::vector<std::string>{"msg_a", "msg_c"}));
  EXPECT_EQ(s->checkpoint("slow-start"), 1700000120);  // the rest of the commit is written
  const std::vector<outbox_row> rows = s->outbox();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1], notification("msg_a"));  // the first body, in its place
  EXPECT_EQ(rows[2], notification("msg_c"));

  // Delivered and gone: the id may be queued again (a window judged again after a restart).
  s->delivered("msg_a");
  EXPECT_EQ(s->commit(again).duplicate_ids, (std::vector<std::string>{"msg_c", "msg_c"}));
  EXPECT_EQ(s->outbox().back().id, "msg_a");
}

TEST_P(StateStore, DeliveredRemovesTheRowAndIgnoresUnknownIds) {
  auto s = open();
  s->commit(full_commit());
  s->delivered("msg_b");
  s->delivered("no-such-id");
  EXPECT_EQ(s->outbox(), std::vector<outbox_row>{notification("msg_a")});
  s.reset();
  EXPECT_EQ(open()->outbox(), std::vector<outbox_row>{notification("msg_a")});
}

TEST_P(StateStore, AFailedAttemptIsRecordedAndSurvivesAReopen) {
  auto s = open();
  s->commit(full_commit());
  s->attempt_failed("msg_a", 1, "connect: refused");
  s->attempt_failed("msg_a", 2, "HTTP 503");
  s.reset();
  std::vector<outbox_row> rows = open()->outbox();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], notification("msg_b"));
  EXPECT_EQ(rows[1].attempts, 2);
  EXPECT_EQ(rows[1].last_error, "HTTP 503");
}

TEST_P(StateStore, DeadMovesTheRowWithItsReasonAndAttempts) {
  auto s = open();
  s->commit(full_commit());
  s->attempt_failed("msg_b", 7, "HTTP 503");
  s->dead("msg_b", "undelivered after 24h (last: HTTP 503)", 1700086400.75);
  s->dead("no-such-id", "whatever", 1);
  EXPECT_EQ(s->outbox(), std::vector<outbox_row>{notification("msg_a")});
  std::vector<dead_letter> dead = s->dead_letters();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0], (dead_letter{"msg_b", "pager", "slow-start", "{\"a\":1}", 1700000000.25,
                                  1700086400.75, 7, "undelivered after 24h (last: HTTP 503)"}));
}

TEST_P(StateStore, ExpireNotifiedForgetsOnlyPairsThatExpiredBeforeNow) {
  auto s = open();
  poll_commit c;
  c.rule = "slow-start";
  c.notified = {{"slow-start", "old", 99}, {"slow-start", "edge", 100}, {"slow-start", "new", 101}};
  s->commit(c);
  c.rule = "rebuffering";
  c.notified = {{"rebuffering", "old", 99}, {"rebuffering", "older", 50}};
  s->commit(c);
  s->forget_notified({{"slow-start", 100}});
  EXPECT_EQ(s->notified("slow-start"),
            (std::vector<notified_row>{{"slow-start", "edge", 100}, {"slow-start", "new", 101}}));
  EXPECT_EQ(s->notified("rebuffering").size(), 2u) << "another rule's pairs are left alone";
  s->forget_notified({}, 60);
  EXPECT_EQ(s->notified(), (std::vector<notified_row>{{"rebuffering", "old", 99},
                                                      {"slow-start", "edge", 100},
                                                      {"slow-start", "new", 101}}));
}

TEST_P(StateStore, PopulationGroupsAreReplacedAsAWholeAndSurviveReopening) {
  auto s = open();
  EXPECT_TRUE(s->group_incidents().empty());
  poll_commit c;
  c.rule = "cdn_rebuffering";
  c.checkpoint = 1700000060;
  // A dimension value may hold anything: commas, quotes, '=' and non-ASCII text.
  c.groups = std::vector<incident_row>{
      {"cdn_rebuffering", "cdn_rebuffering/cdn=edgeB/1700000000", 1700000000.5, 0, {"pager"},
       {{"cdn", "edgeB"}, {"platform", "Android"}}},
      {"cdn_rebuffering", "cdn_rebuffering/cdn=a,b/1700000001", 1700000001, 1, {"pager"},
       {{"cdn", "a,b \"q\" =\u00e9"}, {"platform", ""}}}};
  s->commit(c);
  s.reset();
  s = open();
  std::vector<incident_row> back = s->group_incidents();
  ASSERT_EQ(back.size(), 2u);
  EXPECT_TRUE(std::find(back.begin(), back.end(), (*c.groups)[0]) != back.end());
  EXPECT_TRUE(std::find(back.begin(), back.end(), (*c.groups)[1]) != back.end());
  EXPECT_TRUE(s->incidents().empty()) << "groups are not the rule's own incident";

  // A commit without groups leaves them; one with a list replaces them all.
  poll_commit keep;
  keep.rule = "cdn_rebuffering";
  keep.checkpoint = 1700000120;
  s->commit(keep);
  EXPECT_EQ(s->group_incidents().size(), 2u);
  poll_commit one = keep;
  one.groups = std::vector<incident_row>{(*c.groups)[1]};
  s->commit(one);
  EXPECT_EQ(s->group_incidents(), *one.groups);
  poll_commit none = keep;
  none.groups = std::vector<incident_row>{};
  s->commit(none);
  EXPECT_TRUE(s->group_incidents().empty());
}
// ---- SQLite only: files ----

TEST_F(SqliteStore, OpenCreatesTheDirectoryAndAnEmptyQoewatchDatabase) {
  dir_ /= "nested/state";
  db_file_ = dir_ / "qoewatch.db";
  auto s = sqlite_store::open(dir());
  EXPECT_EQ(s->path(), db_file_.string());
  EXPECT_TRUE(fs::is_regular_file(db_file_));
  EXPECT_EQ(s->checkpoint("slow-start"), std::nullopt);
  EXPECT_TRUE(s->notified().empty());
  EXPECT_TRUE(s->incidents().empty());
  EXPECT_TRUE(s->outbox().empty());
  EXPECT_TRUE(s->dead_letters().empty());
  raw_db raw(db_file_);
  EXPECT_EQ(raw.value("PRAGMA application_id"), std::to_string(0x716F6577));
  EXPECT_EQ(raw.value("PRAGMA user_version"), std::to_string(sqlite_store::schema_version()));
}

TEST_F(SqliteStore, TheDatabaseIsInWalModeWithOthersReadingWhileItIsOpen) {
  auto s = sqlite_store::open(dir());
  s->commit(full_commit());
  EXPECT_TRUE(fs::exists(db_file_.string() + "-wal"));
  EXPECT_EQ(raw_db(db_file_).value("PRAGMA journal_mode"), "wal");
  // --dead-letters while the daemon runs.
  s->attempt_failed("msg_a", 1, "HTTP 500");
  s->dead("msg_a", "HTTP 400", 5);
  EXPECT_EQ(sqlite_store::open_read_only(dir())->dead_letters().size(), 1u);
}

TEST_F(SqliteStore, ACorruptFileIsRefusedAndLeftAlone) {
  fs::create_directories(dir_);
  std::string garbage(4096, '\0');
  std::mt19937 rng(42);
  for (char& ch : garbage) ch = static_cast<char>(rng() & 0xff);
  std::ofstream(db_file_, std::ios::binary) << garbage;
  expect_error([&] { sqlite_store::open(dir()); }, "not a usable SQLite database: ");
  expect_error([&] { sqlite_store::open_read_only(dir()); }, "not a usable SQLite database: ");
  EXPECT_EQ(read_file(db_file_), garbage);
}

TEST_F(SqliteStore, ADamagedPageIsDetectedAtOpen) {
  {
    auto s = sqlite_store::open(dir());
    poll_commit c = full_commit();
    for (int i = 0; i < 200; ++i) c.outbox.push_back(notification("id" + std::to_string(i)));
    s->commit(c);
  }
  // Overwrite the middle of the file (past the header and the schema page) with garbage.
  std::string bytes = read_file(db_file_);
  ASSERT_GT(bytes.size(), 4u * 4096);
  for (std::size_t i = 2 * 4096; i < bytes.size() - 4096; ++i) bytes[i] = static_cast<char>(i * 7);
  std::ofstream(db_file_, std::ios::binary | std::ios::trunc) << bytes;
  expect_error([&] { sqlite_store::open(dir()); }, "not a usable SQLite database: ");
}

TEST_F(SqliteStore, SomeoneElsesSqliteDatabaseIsRefused) {
  foreign("CREATE TABLE customers(name TEXT)");
  expect_error([&] { sqlite_store::open(dir()); }, "not a qoewatch state database");
  expect_error([&] { sqlite_store::open_read_only(dir()); }, "not a qoewatch state database");
  EXPECT_EQ(raw_db(db_file_).value("SELECT count(*) FROM sqlite_schema"), "1");
  EXPECT_EQ(raw_db(db_file_).value("PRAGMA user_version"), "0");
}

TEST_F(SqliteStore, AnotherApplicationsEmptyDatabaseIsRefused) {
  foreign("PRAGMA application_id = 1234");
  expect_error([&] { sqlite_store::open(dir()); }, "not a qoewatch state database");
}

TEST_F(SqliteStore, ADatabaseFromANewerQoewatchIsRefused) {
  sqlite_store::open(dir());
  raw_db(db_file_).exec("PRAGMA user_version = 99");
  std::string msg = "written by a newer qoewatch (schema v99, this build reads up to v" +
                    std::to_string(sqlite_store::schema_version()) + ")";
  expect_error([&] { sqlite_store::open(dir()); }, msg);
  expect_error([&] { sqlite_store::open_read_only(dir()); }, msg);
  EXPECT_EQ(raw_db(db_file_).value("PRAGMA user_version"), "99");
}

TEST_F(SqliteStore, ReopeningACurrentDatabaseKeepsItsVersionAndData) {
  sqlite_store::open(dir())->commit(full_commit());
  auto s = sqlite_store::open(dir());
  EXPECT_EQ(raw_db(db_file_).value("PRAGMA user_version"), "4");
  EXPECT_EQ(s->outbox().size(), 2u);
  EXPECT_EQ(s->checkpoint("slow-start"), 1700000060);
}

TEST_F(SqliteStore, AVersionOneDatabaseIsMigratedKeepingEverything) {
  // What qoewatch 0.1 (schema v1) left: a notified pair with its expiry, a queued
  // notification and a firing incident.
  foreign(R"sql(
PRAGMA application_id = 1903125879;
CREATE TABLE checkpoints(rule TEXT PRIMARY KEY, window_end INTEGER NOT NULL);
CREATE TABLE notified(rule TEXT NOT NULL, sessionid TEXT NOT NULL, expires_at INTEGER NOT NULL,
  PRIMARY KEY(rule, sessionid)) WITHOUT ROWID;
CREATE INDEX notified_expires_at ON notified(expires_at);
CREATE TABLE incidents(rule TEXT PRIMARY KEY, key TEXT NOT NULL, started_at REAL NOT NULL,
  polls_below INTEGER NOT NULL);
CREATE TABLE outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL,
  sink TEXT NOT NULL, rule TEXT NOT NULL, body BLOB NOT NULL, created_at REAL NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '');
CREATE TABLE dead_letters(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL,
  sink TEXT NOT NULL, rule TEXT NOT NULL, body BLOB NOT NULL, created_at REAL NOT NULL,
  dead_at REAL NOT NULL, attempts INTEGER NOT NULL, reason TEXT NOT NULL);
INSERT INTO checkpoints VALUES('slow-start', 1700000060);
INSERT INTO notified VALUES('slow-start', 's1', 1700000900);
INSERT INTO incidents VALUES('slow-start', 'slow-start/1700000000', 1700000000.5, 0);
INSERT INTO outbox(id, sink, rule, body, created_at) VALUES('msg_a', 'pager', 'slow-start',
  '{"a":1}', 1700000000.25);
PRAGMA user_version = 1;
)sql");
  auto s = sqlite_store::open(dir());
  EXPECT_EQ(raw_db(db_file_).value("PRAGMA user_version"), "4");
  EXPECT_EQ(s->checkpoint("slow-start"), 1700000060);
  // The old expiry stands in for the end time: later than the real one, so kept longer.
  EXPECT_EQ(s->notified(), (std::vector<notified_row>{{"slow-start", "s1", 1700000900}}));
  EXPECT_EQ(
      s->incidents(),
      (std::vector<incident_row>{{"slow-start", "slow-start/1700000000", 1700000000.5, 0, {}, {}}}));
  ASSERT_EQ(s->outbox().size(), 1u);
  EXPECT_EQ(s->outbox()[0].sink_type, "") << "unknown: written before types were recorded";
  s->forget_notified({}, 1700000901);
  EXPECT_TRUE(s->notified().empty());
}

TEST_F(SqliteStore, AnEmptyFileBecomesANewDatabase) {
  fs::create_directories(dir_);
  std::ofstream(db_file_).close();
  sqlite_store::open(dir())->commit(full_commit());
  EXPECT_EQ(sqlite_store::open(dir())->checkpoint("slow-start"), 1700000060);
}

TEST_F(SqliteStore, ReadOnlyNeedsAnExistingDatabaseAndCreatesNothing) {
  expect_error([&] { sqlite_store::open_read_only(dir()); },
               "no state database (has qoewatchd run with this state_dir?)");
  EXPECT_FALSE(fs::exists(dir_));
}

TEST_F(SqliteStore, ReadOnlyReadsButDoesNotWrite) {
  sqlite_store::open(dir())->commit(full_commit());
  auto s = sqlite_store::open_read_only(dir());
  EXPECT_EQ(s->outbox().size(), 2u);
  EXPECT_EQ(s->checkpoint("slow-start"), 1700000060);
  EXPECT_THROW(s->delivered("msg_a"), store_error);
  EXPECT_THROW(s->commit(full_commit()), store_error);
  s.reset();
  EXPECT_EQ(sqlite_store::open(dir())->outbox().size(), 2u);
}

TEST_F(SqliteStore, ExclusiveOpenReadsEverythingAndLeavesTheFileAsItWas) {
  {
    auto s = sqlite_store::open(dir());
    s->commit(full_commit());
    s->attempt_failed("msg_b", 4, "HTTP 503");
    s->dead("msg_a", "HTTP 400", 1700000100);
  }
  const std::string before = raw_db(db_file_).value("SELECT group_concat(id) FROM outbox");
  {
    auto s = sqlite_store::open_exclusive(db_file_.string());
    EXPECT_EQ(s->path(), db_file_.string());
    const snapshot all = s->everything();
    EXPECT_EQ(all.checkpoints, (std::map<std::string, std::int64_t>{{"slow-start", 1700000060}}));
    EXPECT_EQ(all.notified, full_commit().notified);
    ASSERT_EQ(all.outbox.size(), 1u);
    EXPECT_EQ(all.outbox[0].attempts, 4);
    EXPECT_EQ(all.outbox[0].last_error, "HTTP 503");
    EXPECT_EQ(all.dead_letters.size(), 1u);
    EXPECT_THROW(s->delivered("msg_b"), store_error);  // reads only
  }
  EXPECT_EQ(raw_db(db_file_).value("SELECT group_concat(id) FROM outbox"), before);
  EXPECT_EQ(sqlite_store::open(dir())->outbox().size(), 1u);
}

TEST_F(SqliteStore, ExclusiveOpenIsRefusedWhileAnotherConnectionHasTheFile) {
  auto daemon = sqlite_store::open(dir());
  daemon->commit(full_commit());
  expect_error([&] { sqlite_store::open_exclusive(db_file_.string()); },
               "open in another process (stop qoewatchd first");
  daemon->delivered("msg_a");  // the daemon was not disturbed
  daemon.reset();
  // Once taken, the file is this process's alone: a daemon starting meanwhile is refused.
  auto held = sqlite_store::open_exclusive(db_file_.string());
  EXPECT_THROW(sqlite_store::open(dir()), store_error);
  EXPECT_EQ(held->outbox().size(), 1u);
  held.reset();
  EXPECT_EQ(sqlite_store::open(dir())->outbox().size(), 1u);
}

TEST_F(SqliteStore, ExclusiveOpenReadsAnOlderSchemaWithoutUpgradingTheFile) {
  foreign(R"sql(
PRAGMA application_id = 1903125879;
CREATE TABLE checkpoints(rule TEXT PRIMARY KEY, window_end INTEGER NOT NULL);
CREATE TABLE notified(rule TEXT NOT NULL, sessionid TEXT NOT NULL, expires_at INTEGER NOT NULL,
  PRIMARY KEY(rule, sessionid)) WITHOUT ROWID;
CREATE INDEX notified_expires_at ON notified(expires_at);
CREATE TABLE incidents(rule TEXT PRIMARY KEY, key TEXT NOT NULL, started_at REAL NOT NULL,
  polls_below INTEGER NOT NULL);
CREATE TABLE outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL,
  sink TEXT NOT NULL, rule TEXT NOT NULL, body BLOB NOT NULL, created_at REAL NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '');
CREATE TABLE dead_letters(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL,
  sink TEXT NOT NULL, rule TEXT NOT NULL, body BLOB NOT NULL, created_at REAL NOT NULL,
  dead_at REAL NOT NULL, attempts INTEGER NOT NULL, reason TEXT NOT NULL);
INSERT INTO checkpoints VALUES('slow-start', 1700000060);
INSERT INTO notified VALUES('slow-start', 's1', 1700000900);
INSERT INTO outbox(id, sink, rule, body, created_at) VALUES('msg_a', 'pager', 'slow-start',
  '{"a":1}', 1700000000.25);
PRAGMA user_version = 1;
)sql");
  {
    auto s = sqlite_store::open_exclusive(db_file_.string());
    const snapshot all = s->everything();
    EXPECT_EQ(all.checkpoints, (std::map<std::string, std::int64_t>{{"slow-start", 1700000060}}));
    EXPECT_EQ(all.notified, (std::vector<notified_row>{{"slow-start", "s1", 1700000900}}));
    ASSERT_EQ(all.outbox.size(), 1u);
    EXPECT_EQ(all.outbox[0].sink_type, "");
    EXPECT_TRUE(all.group_incidents.empty());
  }
  EXPECT_EQ(raw_db(db_file_).value("PRAGMA user_version"), "1");
  EXPECT_EQ(raw_db(db_file_).value("SELECT expires_at FROM notified"), "1700000900");
}

TEST_F(SqliteStore, ExclusiveOpenNeedsAQoewatchDatabaseFile) {
  expect_error([&] { sqlite_store::open_exclusive(db_file_.string()); },
               "no state database (not a file)");
  fs::create_directories(dir_);
  std::ofstream(db_file_).close();
  expect_error([&] { sqlite_store::open_exclusive(db_file_.string()); },
               "not a qoewatch state database");
  fs::remove(db_file_);
  foreign("CREATE TABLE customers(name TEXT)");
  expect_error([&] { sqlite_store::open_exclusive(db_file_.string()); },
               "not a qoewatch state database");
}

TEST_F(SqliteStore, AStateDirThatIsAFileIsReportedWithItsPath) {
  fs::create_directories(dir_);
  fs::path file = dir_ / "state";
  std::ofstream(file) << "not a directory";
  db_file_ = file / "qoewatch.db";
  try {
    sqlite_store::open(file.string());
    ADD_FAILURE() << "no store_error";
  } catch (const store_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot create the state directory " + file.string()),
              std::string::npos)
        << e.what();
    EXPECT_TRUE(std::string(e.what()).starts_with(db_file_.string() + ": ")) << e.what();
  }
}

