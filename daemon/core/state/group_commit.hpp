// When the commits of polls are written: the group-commit policy, with the clock passed in.
// A poll that notifies must be durable before its notifications are sent, and each
// transaction costs a disk sync: a thousand rules starting fresh notify a thousand times in
// their first interval. So commits are queued, and the queue is written in one transaction at
// most once per `window`: at once when the database has been idle that long (a lone poll
// waits for nothing), otherwise when the window ends. Checkpoints that moved alone are
// written with the next transaction, at most `checkpoint_delay` after the last one. A failed
// write is retried `retry` later. Pure code.
#pragma once

#include <chrono>

namespace qoewatch::state {

class group_commit_policy {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  static constexpr std::chrono::milliseconds window{50};
  static constexpr std::chrono::milliseconds checkpoint_delay{1000};
  static constexpr std::chrono::milliseconds retry{1000};

  /// When a commit queued at `now` is to be written: `now` itself, or the end of the window
  /// that the last write opened.
  time_point write_at(time_point now) const {
    return now >= last_write_ + window ? now : last_write_ + window;
  }
  /// Whether checkpoints deferred until now are due at `now`.
  bool checkpoints_due(time_point now) const { return now >= last_write_ + checkpoint_delay; }
  /// A transaction was attempted at `now` (written or not).
  void wrote(time_point now) { last_write_ = now; }
  /// When to try again after a write at `now` failed.
  time_point retry_at(time_point now) const { return now + retry; }

 private:
  time_point last_write_{};  // none yet: the first commit is written at once
};

}  // namespace qoewatch::state
