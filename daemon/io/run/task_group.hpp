// The coroutines the daemon runs (one per rule, one per sink's delivery), as a group: each
// is spawned with a cancellation signal of its own, its end is an event others can await,
// and the group can be awaited as a whole within a deadline. Modelled on the task_group of
// Beast's advanced_server_flex_awaitable example. A task that throws is a bug: the exception
// is logged with the task's name and the task ends. Use from the event loop's thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace qoewatch::run {

class task_group {
 public:
  using id = std::uint64_t;
  using time_point = std::chrono::steady_clock::time_point;

  explicit task_group(boost::asio::any_io_executor ex);
  ~task_group();
  task_group(const task_group&) = delete;
  task_group& operator=(const task_group&) = delete;

  /// Starts `task`; `name` is what a log line calls it.
  id spawn(boost::asio::awaitable<void> task, std::string name);
  /// Emits terminal cancellation to one task (nothing when it has ended). A task must be
  /// cancelled only once the event loop has run it (it calls cancellation_check first).
  void cancel(id task);
  /// Emits terminal cancellation to every task.
  void cancel_all();
  /// Tasks not yet ended.
  std::size_t size() const;
  /// Waits until `task` has ended (at once when it has). The caller's own cancellation does
  /// not end the wait: a successor waits for the whole chain of tasks it replaces.
  boost::asio::awaitable<void> ended(id task);
  /// Waits until every task has ended or `deadline` passed; true when all have ended. One
  /// joiner at a time.
  boost::asio::awaitable<bool> join(time_point deadline);

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

/// For the calling task: turns throw_if_cancelled off (the task looks for itself) and returns
/// whether the task has been cancelled (see task_group::cancel), asked as often as needed
/// while the task runs.
boost::asio::awaitable<std::function<bool()>> cancellation_check();

}  // namespace qoewatch::run
