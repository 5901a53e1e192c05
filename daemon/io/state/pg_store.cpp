// pg_store's reads and writes; the lease round is in pg_leases.cpp, the schema in
// pg_schema.cpp. A commit is a handful of statements whatever its size: each table's rows go
// as arrays (unnest), so a batch costs the same few round trips across a network.
#include <algorithm>
#include <set>
#include <string_view>
#include <utility>

#include "state/pg_store_impl.hpp"
#include "state/row_text.hpp"
#include "text/join.hpp"
#include "text/utf8.hpp"

namespace qoewatch::state {

namespace {

using pg::params;
using pg::storable_text;

// What the accepted commits of a batch write, table by table, with the batch's order kept
// where it decides: a later checkpoint, incident or group list of a rule replaces an earlier
// one; the first notified pair and the first outbox row of an id win.
struct batch_rows {
  std::map<std::string, std::int64_t> checkpoints;
  std::vector<std::string> n_rule, n_session;
  std::vector<std::int64_t> n_ended;
  std::vector<std::string> o_id, o_sink, o_rule, o_body, o_error, o_type;
  std::vector<double> o_created;
  std::vector<int> o_attempts;
  std::map<std::string, std::optional<incident_row>> incidents;  // nullopt: cleared
  std::map<std::string, std::vector<incident_row>> groups;       // the rule's whole list

  void add(const poll_commit& c) {
    if (c.checkpoint) checkpoints[c.rule] = *c.checkpoint;
    for (const notified_row& n : c.notified) {
      n_rule.push_back(n.rule);
      n_session.push_back(storable_text(n.sessionid));
      n_ended.push_back(n.ended_at);
    }
    for (const outbox_row& o : c.outbox) {
      o_id.push_back(o.id);
      o_sink.push_back(o.sink);
      o_rule.push_back(o.rule);
      o_body.push_back(o.body);
      o_created.push_back(o.created_at);
      o_attempts.push_back(o.attempts);
      o_error.push_back(storable_text(o.last_error));
      o_type.push_back(o.sink_type);
    }
    if (c.incident) {
      incidents[c.rule] = *c.incident;  // the commit's rule: "the rule's incident"
    } else if (c.clear_incident) {
      incidents[c.rule] = std::nullopt;
    }
    if (c.groups) {
      // Two groups alike in a list: the later one, as INSERT OR REPLACE leaves it in SQLite.
      std::vector<incident_row>& list = groups[c.rule];
      list.clear();
      std::set<std::string> seen;
      for (auto g = c.groups->rbegin(); g != c.groups->rend(); ++g) {
        if (seen.insert(group_text(g->group)).second) list.push_back(*g);
      }
      std::reverse(list.begin(), list.end());
    }
  }
};

void write(pg::connection& c, const batch_rows& b, commit_result& out) {
  constexpr std::string_view what = "cannot commit";
  if (!b.checkpoints.empty()) {
    std::vector<std::string> rules;
    std::vector<std::int64_t> ends;
    for (const auto& [rule, end] : b.checkpoints) {
      rules.push_back(rule);
      ends.push_back(end);
    }
    c.exec(
        "INSERT INTO checkpoints(rule, window_end) SELECT * FROM unnest($1::text[], $2::bigint[]) "
        "ON CONFLICT (rule) DO UPDATE SET window_end = excluded.window_end",
        params().text_array(rules).int64_array(ends), what);
  }
  if (!b.n_rule.empty()) {
    c.exec(
        "INSERT INTO notified(rule, sessionid, ended_at) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) ON CONFLICT DO NOTHING",
        params().text_array(b.n_rule).text_array(b.n_session).int64_array(b.n_ended), what);
  }
  if (!b.o_id.empty()) {
    // In the batch's order (seq follows it); RETURNING names the rows written, so the others
    // are the duplicates, each occurrence after the written one (or all, if none was).
    const pg::result written = c.exec(
        "INSERT INTO outbox(id, sink, rule, body, created_at, attempts, last_error, sink_type) "
        "SELECT id, sink, rule, body, created_at, attempts, last_error, sink_type "
        "FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::float8[], "
        "$6::int4[], $7::text[], $8::text[]) WITH ORDINALITY "
        "AS r(id, sink, rule, body, created_at, attempts, last_error, sink_type, ord) "
        "ORDER BY ord ON CONFLICT (id) DO NOTHING RETURNING id",
        params()
            .text_array(b.o_id)
            .text_array(b.o_sink)
            .text_array(b.o_rule)
            .bytes_array(b.o_body)
            .real_array(b.o_created)
            .int32_array(b.o_attempts)
            .text_array(b.o_error)
            .text_array(b.o_type),
        what);
    std::multiset<std::string> fresh;
    for (int i = 0; i < written.rows(); ++i) fresh.insert(written.text(i, 0));
    for (const std::string& id : b.o_id) {
      if (auto it = fresh.find(id); it != fresh.end()) {
        fresh.erase(it);
      } else {
        out.duplicate_ids.push_back(id);
      }
    }
  }
  std::vector<std::string> cleared;
  std::vector<std::string> i_rule, i_key, i_sinks;
  std::vector<double> i_started;
  std::vector<int> i_below;
  for (const auto& [rule, row] : b.incidents) {
    if (!row) {
      cleared.push_back(rule);
      continue;
    }
    i_rule.push_back(rule);
    i_key.push_back(storable_text(row->key));
    i_started.push_back(row->started_at);
    i_below.push_back(row->polls_below);
    i_sinks.push_back(sinks_text(row->sinks));
  }
  if (!cleared.empty()) {
    c.exec("DELETE FROM incidents WHERE rule = ANY($1)", params().text_array(cleared), what);
  }
  if (!i_rule.empty()) {
    c.exec(
        "INSERT INTO incidents(rule, key, started_at, polls_below, sinks) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::int4[], $5::text[]) "
        "ON CONFLICT (rule) DO UPDATE SET key = excluded.key, started_at = excluded.started_at, "
        "polls_below = excluded.polls_below, sinks = excluded.sinks",
        params()
            .text_array(i_rule)
            .text_array(i_key)
            .real_array(i_started)
            .int32_array(i_below)
            .text_array(i_sinks),
        what);
  }
  if (!b.groups.empty()) {
    std::vector<std::string> rules;
    std::vector<std::string> g_rule, g_grp, g_key, g_sinks;
    std::vector<double> g_started;
    std::vector<int> g_below;
    for (const auto& [rule, list] : b.groups) {
      rules.push_back(rule);
      for (const incident_row& g : list) {
        g_rule.push_back(rule);
        g_grp.push_back(storable_text(group_text(g.group)));
        g_key.push_back(storable_text(g.key));
        g_started.push_back(g.started_at);
        g_below.push_back(g.polls_below);
        g_sinks.push_back(sinks_text(g.sinks));
      }
    }
    c.exec("DELETE FROM group_incidents WHERE rule = ANY($1)", params().text_array(rules), what);
    if (!g_rule.empty()) {
      c.exec(
          "INSERT INTO group_incidents(rule, grp, key, started_at, polls_below, sinks) "
          "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::int4[], "
          "$6::text[])",
          params()
              .text_array(g_rule)
              .text_array(g_grp)
              .text_array(g_key)
              .real_array(g_started)
              .int32_array(g_below)
              .text_array(g_sinks),
          what);
    }
  }
}

// Which commits of the batch may be written: unfenced ones, and fenced ones whose rule's
// lease this replica holds at their epoch, now. The lease rows are share-locked until the
// transaction ends (in name order, as a lease round locks them), so a takeover waits for this
// commit instead of slipping in between the check and the writes.
std::vector<bool> fence(pg::connection& c, const std::string& owner,
                        std::span<const poll_commit> batch, commit_result& out) {
  std::set<std::string> rules;
  for (const poll_commit& p : batch) {
    if (p.epoch > 0) rules.insert(p.rule);
  }
  std::map<std::string, std::int64_t> held;
  if (!rules.empty()) {
    const std::vector<std::string> names(rules.begin(), rules.end());
    const pg::result r = c.exec(
        "SELECT name, epoch FROM leases WHERE kind = 'rule' AND owner = $1 AND "
        "name = ANY($2) AND expires_at > " +
            std::string(pg::now_ms) + " ORDER BY name FOR SHARE",
        params().text(owner).text_array(names), "cannot commit: cannot check the leases");
    for (int i = 0; i < r.rows(); ++i) held[r.text(i, 0)] = r.int64(i, 1);
  }
  std::vector<bool> accepted;
  for (const poll_commit& p : batch) {
    const auto it = held.find(p.rule);
    const bool ok = p.epoch == 0 || (it != held.end() && it->second == p.epoch);
    accepted.push_back(ok);
    if (!ok && std::find(out.refused_rules.begin(), out.refused_rules.end(), p.rule) ==
                   out.refused_rules.end()) {
      out.refused_rules.push_back(p.rule);
    }
  }
  return accepted;
}

// The tables an import fills, or finds in use: every qoewatch table but qoewatch_meta (which
// says whose schema it is). The leases and replicas tables hold rows once a replica has run.
constexpr std::string_view state_tables[] = {"checkpoints",     "notified", "incidents",
                                             "group_incidents", "outbox",   "dead_letters",
                                             "silences",        "leases",   "replicas"};

// An import writes each table in statements of at most this many rows: a large state (a
// million notified pairs) becomes many short statements, each well within statement_timeout,
// rather than one that is not.
constexpr std::size_t import_rows = 5000;

// Calls `write` with consecutive slices of `rows`, each at most import_rows long.
template <class Row, class Write>
void in_slices(const std::vector<Row>& rows, Write write) {
  const std::span<const Row> all(rows);
  for (std::size_t from = 0; from < all.size(); from += import_rows)
    write(all.subspan(from, std::min(import_rows, all.size() - from)));
}

std::vector<notified_row> notified_rows(const pg::result& r) {
  std::vector<notified_row> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back({r.text(i, 0), r.text(i, 1), r.int64(i, 2)});
  return out;
}

}  // namespace

// Error texts come from receivers, session ids and group values from SmartSight, the text of
// silences from whoever made them, and may hold anything; refused, they would fail the whole
// commit, again and again. A session id so changed is read back changed, so after a takeover
// such a session may be notified once more.
std::string pg::storable_text(std::string_view s) {
  return text::valid_utf8(s, /*replace_nul=*/true);
}

pg_store::pg_store(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
pg_store::~pg_store() = default;

std::unique_ptr<pg_store> pg_store::open(const std::string& url, std::string owner,
                                         std::chrono::milliseconds io_timeout) {
  auto p = std::make_unique<impl>(url, std::move(owner), io_timeout);
  pg::migrate(p->conn);
  return std::unique_ptr<pg_store>(new pg_store(std::move(p)));
}

int pg_store::schema_version() {
  return pg::current_version();
}

const std::string& pg_store::owner() const {
  return impl_->owner;
}

std::string pg_store::describe() const {
  return impl_->conn.describe();
}

std::optional<std::int64_t> pg_store::checkpoint(const std::string& rule) const {
  const pg::result r = impl_->conn.exec("SELECT window_end FROM checkpoints WHERE rule = $1",
                                        params().text(rule), "cannot read a checkpoint");
  if (r.rows() == 0) return std::nullopt;
  return r.int64(0, 0);
}

std::map<std::string, std::int64_t> pg_store::checkpoints() const {
  const pg::result r = impl_->conn.exec("SELECT rule, window_end FROM checkpoints ORDER BY rule",
                                        "cannot read the checkpoints");
  std::map<std::string, std::int64_t> out;
  for (int i = 0; i < r.rows(); ++i) out.emplace(r.text(i, 0), r.int64(i, 1));
  return out;
}

std::vector<notified_row> pg_store::notified() const {
  return notified_rows(
      impl_->conn.exec("SELECT rule, sessionid, ended_at FROM notified ORDER BY rule, sessionid",
                       "cannot read the notified pairs"));
}

std::vector<notified_row> pg_store::notified(const std::string& rule) const {
  return notified_rows(impl_->conn.exec(
      "SELECT rule, sessionid, ended_at FROM notified WHERE rule = $1 ORDER BY sessionid",
      params().text(rule), "cannot read the notified pairs"));
}

std::vector<incident_row> pg_store::incidents() const {
  const pg::result r = impl_->conn.exec(
      "SELECT rule, key, started_at, polls_below, sinks FROM incidents ORDER BY rule",
      "cannot read the incidents");
  std::vector<incident_row> out;
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back(
        {r.text(i, 0), r.text(i, 1), r.real(i, 2), r.int32(i, 3), sinks_of(r.text(i, 4)), {}});
  }
  return out;
}

std::vector<incident_row> pg_store::group_incidents() const {
  const pg::result r = impl_->conn.exec(
      "SELECT rule, grp, key, started_at, polls_below, sinks FROM group_incidents "
      "ORDER BY rule, grp",
      "cannot read the group incidents");
  std::vector<incident_row> out;
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back({r.text(i, 0), r.text(i, 2), r.real(i, 3), r.int32(i, 4), sinks_of(r.text(i, 5)),
                   group_of(r.text(i, 1))});
  }
  return out;
}

outbox_row pg::outbox_row_at(const result& r, int i) {
  return {r.text(i, 0), r.text(i, 1),  r.text(i, 2), r.bytes(i, 3),
          r.real(i, 4), r.int32(i, 5), r.text(i, 6), r.text(i, 7)};
}

std::vector<outbox_row> pg_store::outbox() const {
  const pg::result r =
      impl_->conn.exec("SELECT " + std::string(pg::outbox_columns) + " FROM outbox ORDER BY seq",
                       "cannot read the outbox");
  std::vector<outbox_row> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(pg::outbox_row_at(r, i));
  return out;
}

std::vector<dead_letter> pg_store::dead_letters() const {
  const pg::result r = impl_->conn.exec(
      "SELECT id, sink, rule, body, created_at, dead_at, attempts, reason "
      "FROM dead_letters ORDER BY seq",
      "cannot read the dead letters");
  std::vector<dead_letter> out;
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back({r.text(i, 0), r.text(i, 1), r.text(i, 2), r.bytes(i, 3), r.real(i, 4),
                   r.real(i, 5), r.int32(i, 6), r.text(i, 7)});
  }
  return out;
}

commit_result pg_store::commit(std::span<const poll_commit> batch) {
  commit_result out;
  if (batch.empty()) return out;
  pg::transaction tx(impl_->conn);
  const std::vector<bool> accepted = fence(impl_->conn, impl_->owner, batch, out);
  batch_rows rows;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (accepted[i]) rows.add(batch[i]);
  }
  write(impl_->conn, rows, out);
  tx.commit();
  return out;
}

void pg_store::delivered(const std::string& id) {
  impl_->conn.exec("DELETE FROM outbox WHERE id = $1", params().text(id),
                   "cannot remove a delivered notification");
}

void pg_store::attempt_failed(const std::string& id, int attempts, const std::string& error) {
  impl_->conn.exec("UPDATE outbox SET attempts = $2, last_error = $3 WHERE id = $1",
                   params().text(id).int64(attempts).text(storable_text(error)),
                   "cannot record a failed attempt");
}

void pg_store::dead(const std::string& id, const std::string& reason, double now) {
  // One statement, so one transaction: the row leaves the outbox as it enters the letters.
  impl_->conn.exec(
      "WITH moved AS (DELETE FROM outbox WHERE id = $1 "
      "RETURNING id, sink, rule, body, created_at, attempts) "
      "INSERT INTO dead_letters(id, sink, rule, body, created_at, dead_at, attempts, reason) "
      "SELECT id, sink, rule, body, created_at, $2, attempts, $3 FROM moved",
      params().text(id).real(now).text(storable_text(reason)),
      "cannot move a notification to the dead letters");
}

void pg_store::forget_notified(const std::map<std::string, std::int64_t>& per_rule,
                               std::optional<std::int64_t> all_before) {
  constexpr std::string_view what = "cannot forget notified pairs";
  if (per_rule.empty() && !all_before) return;
  pg::transaction tx(impl_->conn);
  if (!per_rule.empty()) {
    std::vector<std::string> rules;
    std::vector<std::int64_t> bounds;
    for (const auto& [rule, before] : per_rule) {
      rules.push_back(rule);
      bounds.push_back(before);
    }
    impl_->conn.exec(
        "DELETE FROM notified n USING unnest($1::text[], $2::bigint[]) AS f(rule, before) "
        "WHERE n.rule = f.rule AND n.ended_at < f.before",
        params().text_array(rules).int64_array(bounds), what);
  }
  if (all_before) {
    impl_->conn.exec("DELETE FROM notified WHERE ended_at < $1", params().int64(*all_before), what);
  }
  tx.commit();
}

}  // namespace qoewatch::state

namespace qoewatch::state {

void pg_store::import(const snapshot& s) {
  constexpr std::string_view what = "cannot import";
  pg::connection& c = impl_->conn;
  pg::transaction tx(c);
  std::vector<std::string> holding_rows;
  for (std::string_view t : state_tables)
    holding_rows.push_back("SELECT '" + std::string(t) + "' WHERE EXISTS(SELECT 1 FROM " +
                           std::string(t) + ")");
  c.exec("LOCK TABLE " + text::join(state_tables, ", ") + " IN SHARE ROW EXCLUSIVE MODE", what);
  const pg::result in_use = c.exec(text::join(holding_rows, " UNION ALL "), what);
  if (in_use.rows() > 0) {
    std::vector<std::string> names;
    for (int i = 0; i < in_use.rows(); ++i) names.push_back(in_use.text(i, 0));
    throw store_error(c.describe() + ": " + std::string(what) +
                      ": the database holds qoewatch state already (rows in " +
                      text::join(names, ", ") +
                      "); the state is copied only into a database no qoewatchd has used, and "
                      "nothing was written");
  }
  using checkpoint = std::pair<std::string, std::int64_t>;
  const std::vector<checkpoint> checkpoints(s.checkpoints.begin(), s.checkpoints.end());
  in_slices(checkpoints, [&](std::span<const checkpoint> part) {
    std::vector<std::string> rule;
    std::vector<std::int64_t> end;
    for (const checkpoint& p : part) {
      rule.push_back(p.first);
      end.push_back(p.second);
    }
    c.exec(
        "INSERT INTO checkpoints(rule, window_end) "
        "SELECT * FROM unnest($1::text[], $2::bigint[])",
        params().text_array(rule).int64_array(end), what);
  });
  in_slices(s.notified, [&](std::span<const notified_row> part) {
    std::vector<std::string> rule, session;
    std::vector<std::int64_t> ended;
    for (const notified_row& n : part) {
      rule.push_back(n.rule);
      session.push_back(storable_text(n.sessionid));
      ended.push_back(n.ended_at);
    }
    c.exec(
        "INSERT INTO notified(rule, sessionid, ended_at) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])",
        params().text_array(rule).text_array(session).int64_array(ended), what);
  });
  in_slices(s.incidents, [&](std::span<const incident_row> part) {
    std::vector<std::string> rules, keys, sinks;
    std::vector<double> started;
    std::vector<int> below;
    for (const incident_row& i : part) {
      rules.push_back(i.rule);
      keys.push_back(storable_text(i.key));
      started.push_back(i.started_at);
      below.push_back(i.polls_below);
      sinks.push_back(sinks_text(i.sinks));
    }
    c.exec(
        "INSERT INTO incidents(rule, key, started_at, polls_below, sinks) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::int4[], $5::text[])",
        params()
            .text_array(rules)
            .text_array(keys)
            .real_array(started)
            .int32_array(below)
            .text_array(sinks),
        what);
  });
  in_slices(s.group_incidents, [&](std::span<const incident_row> part) {
    std::vector<std::string> rule, grp, key, sinks;
    std::vector<double> started;
    std::vector<int> below;
    for (const incident_row& g : part) {
      rule.push_back(g.rule);
      grp.push_back(storable_text(group_text(g.group)));
      key.push_back(storable_text(g.key));
      started.push_back(g.started_at);
      below.push_back(g.polls_below);
      sinks.push_back(sinks_text(g.sinks));
    }
    c.exec(
        "INSERT INTO group_incidents(rule, grp, key, started_at, polls_below, sinks) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::int4[], "
        "$6::text[])",
        params()
            .text_array(rule)
            .text_array(grp)
            .text_array(key)
            .real_array(started)
            .int32_array(below)
            .text_array(sinks),
        what);
  });
  // In order, so that seq follows it: the outbox is delivered, and the letters listed, in it.
  in_slices(s.outbox, [&](std::span<const outbox_row> part) {
    std::vector<std::string> id, sink, rule, body, error, type;
    std::vector<double> created;
    std::vector<int> attempts;
    for (const outbox_row& o : part) {
      id.push_back(o.id);
      sink.push_back(o.sink);
      rule.push_back(o.rule);
      body.push_back(o.body);
      created.push_back(o.created_at);
      attempts.push_back(o.attempts);
      error.push_back(storable_text(o.last_error));
      type.push_back(o.sink_type);
    }
    c.exec(
        "INSERT INTO outbox(id, sink, rule, body, created_at, attempts, last_error, "
        "sink_type) SELECT id, sink, rule, body, created_at, attempts, last_error, sink_type "
        "FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::float8[], "
        "$6::int4[], $7::text[], $8::text[]) WITH ORDINALITY "
        "AS r(id, sink, rule, body, created_at, attempts, last_error, sink_type, ord) "
        "ORDER BY ord",
        params()
            .text_array(id)
            .text_array(sink)
            .text_array(rule)
            .bytes_array(body)
            .real_array(created)
            .int32_array(attempts)
            .text_array(error)
            .text_array(type),
        what);
  });
  in_slices(s.dead_letters, [&](std::span<const dead_letter> part) {
    std::vector<std::string> id, sink, rule, body, reason;
    std::vector<double> created, dead_at;
    std::vector<int> attempts;
    for (const dead_letter& l : part) {
      id.push_back(l.id);
      sink.push_back(l.sink);
      rule.push_back(l.rule);
      body.push_back(l.body);
      created.push_back(l.created_at);
      dead_at.push_back(l.dead_at);
      attempts.push_back(l.attempts);
      reason.push_back(storable_text(l.reason));
    }
    c.exec(
        "INSERT INTO dead_letters(id, sink, rule, body, created_at, dead_at, attempts, "
        "reason) SELECT id, sink, rule, body, created_at, dead_at, attempts, reason "
        "FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::float8[], "
        "$6::float8[], $7::int4[], $8::text[]) WITH ORDINALITY "
        "AS r(id, sink, rule, body, created_at, dead_at, attempts, reason, ord) "
        "ORDER BY ord",
        params()
            .text_array(id)
            .text_array(sink)
            .text_array(rule)
            .bytes_array(body)
            .real_array(created)
            .real_array(dead_at)
            .int32_array(attempts)
            .text_array(reason),
        what);
  });
  in_slices(s.silences,
            [&](std::span<const silence_row> part) { pg::write_silences(c, part, what); });
  tx.commit();
}

}  // namespace qoewatch::state
