// sqlite_store's opening, reads and writes; the schema is in sqlite_schema.cpp.
#include "state/sqlite_store.hpp"

#include <sqlite3.h>

#include <filesystem>
#include <string_view>
#include <system_error>
#include <utility>

#include "state/row_text.hpp"
#include "state/sqlite_store_impl.hpp"

namespace qoewatch::state {

namespace {

using sqlite::db_handle;
using sqlite::identity;
using sqlite::statement;

std::string db_path(const std::string& dir) {
  return (std::filesystem::path(dir) / "qoewatch.db").string();
}

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

void sqlite_store::impl::configure(bool writable) {
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
