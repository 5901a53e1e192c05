// For tests that drive the HTTP client or server from coroutines: one io_context per test,
// run on the test's thread until the test's coroutine (and every server coroutine) is done.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <exception>
#include <functional>

namespace qoewatch::http::testing {

/// Runs `body` on a fresh io_context until it and every server coroutine are done; fails the
/// test instead of hanging when something never completes (30 s).
inline void run(std::function<boost::asio::awaitable<void>(boost::asio::io_context&)> body) {
  boost::asio::io_context ioc;
  bool finished = false;
  std::exception_ptr error;
  boost::asio::co_spawn(ioc, body(ioc), [&](std::exception_ptr e) {
    error = e;
    finished = true;
  });
  ioc.run_for(std::chrono::seconds(30));
  ASSERT_TRUE(finished) << "the test did not finish within 30s";
  if (error) std::rethrow_exception(error);
}

/// Waits `d` on the calling coroutine's executor.
inline boost::asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, d);
  co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
}

}  // namespace qoewatch::http::testing
