// The daemon's durable state: each rule's checkpoint, the (rule, session) pairs already
// notified, each rule's firing incident (each firing group's for a population rule), the
// outbox of notifications not yet delivered, the dead letters, and the silences of the
// Alertmanager API. Everything one poll decides is written in one transaction (commit), before
// any delivery is attempted. Synchronous; use from one thread at a time. No Asio here.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "lease/lease.hpp"
#include "state/records.hpp"

namespace qoewatch::state {

/// Opening, migrating or writing failed. what() names the database and its reason.
class store_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The database is not a qoewatch state, or was written by a newer qoewatchd: nothing was
/// changed, and trying again cannot help (the daemon stops, as it does for such a SQLite file).
class store_refused : public store_error {
 public:
  using store_error::store_error;
};

/// One replica's lease round: the transaction lease/lease.hpp describes.
struct lease_request {
  std::chrono::milliseconds ttl{15000};
  std::chrono::milliseconds renew{5000};
  std::vector<lease::wanted_name> wanted;  // every rule (and sink) of this replica's config
  bool leaving = false;  // a graceful stop: release everything and delete this replica's row
};

/// A lease this replica holds after a round, at its epoch (the fence of its commits).
struct held_lease {
  lease::kind kind = lease::kind::rule;
  std::string name;
  std::int64_t epoch = 0;
  bool operator==(const held_lease&) const = default;
};

struct lease_outcome {
  std::vector<held_lease> held;  // in (kind, name) order
  std::vector<lease::release> released;  // handed over this round, and why
  std::size_t live_replicas = 1;         // this one included
};

/// The state behind one daemon (or, shared, behind its replicas). Implementations:
/// sqlite_store (state_dir) and, for replicas, PostgreSQL. Calls block until the database
/// answers: the daemon makes them through state::database, never on its event loop when the
/// database is across a network.
class store {
 public:
  virtual ~store() = default;
  store() = default;
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  /// Where the state lives, for messages: a file path, or a URL without its password.
  virtual std::string describe() const = 0;

  // ---- reading, at start-up ----
  virtual std::optional<std::int64_t> checkpoint(const std::string& rule) const = 0;
  virtual std::map<std::string, std::int64_t> checkpoints() const = 0;  // every rule's
  virtual std::vector<notified_row> notified() const = 0;  // all pairs
  virtual std::vector<notified_row> notified(const std::string& rule) const = 0;
  virtual std::vector<incident_row> incidents() const = 0;  // firing incidents, per-session rules
  virtual std::vector<incident_row> group_incidents() const = 0;  // firing groups, population
  virtual std::vector<outbox_row> outbox() const = 0;             // pending, in insertion order
  virtual std::vector<dead_letter> dead_letters() const = 0;      // oldest first
  /// All of the above, read in turn: one consistent state only while nothing else writes
  /// (sqlite_store::open_exclusive sees to that).
  snapshot everything() const {
    return {checkpoints(), notified(),     incidents(), group_incidents(),
            outbox(),      dead_letters(), silences()};
  }

  // ---- writing ----
  commit_result commit(const poll_commit& c) {  // one transaction
    return commit(std::span<const poll_commit>(&c, 1));
  }
  /// Several commits in one transaction, in order (a later one wins): one disk sync for many.
  /// An outbox row whose id is already in the outbox is not written; its id is reported.
  virtual commit_result commit(std::span<const poll_commit> batch) = 0;
  /// Delivered: the row leaves the outbox.
  virtual void delivered(const std::string& id) = 0;
  /// A failed attempt: attempts and last_error are updated.
  virtual void attempt_failed(const std::string& id, int attempts, const std::string& error) = 0;
  /// Moves the outbox row to the dead letters (one transaction).
  virtual void dead(const std::string& id, const std::string& reason, double now) = 0;
  /// Forgets, in one transaction, each listed rule's notified pairs with ended_at below its
  /// bound, and (when given) every rule's pairs with ended_at < `all_before`.
  virtual void forget_notified(const std::map<std::string, std::int64_t>& per_rule,
                               std::optional<std::int64_t> all_before = std::nullopt) = 0;

  // ---- silences (Alertmanager API v2) ----
  // Shared by every replica and written by whichever one the API request reached: not fenced
  // by a lease. PostgreSQL stores NUL and malformed UTF-8 in their text as U+FFFD, as it does
  // in the other text columns (pg_store.hpp).
  /// Every stored silence, expired ones included, in id order.
  virtual std::vector<silence_row> silences() const = 0;
  /// Writes each silence in one transaction, replacing any stored under its id.
  virtual void put_silences(const std::vector<silence_row>& rows) = 0;
  /// Forgets these silences (ids not stored are ignored), in one transaction.
  virtual void drop_silences(const std::vector<std::string>& ids) = 0;

  // ---- replicas ----
  /// Claims for this replica, holding `sink`'s lease at `epoch`, up to `limit` of the sink's
  /// outbox rows it has not claimed at that epoch yet, in insertion order; rows another
  /// transaction has locked are skipped (a later claim takes them). nullopt, claiming nothing,
  /// when the lease is no longer this replica's at `epoch`. `again`: the rows this replica
  /// claimed at `epoch` before are returned too, all of them (no limit): for a claim whose
  /// answer was lost. Only a shared store has sink leases: a store of one daemon throws
  /// store_error.
  virtual std::optional<std::vector<outbox_row>> claim_outbox(const std::string& sink,
                                                              std::int64_t epoch,
                                                              std::size_t limit,
                                                              bool again = false) {
    (void)epoch;
    (void)limit;
    (void)again;
    throw store_error(describe() + ": cannot claim the outbox of sink " + sink +
                      ": sinks are leased only in a shared (PostgreSQL) state");
  }

  /// One lease round. A store of one daemon (SQLite) holds everything wanted, at epoch 0 (its
  /// commits are not fenced); a shared one runs the round of lease/lease.hpp.
  virtual lease_outcome lease_round(const lease_request& r) {
    lease_outcome out;
    if (r.leaving) return out;
    for (const lease::wanted_name& w : r.wanted) out.held.push_back({w.kind, w.name, 0});
    return out;
  }
};

}  // namespace qoewatch::state
