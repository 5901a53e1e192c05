// pg_store's lease round: the transaction of lease/lease.hpp, steps 1 to 7, with the plan from
// lease::plan_round. Each step is one statement whatever the number of names (arrays through
// unnest), so a round costs the same few round trips with 10 rules or 1000.
#include <algorithm>
#include <limits>
#include <set>
#include <tuple>
#include <utility>

#include "state/pg_store_impl.hpp"

namespace qoewatch::state {

namespace {

using pg::params;

constexpr std::string_view what = "cannot run the lease round";

std::string sql(std::string_view text) {
  // Every "{now}" in `text` becomes the database's clock in ms, read as the statement runs.
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    if (text.substr(i).starts_with("{now}")) {
      out += pg::now_ms;
      i += 5;
    } else {
      out += text[i++];
    }
  }
  return out;
}

struct names {
  std::vector<std::string> kinds, names;
  std::vector<std::int64_t> epochs;
  void add(lease::kind k, const std::string& name, std::int64_t epoch) {
    kinds.emplace_back(lease::to_string(k));
    names.push_back(name);
    epochs.push_back(epoch);
  }
};

lease::round_input read_state(pg::connection& c, const std::string& me, const lease_request& r) {
  lease::round_input in;
  in.me = me;
  in.ttl = r.ttl;
  in.renew = r.renew;
  if (!r.leaving) in.wanted = r.wanted;
  in.now = c.exec(sql("SELECT {now}"), what).int64(0, 0);
  const pg::result leases = c.exec(
      "SELECT kind, name, owner, epoch, expires_at, declined_by, declined_wants FROM leases", what);
  for (int i = 0; i < leases.rows(); ++i) {
    // A kind a newer qoewatchd leases: not ours to plan, nor to touch.
    const std::optional<lease::kind> k = lease::parse_kind(leases.text(i, 0));
    if (!k) continue;
    in.leases.push_back(lease::lease_row{.kind = *k,
                                         .name = leases.text(i, 1),
                                         .owner = leases.text(i, 2),
                                         .epoch = leases.int64(i, 3),
                                         .expires_at = leases.int64(i, 4),
                                         .declined_by = leases.text(i, 5),
                                         .declined_wants = leases.text(i, 6)});
  }
  const pg::result replicas =
      c.exec("SELECT owner, since, heartbeat_at, wants FROM replicas", what);
  for (int i = 0; i < replicas.rows(); ++i) {
    in.replicas.push_back(lease::replica_row{.owner = replicas.text(i, 0),
                                             .since = replicas.int64(i, 1),
                                             .heartbeat_at = replicas.int64(i, 2),
                                             .wants = replicas.text(i, 3)});
  }
  return in;
}

// Others live by the plan's rule (a heartbeat younger than ttl), and me.
std::size_t live_replicas(const lease::round_input& in) {
  std::set<std::string> live;
  for (const lease::replica_row& r : in.replicas) {
    if (r.owner != in.me && in.now - r.heartbeat_at < in.ttl.count()) live.insert(r.owner);
  }
  return live.size() + 1;
}

// (kind, name) of a row RETURNING kind, name[, epoch].
std::optional<lease::kind> kind_of(const pg::result& r, int row) {
  return lease::parse_kind(r.text(row, 0));
}

}  // namespace

lease_outcome pg_store::lease_round(const lease_request& r) {
  pg::connection& c = impl_->conn;
  const std::string& me = impl_->owner;
  lease_outcome out;
  pg::transaction tx(c);

  // 1, 2: read everything, plan.
  const lease::round_input in = read_state(c, me, r);
  const lease::round_plan plan = lease::plan_round(in);
  out.live_replicas = live_replicas(in);
  const std::int64_t ttl = r.ttl.count();

  // 3: my heartbeat; a leaving replica deletes its row instead (below).
  if (!r.leaving) {
    c.exec(
        "INSERT INTO replicas(owner, since, heartbeat_at, wants) VALUES($1, $2, $3, $4) "
        "ON CONFLICT (owner) DO UPDATE SET since = excluded.since, "
        "heartbeat_at = excluded.heartbeat_at, wants = excluded.wants",
        params()
            .text(plan.heartbeat.owner)
            .int64(plan.heartbeat.since)
            .int64(plan.heartbeat.heartbeat_at)
            .text(plan.heartbeat.wants),
        what);
  }

  // 4: rows for wanted names that have none, expired from the start.
  if (!plan.new_rows.empty()) {
    names fresh;
    for (const lease::wanted_name& w : plan.new_rows) fresh.add(w.kind, w.name, 0);
    c.exec(
        "INSERT INTO leases(kind, name, owner, epoch, expires_at, declined_by, declined_wants) "
        "SELECT k, n, '', 0, $3, '', '' FROM unnest($1::text[], $2::text[]) "
        "WITH ORDINALITY AS t(k, n, ord) ORDER BY ord ON CONFLICT DO NOTHING",
        params().text_array(fresh.kinds).text_array(fresh.names).int64(in.now), what);
  }

  // Every row this round may change, locked in (kind, name) order first: the UPDATEs below
  // lock in whatever order their plan visits rows, and two replicas (or a replica and a
  // fenced commit, which share-locks in name order) taking the same rows in different orders
  // would deadlock.
  names touched;
  for (const lease::acquisition& a : plan.acquisitions) touched.add(a.kind, a.name, a.epoch);
  for (const lease::renewal& n : plan.renewals) touched.add(n.kind, n.name, n.epoch);
  for (const lease::release& l : plan.releases) touched.add(l.kind, l.name, l.epoch);
  if (!touched.names.empty()) {
    c.exec(
        "SELECT 1 FROM leases l JOIN unnest($1::text[], $2::text[]) AS t(k, n) "
        "ON l.kind = t.k AND l.name = t.n ORDER BY l.kind, l.name FOR NO KEY UPDATE OF l",
        params().text_array(touched.kinds).text_array(touched.names), what);
  }

  // 5: acquisitions, each only if the row still has the epoch read and is still expired.
  if (!plan.acquisitions.empty()) {
    names a;
    std::vector<std::string> declined_by, declined_wants;
    for (const lease::acquisition& x : plan.acquisitions) {
      a.add(x.kind, x.name, x.epoch);
      declined_by.push_back(x.declined_by);
      declined_wants.push_back(x.declined_wants);
    }
    const pg::result got = c.exec(
        sql("UPDATE leases l SET owner = $1, epoch = l.epoch + 1, expires_at = {now} + $2, "
            "declined_by = t.d, declined_wants = t.w "
            "FROM unnest($3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[]) "
            "AS t(k, n, e, d, w) "
            "WHERE l.kind = t.k AND l.name = t.n AND l.epoch = t.e AND l.expires_at <= {now} "
            "RETURNING l.kind, l.name, l.epoch"),
        params()
            .text(me)
            .int64(ttl)
            .text_array(a.kinds)
            .text_array(a.names)
            .int64_array(a.epochs)
            .text_array(declined_by)
            .text_array(declined_wants),
        what);
    for (int i = 0; i < got.rows(); ++i) {
      if (auto k = kind_of(got, i)) out.held.push_back({*k, got.text(i, 1), got.int64(i, 2)});
    }
  }

  // 6: renewals, only of a lease still mine at its epoch and not yet expired.
  if (!plan.renewals.empty()) {
    names n;
    for (const lease::renewal& x : plan.renewals) n.add(x.kind, x.name, x.epoch);
    const pg::result kept = c.exec(
        sql("UPDATE leases l SET expires_at = {now} + $2 "
            "FROM unnest($3::text[], $4::text[], $5::bigint[]) AS t(k, n, e) "
            "WHERE l.kind = t.k AND l.name = t.n AND l.owner = $1 AND l.epoch = t.e "
            "AND l.expires_at > {now} RETURNING l.kind, l.name, l.epoch"),
        params().text(me).int64(ttl).text_array(n.kinds).text_array(n.names).int64_array(n.epochs),
        what);
    for (int i = 0; i < kept.rows(); ++i) {
      if (auto k = kind_of(kept, i)) out.held.push_back({*k, kept.text(i, 1), kept.int64(i, 2)});
    }
  }

  // 7: releases: expired now, so the replica they go to takes them in its next round.
  if (!plan.releases.empty()) {
    names n;
    for (const lease::release& x : plan.releases) n.add(x.kind, x.name, x.epoch);
    const pg::result gone = c.exec(
        sql("UPDATE leases l SET expires_at = {now} "
            "FROM unnest($2::text[], $3::text[], $4::bigint[]) AS t(k, n, e) "
            "WHERE l.kind = t.k AND l.name = t.n AND l.owner = $1 AND l.epoch = t.e "
            "AND l.expires_at > {now} RETURNING l.kind, l.name"),
        params().text(me).text_array(n.kinds).text_array(n.names).int64_array(n.epochs), what);
    std::set<std::pair<std::string, std::string>> matched;
    for (int i = 0; i < gone.rows(); ++i) matched.emplace(gone.text(i, 0), gone.text(i, 1));
    for (const lease::release& x : plan.releases) {
      if (matched.contains({std::string(lease::to_string(x.kind)), x.name}))
        out.released.push_back(x);
    }
  }

  if (r.leaving) {
    c.exec("DELETE FROM replicas WHERE owner = $1", params().text(me), what);
  }
  tx.commit();

  std::sort(out.held.begin(), out.held.end(), [](const held_lease& a, const held_lease& b) {
    return std::tie(a.kind, a.name) < std::tie(b.kind, b.name);
  });
  return out;
}

std::optional<std::vector<outbox_row>> pg_store::claim_outbox(const std::string& sink,
                                                                std::int64_t epoch,
                                                                std::size_t limit, bool again) {
  constexpr std::string_view claiming = "cannot claim the outbox";
  pg::transaction tx(impl_->conn);
  // Share-locked, as a fenced commit locks a rule's: a takeover of the sink waits for this
  // claim to end rather than slipping in between the check and the update.
  const pg::result lease = impl_->conn.exec(
      sql("SELECT 1 FROM leases WHERE kind = 'sink' AND name = $1 AND owner = $2 AND "
          "epoch = $3 AND expires_at > {now} FOR SHARE"),
      params().text(sink).text(impl_->owner).int64(epoch), claiming);
  if (lease.rows() == 0) return std::nullopt;  // the transaction rolls back: nothing changed
  // Rows claimed at an older epoch, or by another replica, are taken again: whoever held them
  // before no longer delivers them. Rows a delivery is deleting right now are skipped.
  const std::int64_t most =
      again ? std::numeric_limits<std::int64_t>::max() : static_cast<std::int64_t>(limit);
  // RETURNING keeps no order: the outer SELECT puts the rows back in the order they were
  // written, which is the order they are delivered in.
  const std::string columns(pg::outbox_columns);
  const std::string claim =
      "WITH claimed AS (UPDATE outbox SET claimed_by = $2, claim_epoch = $3 WHERE seq IN ("
      "SELECT seq FROM outbox WHERE sink = $1 AND ($5::bigint = 1 OR claimed_by IS DISTINCT "
      "FROM $2 OR claim_epoch IS DISTINCT FROM $3) ORDER BY seq LIMIT $4 FOR UPDATE SKIP "
      "LOCKED) RETURNING seq, " +
      columns + ") SELECT " + columns + " FROM claimed ORDER BY seq";
  const pg::result r = impl_->conn.exec(
      claim, params().text(sink).text(impl_->owner).int64(epoch).int64(most).int64(again ? 1 : 0),
      claiming);
  std::vector<outbox_row> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) out.push_back(pg::outbox_row_at(r, i));
  tx.commit();
  return out;
}

}  // namespace qoewatch::state
