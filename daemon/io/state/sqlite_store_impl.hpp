// What sqlite_store.cpp, sqlite_schema.cpp and sqlite_silences.cpp share (internal to
// qoewatch_state): the connection, its prepared statements and its transactions.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "state/sqlite_store.hpp"

namespace qoewatch::state {

namespace sqlite {

struct db_deleter {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using db_handle = std::unique_ptr<sqlite3, db_deleter>;

// A prepared statement, reset (and its bindings cleared) before every use so a cached one can
// be reused. Text and blobs are bound SQLITE_STATIC: the caller's strings outlive the step.
class statement {
 public:
  // `persistent`: kept for the connection's life (a hint to SQLite's allocator).
  statement(sqlite3* db, const std::string& path, std::string_view sql, bool persistent = false)
      : db_(db), path_(&path) {
    if (sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                           persistent ? SQLITE_PREPARE_PERSISTENT : 0, &stmt_,
                           nullptr) != SQLITE_OK) {
      fail("cannot prepare statement");
    }
  }
  ~statement() { sqlite3_finalize(stmt_); }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;

  statement& reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    return *this;
  }
  statement& bind(int i, const std::string& s) {
    check(sqlite3_bind_text64(stmt_, i, s.data(), s.size(), SQLITE_STATIC, SQLITE_UTF8));
    return *this;
  }
  statement& bind_blob(int i, const std::string& s) {
    // data() is never null, so an empty body is an empty blob, not NULL.
    check(sqlite3_bind_blob64(stmt_, i, s.data(), s.size(), SQLITE_STATIC));
    return *this;
  }
  statement& bind(int i, std::int64_t v) {
    check(sqlite3_bind_int64(stmt_, i, v));
    return *this;
  }
  statement& bind(int i, int v) {
    check(sqlite3_bind_int(stmt_, i, v));
    return *this;
  }
  statement& bind(int i, double v) {
    check(sqlite3_bind_double(stmt_, i, v));
    return *this;
  }

  /// Steps once: true with a row, false when done; throws on an error.
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail("cannot execute statement");
  }
  void run() {
    while (step()) {
    }
    sqlite3_reset(stmt_);
  }

  std::string text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, sqlite3_column_bytes(stmt_, col)) : std::string();
  }
  std::string blob(int col) const {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
    return p ? std::string(p, sqlite3_column_bytes(stmt_, col)) : std::string();
  }
  std::int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  int int32(int col) const { return sqlite3_column_int(stmt_, col); }
  double real(int col) const { return sqlite3_column_double(stmt_, col); }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) fail("cannot bind parameter");
  }
  [[noreturn]] void fail(const char* what) {
    std::string msg = *path_ + ": " + what + ": " + sqlite3_errmsg(db_);
    if (stmt_) sqlite3_reset(stmt_);
    throw store_error(msg);
  }

  sqlite3* db_;
  const std::string* path_;
  sqlite3_stmt* stmt_ = nullptr;
};

// What the database says about itself before we touch it.
struct identity {
  std::int32_t app_id = 0;
  int version = 0;
  bool has_schema = false;  // any table, index, view or trigger
};

}  // namespace sqlite

struct sqlite_store::impl {
  std::string path;
  sqlite::db_handle db;

  // Hot-path statements, prepared on first use and kept for the life of the connection.
  std::unique_ptr<sqlite::statement> begin, commit_tx;
  std::unique_ptr<sqlite::statement> put_checkpoint, put_notified, put_outbox, put_incident,
      del_incident, put_group, del_groups;
  std::unique_ptr<sqlite::statement> del_outbox, upd_attempt, ins_dead, del_notified_rule;

  [[noreturn]] void fail(const std::string& what) const {
    throw store_error(path + ": " + what + ": " + sqlite3_errmsg(db.get()));
  }

  void exec(const char* sql, const char* what) {
    char* err = nullptr;
    if (sqlite3_exec(db.get(), sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = path + ": " + what + ": " + (err ? err : sqlite3_errmsg(db.get()));
      sqlite3_free(err);
      throw store_error(msg);
    }
  }

  sqlite::statement& cached(std::unique_ptr<sqlite::statement>& slot, std::string_view sql) {
    if (!slot) slot = std::make_unique<sqlite::statement>(db.get(), path, sql, true);
    return slot->reset();
  }

  // One poll_commit's statements, inside the caller's transaction.
  void write(const poll_commit& c, commit_result& result);

  // A single-value PRAGMA or query, as text ("" when it returns no row).
  std::string query_text(std::string_view sql) {
    sqlite::statement s(db.get(), path, sql);
    return s.step() ? s.text(0) : std::string();
  }

  // ---- the schema (sqlite_schema.cpp) ----
  // What the file says about itself. As the first access to the file (with the integrity
  // check), a file that is not SQLite or is damaged fails here rather than in a poll.
  sqlite::identity probe(bool integrity_check);
  // Throws store_error for a file that is not ours, or from a newer qoewatch.
  void validate(const sqlite::identity& id) const;
  // Takes the schema from `from` to the current version, inside the caller's transaction.
  void upgrade(int from);
  // Creates or upgrades the schema in one transaction. The identity is read again under the
  // write lock: another process may have created the database since the probe.
  void migrate();

  // busy_timeout and foreign keys; for a writer, WAL mode and synchronous=FULL.
  void configure(bool writable);

  // open_exclusive's transaction, rolled back when the store goes.
  bool held = false;
  ~impl() {
    if (held) sqlite3_exec(db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
  }

  // BEGIN IMMEDIATE … COMMIT, rolled back when destroyed before commit().
  class transaction {
   public:
    explicit transaction(impl& s) : s_(s) { s_.cached(s_.begin, "BEGIN IMMEDIATE").run(); }
    ~transaction() {
      if (open_) sqlite3_exec(s_.db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
    transaction(const transaction&) = delete;
    transaction& operator=(const transaction&) = delete;
    void commit() {
      s_.cached(s_.commit_tx, "COMMIT").run();
      open_ = false;
    }

   private:
    impl& s_;
    bool open_ = true;
  };
};

}  // namespace qoewatch::state
