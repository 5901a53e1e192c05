// The state in PostgreSQL, shared by replicas: the same tables as sqlite_store (checkpoints,
// notified pairs, incidents, the outbox, dead letters, silences) plus the leases that split
// the rules between replicas (lease/lease.hpp) and the replicas' heartbeats. libpq stays in
// the .cpp files (pimpl).
//
// Connecting: libpq with connect_timeout=5, TCP keepalives, tcp_user_timeout=10 s and
// application_name=qoewatchd (settings the URL itself gives win), client_encoding UTF8; each
// session sets statement_timeout 10 s, lock_timeout 5 s, idle_in_transaction_session_timeout
// 15 s. Every statement also has a client-side deadline (`io_timeout`): a server that stopped
// answering (frozen, or its network black-holed) fails the call instead of blocking it.
//
// Failures throw store_error whose text starts with describe(), the URL without its
// passwords, then what failed ("cannot connect", "cannot commit", ...) and libpq's reason,
// scrubbed of the passwords. A connection the server closed (a restart, an outage, a missed
// deadline) is made again by the next call: the call in flight fails, the next one reconnects.
//
// Thread-safety: none. Calls block until the database answers (or the deadline passes):
// make them from one thread at a time, never from the event loop (state::database's worker).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "state/store.hpp"

namespace qoewatch::state {

class pg_store final : public store {
 public:
  /// Connects to `url` (a libpq URI or keyword=value settings) and creates or migrates the
  /// schema to schema_version(), under an advisory lock so that replicas starting together
  /// migrate once. `owner` names this replica in the lease tables ("<host>/<pid>/<8 hex>").
  /// Throws store_error when the server cannot be reached or refuses us, or when the database
  /// holds tables named like ours that are not a qoewatch state (no qoewatch_meta, or another
  /// application's), or a schema from a newer qoewatchd; nothing is changed then.
  static std::unique_ptr<pg_store> open(
      const std::string& url, std::string owner,
      std::chrono::milliseconds io_timeout = std::chrono::seconds(15));
  ~pg_store() override;

  static int schema_version();  // the version this build writes
  const std::string& owner() const;

  std::string describe() const override;
  std::optional<std::int64_t> checkpoint(const std::string& rule) const override;
  std::map<std::string, std::int64_t> checkpoints() const override;
  std::vector<notified_row> notified() const override;
  std::vector<notified_row> notified(const std::string& rule) const override;
  std::vector<incident_row> incidents() const override;
  std::vector<incident_row> group_incidents() const override;
  std::vector<outbox_row> outbox() const override;
  std::vector<dead_letter> dead_letters() const override;
  using store::commit;
  /// One transaction. A commit with epoch > 0 is fenced: written only while `owner` holds the
  /// rule's lease at that epoch (the lease row is share-locked until the transaction ends, so
  /// no takeover slips in between); otherwise none of it is written and its rule is listed
  /// in refused_rules, while the rest of the batch is written.
  commit_result commit(std::span<const poll_commit> batch) override;
  void delivered(const std::string& id) override;
  /// The error text is stored with any malformed UTF-8 (or NUL) replaced by U+FFFD.
  void attempt_failed(const std::string& id, int attempts, const std::string& error) override;
  void dead(const std::string& id, const std::string& reason, double now) override;
  void forget_notified(const std::map<std::string, std::int64_t>& per_rule,
                       std::optional<std::int64_t> all_before = std::nullopt) override;
  /// Not fenced: silences are every replica's. Their text is stored as attempt_failed's.
  std::vector<silence_row> silences() const override;
  void put_silences(const std::vector<silence_row>& rows) override;
  void drop_silences(const std::vector<std::string>& ids) override;
  /// --migrate-state: writes `s` into a database that holds no qoewatch state yet, in one
  /// transaction: every row as given (ids, attempts, last errors, keys, started_at), the
  /// outbox and the dead letters in their order (their seq follows it). Not fenced: no lease
  /// is asked for. The tables are locked first (SHARE ROW EXCLUSIVE: replicas and another
  /// import wait), then checked: when any of them but qoewatch_meta holds a row (a replica or
  /// an earlier import has used the database), throws store_error naming those tables and
  /// writes nothing; as it does when a write fails. Error texts as in the class comment.
  void import(const snapshot& s);
  /// The lease transaction of lease/lease.hpp, as `owner`. Rows of a kind this build does not
  /// know are left alone.
  lease_outcome lease_round(const lease_request& r) override;
  /// One transaction: the sink's lease row is share-locked while held by `owner` at `epoch`
  /// (else nullopt), then `SELECT ... FOR UPDATE SKIP LOCKED` picks the rows to mark
  /// claimed_by = owner, claim_epoch = epoch.
  std::optional<std::vector<outbox_row>> claim_outbox(const std::string& sink,
                                                      std::int64_t epoch, std::size_t limit,
                                                      bool again = false) override;

 private:
  struct impl;
  explicit pg_store(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace qoewatch::state
