// The state in one SQLite database (WAL mode), `<state_dir>/qoewatch.db`: the default, for a
// single daemon. Synchronous (SQLite is fast for these sizes), so the daemon calls it on its
// event loop.
#pragma once

#include <memory>
#include <string>

#include "state/store.hpp"

namespace qoewatch::state {

class sqlite_store final : public store {
 public:
  /// Opens (creating when absent) `<dir>/qoewatch.db`, creating `dir` if needed, and migrates
  /// the schema to the current version. A file that is not a qoewatch database, is corrupt,
  /// unreadable, or from a newer version throws store_error naming the file; never a reset.
  static std::unique_ptr<sqlite_store> open(const std::string& dir);
  /// Opens an existing database read-only (for --dead-letters); throws when absent.
  static std::unique_ptr<sqlite_store> open_read_only(const std::string& dir);
  /// Opens the existing database file `file` (the qoewatch.db itself) for --migrate-state,
  /// for this process alone: locking_mode EXCLUSIVE and a BEGIN IMMEDIATE held until the
  /// store is destroyed, so that nothing writes it while it is read, and no qoewatchd opens
  /// it meanwhile. A file another process has open (a running qoewatchd; --dead-letters)
  /// throws store_error "<file>: open in another process (stop qoewatchd first ...)". An
  /// older schema is migrated inside that transaction, which is rolled back in the end: what
  /// the file holds is left as it was. Reads only: its writes throw store_error.
  /// Throws store_error, as open_read_only does, for a file that is absent or not ours.
  static std::unique_ptr<sqlite_store> open_exclusive(const std::string& file);
  ~sqlite_store() override;

  const std::string& path() const;
  static int schema_version();  // the version this build writes

  std::string describe() const override { return path(); }
  std::optional<std::int64_t> checkpoint(const std::string& rule) const override;
  std::map<std::string, std::int64_t> checkpoints() const override;
  std::vector<notified_row> notified() const override;
  std::vector<notified_row> notified(const std::string& rule) const override;
  std::vector<incident_row> incidents() const override;
  std::vector<incident_row> group_incidents() const override;
  std::vector<outbox_row> outbox() const override;
  std::vector<dead_letter> dead_letters() const override;
  using store::commit;
  commit_result commit(std::span<const poll_commit> batch) override;
  void delivered(const std::string& id) override;
  void attempt_failed(const std::string& id, int attempts, const std::string& error) override;
  void dead(const std::string& id, const std::string& reason, double now) override;
  void forget_notified(const std::map<std::string, std::int64_t>& per_rule,
                       std::optional<std::int64_t> all_before = std::nullopt) override;
  std::vector<silence_row> silences() const override;
  void put_silences(const std::vector<silence_row>& rows) override;
  void drop_silences(const std::vector<std::string>& ids) override;

 private:
  struct impl;
  explicit sqlite_store(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace qoewatch::state
