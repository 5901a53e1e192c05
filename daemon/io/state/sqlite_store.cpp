#include "state/sqlite_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <filesystem>
#include <string_view>
#include <system_error>
#include <utility>

#include "state/row_text.hpp"

namespace qoewatch::state {

namespace {

// PRAGMA application_id of every qoewatch state database: 'qoew'.
constexpr std::int32_t application_id = 0x716F6577;

// One schema migration: the SQL that takes a database from version `to - 1` to `to`. Steps run
// in order inside one transaction; to add v2, append {2, "ALTER TABLE ..."}: never edit a
// released step.
struct migration {
  int to;
  const char* sql;
};

constexpr std::array migrations{
    migration{1, R"sql(
CREATE TABLE checkpoints(
  rule TEXT PRIMARY KEY,
  window_end INTEGER NOT NULL
);
CREATE TABLE notified(
  rule TEXT NOT NULL,
  sessionid TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY(rule, sessionid)
) WITHOUT ROWID;
CREATE INDEX notified_expires_at ON notified(expires_at);
CREATE TABLE incidents(
  rule TEXT PRIMARY KEY,
  key TEXT NOT NULL,
  started_at REAL NOT NULL,
  polls_below INTEGER NOT NULL
);
CREATE TABLE outbox(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT UNIQUE NOT NULL,
  sink TEXT NOT NULL,
  rule TEXT NOT NULL,
  body BLOB NOT NULL,
  created_at REAL NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT ''
);
CREATE TABLE dead_letters(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL,
  sink TEXT NOT NULL,
  rule TEXT NOT NULL,
  body BLOB NOT NULL,
  created_at REAL NOT NULL,
  dead_at REAL NOT NULL,
  attempts INTEGER NOT NULL,
  reason TEXT NOT NULL
);
)sql"},
    // Notified pairs keep when their session ended, so that what may be forgotten follows the
    // rule's current settings; v1's expiries stand in for it (later than the real end, so
    // those pairs are kept longer, never forgotten early). Outbox rows keep the sink type
    // they were written for; incidents the sinks that were told they fire.
    migration{2, R"sql(
ALTER TABLE notified RENAME COLUMN expires_at TO ended_at;
DROP INDEX notified_expires_at;
CREATE INDEX notified_ended_at ON notified(ended_at);
ALTER TABLE outbox ADD COLUMN sink_type TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN sinks TEXT NOT NULL DEFAULT '';
)sql"},
    // Population rules: one incident per firing group, the group written as a JSON array of
    // [dimension, value] pairs.
    migration{3, R"sql(
CREATE TABLE group_incidents(
  rule TEXT NOT NULL,
  grp TEXT NOT NULL,
  key TEXT NOT NULL,
  started_at REAL NOT NULL,
  polls_below INTEGER NOT NULL,
  sinks TEXT NOT NULL,
  PRIMARY KEY(rule, grp)
);
)sql"},
};

constexpr int current_version = migrations.back().to;

// quick_check's report (rows of possibly multi-line text, headed "*** in database main ***")
// as one log line: the first problem and how many more there are.
std::string one_line(const std::vector<std::string>& rows) {
  std::vector<std::string> problems;
  for (const std::string& row : rows) {
    std::size_t from = 0;
    while (from <= row.size()) {
      std::size_t to = std::min(row.find('\n', from), row.size());
      std::string line = row.substr(from, to - from);
      if (!line.empty() && !line.starts_with("***")) problems.push_back(std::move(line));
      from = to + 1;
    }
  }
  if (problems.empty()) return "failed";
  std::string out = problems.front();
  if (problems.size() > 1) out += " (and " + std::to_string(problems.size() - 1) + " more)";
  return out;
}

std::string db_path(const std::string& dir) {
  return (std::filesystem::path(dir) / "qoewatch.db").string();
}

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

}  // namespace

struct sqlite_store::impl {
  std::string path;
  db_handle db;

  // Hot-path statements, prepared on first use and kept for the life of the connection.
  std::unique_ptr<statement> begin, commit_tx;
  std::unique_ptr<statement> put_checkpoint, put_notified, put_outbox, put_incident, del_incident,
      put_group, del_groups;
  std::unique_ptr<statement> del_outbox, upd_attempt, ins_dead, del_notified_rule;

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

  statement& cached(std::unique_ptr<statement>& slot, std::string_view sql) {
    if (!slot) slot = std::make_unique<statement>(db.get(), path, sql, true);
    return slot->reset();
  }

  // One poll_commit's statements, inside the caller's transaction.
  void write(const poll_commit& c, commit_result& result);

  // A single-value PRAGMA or query, as text ("" when it returns no row).
  std::string query_text(std::string_view sql) {
    statement s(db.get(), path, sql);
    return s.step() ? s.text(0) : std::string();
  }

  // What the file says about itself. As the first access to the file (with the integrity
  // check), a file that is not SQLite or is damaged fails here rather than in a poll.
  identity probe(bool integrity_check) {
    const std::string unusable = path + ": not a usable SQLite database: ";
    // Raw calls rather than `statement`: every failure here gets the same "not usable" text.
    auto values = [&](const char* sql) {
      sqlite3_stmt* raw = nullptr;
      if (sqlite3_prepare_v2(db.get(), sql, -1, &raw, nullptr) != SQLITE_OK) {
        std::string msg = unusable + sqlite3_errmsg(db.get());
        sqlite3_finalize(raw);
        throw store_error(msg);
      }
      std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> st(raw, sqlite3_finalize);
      std::vector<std::string> out;
      int rc;
      while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(raw, 0));
        out.emplace_back(text ? text : "");
      }
      if (rc != SQLITE_DONE) {
        // quick_check can report problems and then fail itself: keep what it found first.
        if (out.empty()) throw store_error(unusable + sqlite3_errmsg(db.get()));
        out.emplace_back(sqlite3_errmsg(db.get()));
      }
      if (out.empty()) throw store_error(unusable + "no result from " + sql);
      return out;
    };
    auto first_value = [&](const char* sql) { return values(sql).front(); };
    identity id;
    id.has_schema = first_value("SELECT count(*) FROM sqlite_schema") != "0";
    if (integrity_check) {
      if (std::vector<std::string> problems = values("PRAGMA quick_check");
          problems.front() != "ok") {
        throw store_error(unusable + "quick_check: " + one_line(problems));
      }
    }
    id.app_id = std::stoi(first_value("PRAGMA application_id"));
    id.version = std::stoi(first_value("PRAGMA user_version"));
    return id;
  }

  void validate(const identity& id) const {
    bool ours = id.app_id == application_id || (id.app_id == 0 && !id.has_schema);
    if (!ours) throw store_error(path + ": not a qoewatch state database");
    if (id.version > current_version) {
      throw store_error(path + ": written by a newer qoewatch (schema v" +
                        std::to_string(id.version) + ", this build reads up to v" +
                        std::to_string(current_version) + ")");
    }
  }

  void configure(bool writable) {
    if (sqlite3_busy_timeout(db.get(), 5000) != SQLITE_OK) fail("cannot set busy_timeout");
    exec("PRAGMA foreign_keys=ON", "cannot enable foreign keys");
    if (!writable) return;
    // WAL is a property of the file: it survives reopening, but a file system without shared
    // memory support refuses it and keeps the old mode; we want to know.
    std::string mode = query_text("PRAGMA journal_mode=WAL");
    if (mode != "wal") {
      throw store_error(path + ": cannot switch to WAL journal mode (still \"" + mode + "\")");
    }
    exec("PRAGMA synchronous=FULL", "cannot set synchronous=FULL");
  }

  // Takes the schema from `from` to the current version, inside the caller's transaction.
  void upgrade(int from) {
    if (from >= current_version) return;
    for (const migration& m : migrations) {
      if (m.to <= from) continue;
      exec(m.sql, ("cannot migrate to schema v" + std::to_string(m.to)).c_str());
    }
    exec(("PRAGMA application_id=" + std::to_string(application_id)).c_str(),
         "cannot set application_id");
    exec(("PRAGMA user_version=" + std::to_string(current_version)).c_str(),
         "cannot set user_version");
  }

  // Creates or upgrades the schema in one transaction. The identity is read again under the
  // write lock: another process may have created the database since the probe.
  void migrate() {
    exec("BEGIN IMMEDIATE", "cannot begin the migration");
    try {
      identity id = probe(false);
      validate(id);
      upgrade(id.version);
      exec("COMMIT", "cannot commit the migration");
    } catch (...) {
      sqlite3_exec(db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }

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

namespace {

db_handle open_handle(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  db_handle db(raw);
  if (rc != SQLITE_OK) {
    throw store_error(path + ": cannot open: " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_extended_result_codes(raw, 1);
  return db;
}

}  // namespace

sqlite_store::sqlite_store(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
sqlite_store::~sqlite_store() = default;

std::unique_ptr<sqlite_store> sqlite_store::open(const std::string& dir) {
  auto p = std::make_unique<impl>();
  p->path = db_path(dir);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    throw store_error(p->path + ": cannot create the state directory " + dir + ": " + ec.message());
  }
  p->db = open_handle(p->path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  p->validate(p->probe(true));
  p->configure(true);
  p->migrate();
  return std::unique_ptr<sqlite_store>(new sqlite_store(std::move(p)));
}

std::unique_ptr<sqlite_store> sqlite_store::open_read_only(const std::string& dir) {
  auto p = std::make_unique<impl>();
  p->path = db_path(dir);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(p->path, ec)) {
    throw store_error(p->path + ": no state database (has qoewatchd run with this state_dir?)");
  }
  p->db = open_handle(p->path, SQLITE_OPEN_READONLY);
  identity id = p->probe(true);
  p->validate(id);
  // An empty file has no tables to read; older versions are fine, they only lack columns.
  if (id.version < 1) throw store_error(p->path + ": not a qoewatch state database");
  p->configure(false);
  return std::unique_ptr<sqlite_store>(new sqlite_store(std::move(p)));
}

std::unique_ptr<sqlite_store> sqlite_store::open_exclusive(const std::string& file) {
  auto p = std::make_unique<impl>();
  p->path = file;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(p->path, ec)) {
    throw store_error(p->path + ": no state database (not a file)");
  }
  p->db = open_handle(p->path, SQLITE_OPEN_READWRITE);
  // Another process's connection holds a shared lock on the file as long as it is open (WAL
  // mode): EXCLUSIVE locking mode cannot take the file then, and once taken keeps it until we
  // close, so no qoewatchd starts on it meanwhile. Waiting longer would not help: a running
  // daemon never lets go.
  if (sqlite3_busy_timeout(p->db.get(), 1000) != SQLITE_OK) p->fail("cannot set busy_timeout");
  p->exec("PRAGMA locking_mode=EXCLUSIVE", "cannot lock the database");
  const int rc = sqlite3_exec(p->db.get(), "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
  if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
    throw store_error(p->path +
                      ": open in another process (stop qoewatchd first: only a stopped node's "
                      "state can be copied, or what it writes meanwhile would be lost)");
  }
  if (rc != SQLITE_OK) p->fail("cannot lock the database");
  p->held = true;
  identity id = p->probe(true);
  p->validate(id);
  // An empty file has no tables to read.
  if (id.version < 1) throw store_error(p->path + ": not a qoewatch state database");
  p->upgrade(id.version);
  // The copy only reads: a write by mistake fails instead of waiting for the rollback.
  p->exec("PRAGMA query_only=ON", "cannot make the connection read-only");
  return std::unique_ptr<sqlite_store>(new sqlite_store(std::move(p)));
}

const std::string& sqlite_store::path() const {
  return impl_->path;
}

int sqlite_store::schema_version() {
  return current_version;
}

std::optional<std::int64_t> sqlite_store::checkpoint(const std::string& rule) const {
  statement s(impl_->db.get(), impl_->path, "SELECT window_end FROM checkpoints WHERE rule = ?");
  s.bind(1, rule);
  if (!s.step()) return std::nullopt;
  return s.int64(0);
}

std::map<std::string, std::int64_t> sqlite_store::checkpoints() const {
  statement s(impl_->db.get(), impl_->path,
              "SELECT rule, window_end FROM checkpoints ORDER BY rule");
  std::map<std::string, std::int64_t> out;
  while (s.step()) out.emplace(s.text(0), s.int64(1));
  return out;
}

std::vector<notified_row> sqlite_store::notified() const {
  statement s(impl_->db.get(), impl_->path,
              "SELECT rule, sessionid, ended_at FROM notified ORDER BY rule, sessionid");
  std::vector<notified_row> out;
  while (s.step()) out.push_back({s.text(0), s.text(1), s.int64(2)});
  return out;
}

std::vector<notified_row> sqlite_store::notified(const std::string& rule) const {
  statement s(impl_->db.get(), impl_->path,
              "SELECT rule, sessionid, ended_at FROM notified WHERE rule = ?1 ORDER BY sessionid");
  s.bind(1, rule);
  std::vector<notified_row> out;
  while (s.step()) out.push_back({s.text(0), s.text(1), s.int64(2)});
  return out;
}

std::vector<incident_row> sqlite_store::incidents() const {
  statement s(impl_->db.get(), impl_->path,
              "SELECT rule, key, started_at, polls_below, sinks FROM incidents ORDER BY rule");
  std::vector<incident_row> out;
  while (s.step())
    out.push_back({s.text(0), s.text(1), s.real(2), s.int32(3), sinks_of(s.text(4)), {}});
  return out;
}

std::vector<incident_row> sqlite_store::group_incidents() const {
  statement s(impl_->db.get(), impl_->path,
              "SELECT rule, grp, key, started_at, polls_below, sinks FROM group_incidents "
              "ORDER BY rule, grp");
  std::vector<incident_row> out;
  while (s.step())
    out.push_back({s.text(0), s.text(2), s.real(3), s.int32(4), sinks_of(s.text(5)),
                   group_of(s.text(1))});
  return out;
}

std::vector<outbox_row> sqlite_store::outbox() const {
  statement s(impl_->db.get(), impl_->path,
              "SELECT id, sink, rule, body, created_at, attempts, last_error, sink_type "
              "FROM outbox ORDER BY seq");
  std::vector<outbox_row> out;
  while (s.step()) {
    out.push_back(
        {s.text(0), s.text(1), s.text(2), s.blob(3), s.real(4), s.int32(5), s.text(6), s.text(7)});
  }
  return out;
}

std::vector<dead_letter> sqlite_store::dead_letters() const {
  statement s(impl_->db.get(), impl_->path,
              "SELECT id, sink, rule, body, created_at, dead_at, attempts, reason "
              "FROM dead_letters ORDER BY seq");
  std::vector<dead_letter> out;
  while (s.step()) {
    out.push_back(
        {s.text(0), s.text(1), s.text(2), s.blob(3), s.real(4), s.real(5), s.int32(6), s.text(7)});
  }
  return out;
}

commit_result sqlite_store::commit(std::span<const poll_commit> batch) {
  impl& d = *impl_;
  commit_result result;
  impl::transaction tx(d);
  for (const poll_commit& c : batch) d.write(c, result);
  tx.commit();
  return result;
}

void sqlite_store::impl::write(const poll_commit& c, commit_result& result) {
  impl& d = *this;
  if (c.checkpoint) {
    d.cached(d.put_checkpoint,
             "INSERT INTO checkpoints(rule, window_end) VALUES(?1, ?2) "
             "ON CONFLICT(rule) DO UPDATE SET window_end = excluded.window_end")
        .bind(1, c.rule)
        .bind(2, *c.checkpoint)
        .run();
  }
  for (const notified_row& n : c.notified) {
    d.cached(d.put_notified,
             "INSERT OR IGNORE INTO notified(rule, sessionid, ended_at) VALUES(?1, ?2, ?3)")
        .bind(1, n.rule)
        .bind(2, n.sessionid)
        .bind(3, n.ended_at)
        .run();
  }
  for (const outbox_row& o : c.outbox) {
    d.cached(d.put_outbox,
             "INSERT INTO outbox(id, sink, rule, body, created_at, attempts, last_error, "
             "sink_type) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(id) DO NOTHING")
        .bind(1, o.id)
        .bind(2, o.sink)
        .bind(3, o.rule)
        .bind_blob(4, o.body)
        .bind(5, o.created_at)
        .bind(6, o.attempts)
        .bind(7, o.last_error)
        .bind(8, o.sink_type)
        .run();
    if (sqlite3_changes(d.db.get()) == 0) result.duplicate_ids.push_back(o.id);
  }
  if (c.incident) {
    // Stored under the commit's rule: it is "the rule's incident" whatever the row says.
    d.cached(d.put_incident,
             "INSERT INTO incidents(rule, key, started_at, polls_below, sinks) "
             "VALUES(?1, ?2, ?3, ?4, ?5) "
             "ON CONFLICT(rule) DO UPDATE SET key = excluded.key, "
             "started_at = excluded.started_at, polls_below = excluded.polls_below, "
             "sinks = excluded.sinks")
        .bind(1, c.rule)
        .bind(2, c.incident->key)
        .bind(3, c.incident->started_at)
        .bind(4, c.incident->polls_below)
        .bind(5, sinks_text(c.incident->sinks))
        .run();
  } else if (c.clear_incident) {
    d.cached(d.del_incident, "DELETE FROM incidents WHERE rule = ?1").bind(1, c.rule).run();
  }
  if (c.groups) {
    d.cached(d.del_groups, "DELETE FROM group_incidents WHERE rule = ?1").bind(1, c.rule).run();
    for (const incident_row& g : *c.groups)
      d.cached(d.put_group,
               "INSERT OR REPLACE INTO group_incidents(rule, grp, key, started_at, polls_below, "
               "sinks) VALUES(?1, ?2, ?3, ?4, ?5, ?6)")
          .bind(1, c.rule)
          .bind(2, group_text(g.group))
          .bind(3, g.key)
          .bind(4, g.started_at)
          .bind(5, g.polls_below)
          .bind(6, sinks_text(g.sinks))
          .run();
  }
}

void sqlite_store::delivered(const std::string& id) {
  impl_->cached(impl_->del_outbox, "DELETE FROM outbox WHERE id = ?1").bind(1, id).run();
}

void sqlite_store::attempt_failed(const std::string& id, int attempts, const std::string& error) {
  impl_
      ->cached(impl_->upd_attempt, "UPDATE outbox SET attempts = ?2, last_error = ?3 WHERE id = ?1")
      .bind(1, id)
      .bind(2, attempts)
      .bind(3, error)
      .run();
}

void sqlite_store::dead(const std::string& id, const std::string& reason, double now) {
  impl& d = *impl_;
  impl::transaction tx(d);
  d.cached(d.ins_dead,
           "INSERT INTO dead_letters(id, sink, rule, body, created_at, dead_at, attempts, reason) "
           "SELECT id, sink, rule, body, created_at, ?2, attempts, ?3 FROM outbox WHERE id = ?1")
      .bind(1, id)
      .bind(2, now)
      .bind(3, reason)
      .run();
  d.cached(d.del_outbox, "DELETE FROM outbox WHERE id = ?1").bind(1, id).run();
  tx.commit();
}

void sqlite_store::forget_notified(const std::map<std::string, std::int64_t>& per_rule,
                            std::optional<std::int64_t> all_before) {
  impl& d = *impl_;
  impl::transaction tx(d);
  for (const auto& [rule, before] : per_rule)
    d.cached(d.del_notified_rule, "DELETE FROM notified WHERE rule = ?1 AND ended_at < ?2")
        .bind(1, rule)
        .bind(2, before)
        .run();
  if (all_before)
    statement(d.db.get(), d.path, "DELETE FROM notified WHERE ended_at < ?1")
        .bind(1, *all_before)
        .run();
  tx.commit();
}

}  // namespace qoewatch::state
