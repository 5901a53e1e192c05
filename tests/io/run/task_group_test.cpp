// The daemon's task group on a real io_context: cancellation reaches one task or all, a task's
// end is an event others await (and a successor's own cancellation does not cut that wait
// short), and join gives up at its deadline.
#include "run/task_group.hpp"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <string>
#include <vector>

using namespace qoewatch;
using namespace std::chrono_literals;
namespace net = boost::asio;
using steady = std::chrono::steady_clock;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// Sleeps for `d` unless cancelled; records how it ended.
net::awaitable<void> sleeper(steady::duration d, std::vector<std::string>& events,
                             std::string name) {
  const std::function<bool()> cancelled = co_await run::cancellation_check();
  net::steady_timer t(co_await net::this_coro::executor, d);
  co_await t.async_wait(use_tuple);
  events.push_back(name + (cancelled() ? " cancelled" : " slept"));
}

}  // namespace

TEST(TaskGroup, CancellingOneTaskEndsOnlyThatOne) {
  net::io_context ioc;
  run::task_group g(ioc.get_executor());
  std::vector<std::string> events;
  auto a = g.spawn(sleeper(1h, events, "a"), "a");
  g.spawn(sleeper(20ms, events, "b"), "b");
  EXPECT_EQ(g.size(), 2u);
  ioc.poll();  // both are waiting now
  g.cancel(a);
  ioc.run();
  EXPECT_EQ(events, (std::vector<std::string>{"a cancelled", "b slept"}));
  EXPECT_EQ(g.size(), 0u);
}

TEST(TaskGroup, JoinWaitsForEveryTaskOrGivesUpAtItsDeadline) {
  net::io_context ioc;
  run::task_group g(ioc.get_executor());
  std::vector<std::string> events;
  g.spawn(sleeper(10ms, events, "quick"), "quick");
  g.spawn(sleeper(1h, events, "stuck"), "stuck");
  std::vector<bool> joined;
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        joined.push_back(co_await g.join(steady::now() + 100ms));  // "stuck" is still there
        g.cancel_all();
        joined.push_back(co_await g.join(steady::now() + 1h));  // ends at once, not in 1 h
      },
      net::detached);
  const auto started = steady::now();
  ioc.run();
  EXPECT_EQ(joined, (std::vector<bool>{false, true}));
  EXPECT_EQ(events, (std::vector<std::string>{"quick slept", "stuck cancelled"}));
  EXPECT_LT(steady::now() - started, 30s);
}

TEST(TaskGroup, ASuccessorWaitsForTheWholeChainItReplacesEvenWhenCancelled) {
  // A polls; B replaces it and waits for A; a second reload cancels B and starts C, which
  // waits for B. C must not start before A has ended.
  net::io_context ioc;
  run::task_group g(ioc.get_executor());
  std::vector<std::string> events;
  auto a = g.spawn(sleeper(200ms, events, "a"), "a");
  auto successor = [&](run::task_group::id before, std::string name) -> net::awaitable<void> {
    const std::function<bool()> cancelled = co_await run::cancellation_check();
    co_await g.ended(before);
    events.push_back(name + " started" + (cancelled() ? " cancelled" : ""));
  };
  auto b = g.spawn(successor(a, "b"), "b");
  ioc.poll();
  g.cancel(b);
  g.spawn(successor(b, "c"), "c");
  ioc.run();
  EXPECT_EQ(events, (std::vector<std::string>{"a slept", "b started cancelled", "c started"}));
}

TEST(TaskGroup, AnEndedTaskIsAwaitedAtOnceAndAThrowingTaskEndsAlone) {
  net::io_context ioc;
  run::task_group g(ioc.get_executor());
  std::vector<std::string> events;
  auto thrower = []() -> net::awaitable<void> {
    throw std::runtime_error("a bug");
    co_return;
  };
  auto t = g.spawn(thrower(), "thrower");
  g.spawn(sleeper(10ms, events, "other"), "other");
  ioc.run();
  EXPECT_EQ(g.size(), 0u);
  EXPECT_EQ(events, std::vector<std::string>{"other slept"});
  bool waited = false;
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        co_await g.ended(t);
        waited = true;
      },
      net::detached);
  ioc.restart();
  ioc.run();
  EXPECT_TRUE(waited);
}
