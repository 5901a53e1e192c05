// The daemon's way to its state store. A store's calls block until the database answers: fine
// for SQLite on a local disk (calls run inline, on the event loop, exactly as before), never
// for PostgreSQL across a network, where an outage would freeze /metrics, the watchdog and
// every rule. There the calls run on one database thread, in the order they were made, and
// their results come back to the event loop. Why a thread rather than libpq's asynchronous
// API: PQconnectStart resolves host names with a blocking getaddrinfo, DNS cannot be cancelled
// on Boost 1.81, and one synchronous store interface serves both backends.
//
// Use from the event loop's thread; the store is only ever touched by one thread at a time.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <utility>

#include "state/store.hpp"

namespace qoewatch::state {

class database {
 public:
  enum class mode {
    inline_calls,  // on the caller's thread, at once (SQLite)
    worker,        // on the database thread, in order (PostgreSQL)
  };
  /// How a worker opens its store; retried (1 s, doubling to 10 s) until it succeeds.
  using opener = std::function<std::unique_ptr<store>()>;

  /// Inline: `s` is open already.
  database(boost::asio::any_io_executor loop, std::unique_ptr<store> s);
  /// Worker: the database thread opens the store, and calls wait in order until it is open.
  /// A store that refuses to be opened (store_refused: not ours, or newer) is not retried:
  /// `refused` is told on the loop, and every call fails.
  database(boost::asio::any_io_executor loop, opener open, std::string description,
           std::function<void(const std::string& why)> refused = {});
  /// A worker finishes the calls already made (the last writes), then its thread ends.
  ~database();
  database(const database&) = delete;
  database& operator=(const database&) = delete;

  /// Runs `fn` on the store and returns its result on the loop; throws what `fn` threw.
  template <class R>
  boost::asio::awaitable<R> call(std::function<R(store&)> fn) {
    if (!worker_) co_return run_inline(fn);
    co_return co_await boost::asio::async_initiate<decltype(boost::asio::use_awaitable),
                                                    void(std::exception_ptr, R)>(
        [this](auto handler, std::function<R(store&)> f) {
          auto h = std::make_shared<decltype(handler)>(std::move(handler));
          submit([f = std::move(f), h, this](store* s) {
            std::exception_ptr error;
            R result{};
            try {
              if (!s) throw store_error(description_ + ": not open");
              result = f(*s);
            } catch (...) {
              error = std::current_exception();
            }
            note(!error);
            // Moved, never copied: the loop thread alone releases the exception (its count
            // lives in uninstrumented libstdc++, so a release here would race for TSan).
            boost::asio::post(loop_, [h, error = std::move(error),
                                      result = std::move(result)]() mutable {
              std::move (*h)(error, std::move(result));
            });
          });
        },
        boost::asio::use_awaitable, std::move(fn));
  }

  /// Runs `fn` on the store then `done` on the loop with its outcome (inline: both at once).
  template <class R>
  void then(std::function<R(store&)> fn, std::function<void(std::exception_ptr, R)> done) {
    if (!worker_) {
      R result{};
      std::exception_ptr error;
      try {
        result = run_inline(fn);
      } catch (...) {
        error = std::current_exception();
      }
      done(error, std::move(result));
      return;
    }
    submit([f = std::move(fn), d = std::move(done), this](store* s) mutable {
      std::exception_ptr error;
      R result{};
      try {
        if (!s) throw store_error(description_ + ": not open");
        result = f(*s);
      } catch (...) {
        error = std::current_exception();
      }
      note(!error);
      boost::asio::post(loop_, [d = std::move(d), error = std::move(error),
                                result = std::move(result)]() mutable {
        d(error, std::move(result));
      });
    });
  }

  /// Runs `fn` on the store in order, for its effect only: a failure is logged as critical,
  /// `failure` then the error ("sink hook: could not record a delivery in the state
  /// database: ..."), and changes nothing else.
  void post(std::function<void(store&)> fn, std::string failure);

  /// Runs `fn` and waits for it, blocking, at most `limit`: only once the event loop has
  /// stopped (the last commits at exit), when nothing else can wait. Throws what `fn` threw,
  /// or store_error when the limit passed.
  template <class R>
  R call_blocking(std::function<R(store&)> fn, std::chrono::milliseconds limit);

  /// Whether the last call reached the database and succeeded.
  bool up() const;
  /// Where the state lives (no secrets), for messages.
  std::string describe() const { return description_; }
  /// False when calls run on a thread of their own.
  bool calls_inline() const { return !worker_; }

 private:
  struct worker;
  template <class R>
  R run_inline(const std::function<R(store&)>& fn);
  void submit(std::function<void(store*)> job);
  void note(bool ok);  // on the database thread: whether the last call succeeded

  boost::asio::any_io_executor loop_;
  std::string description_;
  std::unique_ptr<store> inline_store_;
  std::unique_ptr<worker> worker_;
  bool inline_up_ = true;
};

template <class R>
R database::call_blocking(std::function<R(store&)> fn, std::chrono::milliseconds limit) {
  if (!worker_) return run_inline(fn);
  // The outcome travels by move: promise::set_exception copies its argument and releases
  // the copy on this thread, after the caller may already have rethrown it.
  struct outcome {
    std::exception_ptr error;
    R result{};
  };
  auto p = std::make_shared<std::promise<outcome>>();
  std::future<outcome> f = p->get_future();
  submit([p, fn = std::move(fn), this](store* s) {
    outcome o;
    try {
      if (!s) throw store_error(description_ + ": not open");
      o.result = fn(*s);
    } catch (...) {
      o.error = std::current_exception();
    }
    note(!o.error);
    p->set_value(std::move(o));
  });
  if (f.wait_for(limit) != std::future_status::ready)
    throw store_error(description_ + ": no answer within " + std::to_string(limit.count()) +
                      " ms");
  outcome o = f.get();
  if (o.error) std::rethrow_exception(o.error);
  return std::move(o.result);
}

template <class R>
R database::run_inline(const std::function<R(store&)>& fn) {
  try {
    R r = fn(*inline_store_);
    inline_up_ = true;
    return r;
  } catch (...) {
    inline_up_ = false;
    throw;
  }
}

}  // namespace qoewatch::state
