#include "run/task_group.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>

namespace qoewatch::run {

namespace net = boost::asio;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

struct task_group::impl {
  explicit impl(net::any_io_executor e) : ex(std::move(e)), all_ended(ex) {}

  struct task {
    net::cancellation_signal signal;
    std::shared_ptr<net::steady_timer> ended;  // cancelled when the task ends
  };
  net::any_io_executor ex;
  std::map<id, task> tasks;
  id next = 0;
  net::steady_timer all_ended;  // cancelled whenever the last task ends

  void finished(id t) {
    auto it = tasks.find(t);
    if (it == tasks.end()) return;
    it->second.ended->cancel();
    tasks.erase(it);
    if (tasks.empty()) all_ended.cancel();
  }
};

task_group::task_group(net::any_io_executor ex) : impl_(std::make_shared<impl>(std::move(ex))) {}

task_group::~task_group() = default;

task_group::id task_group::spawn(net::awaitable<void> task, std::string name) {
  const id t = ++impl_->next;
  impl::task& entry = impl_->tasks[t];
  entry.ended = std::make_shared<net::steady_timer>(impl_->ex, net::steady_timer::time_point::max());
  net::co_spawn(impl_->ex, std::move(task),
                net::bind_cancellation_slot(
                    entry.signal.slot(),
                    [weak = std::weak_ptr<impl>(impl_), t, name = std::move(name)](
                        std::exception_ptr e) {
                      if (e) {
                        try {
                          std::rethrow_exception(e);
                        } catch (const std::exception& ex) {
                          spdlog::critical("{} stopped by an unexpected error: {}", name,
                                           ex.what());
                        }
                      }
                      if (auto g = weak.lock()) g->finished(t);
                    }));
  return t;
}

void task_group::cancel(id task) {
  if (auto it = impl_->tasks.find(task); it != impl_->tasks.end())
    it->second.signal.emit(net::cancellation_type::terminal);
}

void task_group::cancel_all() {
  // Emitting may end a task at once, which erases it: walk over a copy of the ids.
  std::vector<id> ids;
  for (const auto& [t, entry] : impl_->tasks) ids.push_back(t);
  for (id t : ids) cancel(t);
}

std::size_t task_group::size() const {
  return impl_->tasks.size();
}

net::awaitable<void> task_group::ended(id task) {
  auto it = impl_->tasks.find(task);
  if (it == impl_->tasks.end()) co_return;
  std::shared_ptr<net::steady_timer> ended = it->second.ended;
  // Bound to no cancellation slot: the caller's cancellation does not cut the wait short.
  co_await ended->async_wait(
      net::bind_cancellation_slot(net::cancellation_slot(), use_tuple));
}

net::awaitable<bool> task_group::join(time_point deadline) {
  auto keep = impl_;
  while (!keep->tasks.empty() && std::chrono::steady_clock::now() < deadline) {
    keep->all_ended.expires_at(deadline);
    co_await keep->all_ended.async_wait(use_tuple);
  }
  co_return keep->tasks.empty();
}

net::awaitable<std::function<bool()>> cancellation_check() {
  co_await net::this_coro::throw_if_cancelled(false);
  net::cancellation_state state = co_await net::this_coro::cancellation_state;
  co_return [state] { return state.cancelled() != net::cancellation_type::none; };
}

}  // namespace qoewatch::run
