// sqlite_store's schema and its migrations, and what a file must be for us to open it.
#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "state/sqlite_store_impl.hpp"

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
    // The silences of the Alertmanager API (silence/silence.hpp): times in milliseconds since
    // the epoch, the matchers as the API writes them (a JSON array), checked again when read.
    migration{4, R"sql(
CREATE TABLE silences(
  id TEXT PRIMARY KEY,
  matchers TEXT NOT NULL,
  starts_at INTEGER NOT NULL,
  ends_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  comment TEXT NOT NULL
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

}  // namespace

int sqlite_store::schema_version() {
  return current_version;
}

sqlite::identity sqlite_store::impl::probe(bool integrity_check) {
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
  sqlite::identity id;
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

void sqlite_store::impl::validate(const sqlite::identity& id) const {
  bool ours = id.app_id == application_id || (id.app_id == 0 && !id.has_schema);
  if (!ours) throw store_error(path + ": not a qoewatch state database");
  if (id.version > current_version) {
    throw store_error(path + ": written by a newer qoewatch (schema v" +
                      std::to_string(id.version) + ", this build reads up to v" +
                      std::to_string(current_version) + ")");
  }
}

void sqlite_store::impl::upgrade(int from) {
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

void sqlite_store::impl::migrate() {
  exec("BEGIN IMMEDIATE", "cannot begin the migration");
  try {
    sqlite::identity id = probe(false);
    validate(id);
    upgrade(id.version);
    exec("COMMIT", "cannot commit the migration");
  } catch (...) {
    sqlite3_exec(db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

}  // namespace qoewatch::state
