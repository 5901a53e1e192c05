// The queue between the rule step and the state database: commits wait here for their group
// transaction (state/group_commit.hpp decides when), checkpoints that moved alone wait for the
// next one, and a commit's notifications are handed on only once it is durable. A write that
// fails keeps everything queued and is retried: nothing is sent before it is durable, and a
// restart meanwhile polls those windows again. Without a database (a dry run) commits are
// handed on at once. One transaction at a time is with the database (state/database.hpp):
// inline for SQLite, so it has ended when write() returns; on the database thread for
// PostgreSQL, so commits queued meanwhile wait for the next. Use from the event loop's thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "state/records.hpp"

namespace qoewatch::state {

class database;

class commit_queue {
 public:
  /// `hand` receives the outbox rows of each commit once it is durable, in order.
  /// `durable` is told each rule's checkpoint once the database holds it. `refused` is told
  /// of each commit the database refused because the rule's lease is no longer this
  /// replica's at the commit's epoch (nothing of it was written, nor handed on).
  commit_queue(boost::asio::any_io_executor ex, database* db,
               std::function<void(std::vector<outbox_row>&)> hand,
               std::function<void(const std::string& rule, std::int64_t checkpoint)> durable,
               std::function<void(const std::string& rule, std::int64_t epoch)> refused = {});
  ~commit_queue();
  commit_queue(const commit_queue&) = delete;
  commit_queue& operator=(const commit_queue&) = delete;

  /// Queues a poll's commit for its group transaction.
  void queue(poll_commit c);
  /// Writes `c` after what is queued, now. On failure it stays queued and an error naming
  /// `what` is logged.
  void write_now(poll_commit c, const std::string& what);
  /// The rule's checkpoint moved and nothing else did: written with the next transaction,
  /// fenced on the rule's lease `epoch` (0: not fenced).
  void defer_checkpoint(const std::string& rule, std::int64_t end, std::int64_t epoch = 0);
  /// The rule's checkpoint not yet written, if any.
  std::optional<std::int64_t> deferred(const std::string& rule) const;
  /// After a poll: writes the deferred checkpoints when they are due.
  void poll_done();
  /// Writes everything queued now, in one transaction (after the one under way, if any).
  /// When the database refuses it, it stays queued and is retried by itself.
  void write();
  /// Writes everything queued now and waits until it is durable and handed on. False when
  /// the database refused it (it stays queued, retried by itself).
  boost::asio::awaitable<bool> flush();
  /// Once the event loop has stopped: writes what is still queued, waiting at most `limit`.
  /// Its notifications go out at the next start, from the outbox.
  bool write_blocking(std::chrono::milliseconds limit);
  /// No more timed writes (shutdown): write() still works.
  void cancel();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace qoewatch::state
