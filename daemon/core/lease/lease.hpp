// Which leases a replica renews, acquires and releases in one round, decided without I/O.
// Replicas sharing a PostgreSQL state database split the rules (and sinks) between them: each
// name is held by one replica at a time through a row of `leases` (owner, epoch, expiry), and
// every commit is fenced on (owner, epoch). Once a round (every `renew`), each replica's lease
// transaction reads every lease row and every replica row, asks plan_round what to do, and
// carries the plan out with conditional UPDATEs. The database's clock is the only clock in the
// plan, so host clocks do not matter; nothing here reads a clock, draws a random number or
// fails. Pure code: any thread, no shared state.
//
// How names are spread: rendezvous hashing with bounded loads. Each name ranks the live
// replicas by weight(name, owner); names are dealt in a fixed pseudo-random order, each to
// the highest-ranked replica that still has room for its share. Every replica computes the
// same assignment from the same rows, the shares differ by at most one, and a replica joining
// or leaving moves little more than its own share (1 to 2% of the names besides, at 300
// names, measured over 2000 random clusters). Plain highest-random-weight leaves the shares
// binomial: 3 replicas and 300 names miss 100 ± 15 in about one cluster out of seven.
//
// The transaction, in one database transaction (READ COMMITTED is enough: every write below
// re-checks its own condition, so a racing replica makes an UPDATE match no row, which is not
// an error):
//   1. now = clock_timestamp() in ms since the epoch; SELECT every row of `leases` and of
//      `replicas` (their times in the same ms).
//   2. plan = plan_round({me, now, ttl, renew, wanted, leases, replicas}).
//   3. Upsert plan.heartbeat into `replicas` (ON CONFLICT (owner) DO UPDATE, all columns).
//   4. plan.new_rows: INSERT (kind, name, owner '', epoch 0, expires_at $now, declined_by '',
//      declined_wants '') ON CONFLICT DO NOTHING.
//   5. plan.acquisitions: UPDATE leases SET owner = me, epoch = epoch + 1, expires_at =
//      clock_timestamp() + ttl, declined_by = $d, declined_wants = $w WHERE kind = $k AND
//      name = $n AND epoch = $epoch AND expires_at <= clock_timestamp() RETURNING epoch.
//   6. plan.renewals: UPDATE leases SET expires_at = clock_timestamp() + ttl WHERE kind = $k AND
//      name = $n AND owner = me AND epoch = $epoch AND expires_at > clock_timestamp().
//   7. plan.releases: UPDATE leases SET expires_at = clock_timestamp() WHERE kind = $k AND
//      name = $n AND owner = me AND epoch = $epoch AND expires_at > clock_timestamp().
// The acquisitions and renewals that matched a row are what this replica holds afterwards,
// at their epochs (an acquisition's is the one RETURNING gives); a renewal that matched no
// row is a lease lost. A renewal never revives a lapsed lease: a lease that expired is
// acquired again under a new epoch, so its rule restarts from its checkpoint exactly as
// after any other move.
// A graceful stop is one more round that wants nothing (every lease released) and deletes
// this replica's row in the same transaction: the others no longer count it as live, so
// they take its names in their next round instead of a renew period later.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qoewatch::lease {

/// A time on the database's clock: milliseconds since the Unix epoch.
using db_time = std::int64_t;

/// What a lease is for. Rules and sinks are spread separately: each kind has its own shares.
enum class kind { rule, sink };

/// "rule" or "sink": what the `kind` column holds.
std::string_view to_string(kind k);
/// The kind a `kind` column holds; nullopt for any other text (a row this build cannot use).
std::optional<kind> parse_kind(std::string_view text);

/// A name this replica's configuration wants leased.
struct wanted_name {
  lease::kind kind = kind::rule;
  std::string name;
  bool operator==(const wanted_name&) const = default;
};

/// One row of `leases`, primary key (kind, name).
struct lease_row {
  lease::kind kind = kind::rule;
  std::string name;
  std::string owner;       // "" until first acquired
  std::int64_t epoch = 0;  // +1 at every acquisition: the fence of every commit
  db_time expires_at = 0;  // held while now < expires_at
  // Set when the lease was last acquired by a replica it was not spread to, because the one
  // it was spread to ran a round while it was free and left it (so does not want the name):
  // that replica's owner and its `wants` then. The holder does not hand the name to it again
  // until its `wants` changes (a reload). Both "" otherwise.
  std::string declined_by;
  std::string declined_wants;
};

/// One row of `replicas`, primary key owner.
struct replica_row {
  std::string owner;         // "<host>/<pid>/<8 hex>": a restarted process is a new replica
  db_time since = 0;         // the first heartbeat of its current unbroken run
  db_time heartbeat_at = 0;  // its last round; live while now - heartbeat_at < ttl
  std::string wants;         // wants_digest of its configuration
  bool operator==(const replica_row&) const = default;
};

struct round_input {
  std::string me;  // this replica's owner string
  db_time now = 0;
  std::chrono::milliseconds ttl{15000};   // how long an acquisition or renewal holds
  std::chrono::milliseconds renew{5000};  // the round period; expected well below ttl
  std::vector<wanted_name> wanted;        // this replica's configuration (duplicates are ignored)
  std::vector<lease_row> leases;          // every row (of both kinds), in any order
  std::vector<replica_row> replicas;      // every row, in any order; mine too, if written before
};

/// A lease this replica holds and keeps: renewed at the epoch it was read at.
struct renewal {
  lease::kind kind = kind::rule;
  std::string name;
  std::int64_t epoch = 0;
  bool operator==(const renewal&) const = default;
};

/// An expired (or never held) lease to take: the UPDATE matches only if the row still has
/// `epoch` and is still expired, and sets epoch + 1.
struct acquisition {
  lease::kind kind = kind::rule;
  std::string name;
  std::int64_t epoch = 0;   // as read; 0 for a row of plan.new_rows
  std::string declined_by;  // written to the row with the acquisition (see lease_row)
  std::string declined_wants;
  bool operator==(const acquisition&) const = default;
};

/// A lease this replica holds and gives up now (its expiry set to the database's now).
struct release {
  enum class reason {
    rebalanced,  // another live replica is meant to hold it
    unwanted,    // this replica's configuration no longer has it
  };
  lease::kind kind = kind::rule;
  std::string name;
  std::int64_t epoch = 0;
  release::reason why = reason::rebalanced;
  bool operator==(const release&) const = default;
};

/// One round's decisions. Every list is in (kind, name) order; a name is in at most one of
/// renewals, acquisitions and releases.
struct round_plan {
  replica_row heartbeat;              // my row of `replicas`, to upsert
  std::vector<wanted_name> new_rows;  // wanted names without a row yet
  std::vector<renewal> renewals;
  std::vector<acquisition> acquisitions;
  std::vector<release> releases;
  bool operator==(const round_plan&) const = default;
};

/// One round of the replica `in.me`:
/// - live replicas are those whose heartbeat is younger than ttl, and me;
/// - names are spread (see spread) over the live replicas, per kind, among the names in play:
///   wanted by me, or with a row that is held or expired less than ttl + renew ago (so a
///   name nobody wants drops out of everyone's share once it has lapsed);
/// - a held lease of mine that I still want is renewed, unless it goes to the replica it is
///   spread to: one live for at least ttl that has not declined it under its current
///   `wants`; at most max(1, held / 10) of each kind are released per round, the rest
///   renewed, to damp churn when replicas come and go;
/// - a held lease of mine that I no longer want is released at once;
/// - an expired lease I want is acquired if it is spread to me, or by anyone wanting it
///   once it has been expired for at least `renew` (so neither a replica that does not want
///   it nor config skew can orphan a name); in that case the replica it was spread to is
///   recorded as declining it if it has run a round since the lease expired;
/// - a lease another replica holds is left alone, whoever it is spread to.
/// The result does not depend on the order of the rows. Rows the primary keys forbid are
/// still handled: of two lease rows for one name the higher epoch counts, of two replica rows
/// for one owner the later heartbeat. Throws only std::bad_alloc.
round_plan plan_round(const round_input& in);

/// The identity of a configuration's wanted names, for `replicas.wants`: FNV-1a over the
/// distinct (kind, name) pairs in order, as 16 hex digits. The order of `wanted` and
/// duplicates in it do not change it.
std::string wants_digest(std::span<const wanted_name> wanted);

/// The weight of `owner` for `name` in rendezvous hashing: FNV-1a (hash.hpp) over the name,
/// a NUL and the owner, then a 64-bit finalizer (FNV-1a alone barely moves its high bits for
/// names that differ in their last bytes, which skewed the shares measurably).
std::uint64_t weight(std::string_view name, std::string_view owner);

/// For each of `names` (distinct), the index in `owners` (distinct, not empty) of the replica
/// that should hold it: names are dealt in the order of their own hash (ties by name), each
/// to the owner of highest `weigh(name, owner)` (equal weights: the smaller owner string)
/// among those with room: each holds names / owners (rounded down), and the first
/// names % owners to reach that one more. Deterministic: permuting either input permutes
/// nothing but the output's positions. `weigh` is a parameter for tests.
std::vector<std::size_t> spread(std::span<const std::string> names,
                                std::span<const std::string> owners,
                                std::uint64_t (*weigh)(std::string_view,
                                                       std::string_view) = weight);

/// The local deadline of a lease acquired or renewed by a request sent at `sent_at` (steady
/// clock): sent_at + ttl - margin. The database counts ttl from when it ran the UPDATE, which
/// is later, so until this deadline the lease is surely still held; `margin` covers the two
/// clocks' rates drifting apart and the time a fenced commit takes. When the database is
/// unreachable, polls stop at this deadline. A margin beyond ttl gives sent_at; a negative
/// margin counts as none (the deadline never passes the database's expiry).
std::chrono::steady_clock::time_point held_until(std::chrono::steady_clock::time_point sent_at,
                                                 std::chrono::milliseconds ttl,
                                                 std::chrono::milliseconds margin);

/// Whether a lease renewed by a request sent at `sent_at` may still be relied on at `now`.
inline bool held(std::chrono::steady_clock::time_point sent_at, std::chrono::milliseconds ttl,
                 std::chrono::milliseconds margin, std::chrono::steady_clock::time_point now) {
  return now < held_until(sent_at, ttl, margin);
}

}  // namespace qoewatch::lease
