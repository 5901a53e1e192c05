// The daemon's durable state: one SQLite database (WAL mode) in state_dir holding each rule's
// checkpoint, the (rule, session) pairs already notified, each rule's firing incident (each
// firing group's for a population rule), the
// outbox of notifications not yet delivered, and the dead letters. Everything one poll
// decides is written in one transaction (commit), before any delivery is attempted.
// Synchronous (SQLite is fast for these sizes); use from one thread. No Asio here.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "state/records.hpp"

namespace qoewatch::state {

/// Opening, migrating or writing failed. what() names the database file and SQLite's reason.
class store_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class store {
 public:
  /// Opens (creating when absent) `<dir>/qoewatch.db`, creating `dir` if needed, and migrates
  /// the schema to the current version. A file that is not a qoewatch database, is corrupt,
  /// unreadable, or from a newer version throws store_error naming the file; never a reset.
  static std::unique_ptr<store> open(const std::string& dir);
  /// Opens an existing database read-only (for --dead-letters); throws when absent.
  static std::unique_ptr<store> open_read_only(const std::string& dir);
  ~store();
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  const std::string& path() const;
  static int schema_version();  // the version this build writes

  // ---- reading, at start-up ----
  std::optional<std::int64_t> checkpoint(const std::string& rule) const;
  std::vector<notified_row> notified() const;  // all pairs
  std::vector<notified_row> notified(const std::string& rule) const;
  std::vector<incident_row> incidents() const;    // firing incidents of per-session rules
  std::vector<incident_row> group_incidents() const;  // firing groups of population rules
  std::vector<outbox_row> outbox() const;         // pending, in insertion order
  std::vector<dead_letter> dead_letters() const;  // oldest first

  // ---- writing ----
  commit_result commit(const poll_commit& c);  // one transaction
  /// Several commits in one transaction, in order (a later one wins): one disk sync for many.
  /// An outbox row whose id is already in the outbox is not written; its id is reported.
  commit_result commit(std::span<const poll_commit> batch);
  /// Delivered: the row leaves the outbox.
  void delivered(const std::string& id);
  /// A failed attempt: attempts and last_error are updated.
  void attempt_failed(const std::string& id, int attempts, const std::string& error);
  /// Moves the outbox row to the dead letters (one transaction).
  void dead(const std::string& id, const std::string& reason, double now);
  /// Forgets, in one transaction, each listed rule's notified pairs with ended_at below its
  /// bound, and (when given) every rule's pairs with ended_at < `all_before`.
  void forget_notified(const std::map<std::string, std::int64_t>& per_rule,
                       std::optional<std::int64_t> all_before = std::nullopt);

 private:
  struct impl;
  explicit store(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace qoewatch::state
