// The way to the state store: inline calls behave as direct ones; on the database thread the
// calls keep their order, errors come back to the caller, and the event loop keeps serving
// while the database is slow or not there yet.
#include "state/database.hpp"

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

using namespace qoewatch::state;
namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

// A store that records what was asked of it, and on which thread; it can be made slow, and
// made to fail the next calls.
class fake_store : public store {
 public:
  struct log {
    std::mutex mutex;
    std::vector<std::string> calls;
    std::thread::id thread;
    std::atomic<int> fail_next{0};
    std::atomic<int> sleep_ms{0};
  };
  explicit fake_store(std::shared_ptr<log> l) : log_(std::move(l)) {}

  std::string describe() const override { return "fake"; }
  std::optional<std::int64_t> checkpoint(const std::string& rule) const override {
    record("checkpoint " + rule);
    return 42;
  }
  std::map<std::string, std::int64_t> checkpoints() const override { return {}; }
  std::vector<notified_row> notified() const override { return {}; }
  std::vector<notified_row> notified(const std::string&) const override { return {}; }
  std::vector<incident_row> incidents() const override { return {}; }
  std::vector<incident_row> group_incidents() const override { return {}; }
  std::vector<outbox_row> outbox() const override { return {}; }
  std::vector<dead_letter> dead_letters() const override { return {}; }
  using store::commit;
  commit_result commit(std::span<const poll_commit> batch) override {
    record("commit " + batch.front().rule);
    return {};
  }
  void delivered(const std::string& id) override { record("delivered " + id); }
  void attempt_failed(const std::string&, int, const std::string&) override {}
  void dead(const std::string&, const std::string&, double) override {}
  void forget_notified(const std::map<std::string, std::int64_t>&,
                       std::optional<std::int64_t>) override {}
  std::vector<silence_row> silences() const override { return {}; }
  void put_silences(const std::vector<silence_row>&) override {}
  void drop_silences(const std::vector<std::string>&) override {}

 private:
  void record(const std::string& call) const {
    if (log_->sleep_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(log_->sleep_ms));
    {
      std::lock_guard lock(log_->mutex);
      log_->thread = std::this_thread::get_id();
      log_->calls.push_back(call);
    }
    if (call.ends_with(" fail")) throw store_error("fake: " + call + " failed");
    if (log_->fail_next > 0) {
      --log_->fail_next;
      throw store_error("fake: " + call + " failed");
    }
  }
  std::shared_ptr<log> log_;
};

poll_commit commit_of(const std::string& rule) {
  poll_commit c;
  c.rule = rule;
  return c;
}

// Named functions for co_await db.call(...): GCC 12 destroys a temporary std::function in a
// co_await expression twice.
const std::function<std::optional<std::int64_t>(store&)> read_checkpoint = [](store& s) {
  return s.checkpoint("r");
};
std::function<commit_result(store&)> committing(const std::string& rule) {
  return [rule](store& s) { return s.commit(commit_of(rule)); };
}

// Runs `body` as a coroutine on `ioc` until it ends (or 5 s pass).
template <class F>
void run_coroutine(net::io_context& ioc, F body) {
  bool done = false;
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        co_await body();
        done = true;
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  ioc.run_for(5s);
  EXPECT_TRUE(done);
}

}  // namespace

TEST(Database, InlineCallsRunAtOnceOnTheCallersThread) {
  net::io_context ioc;
  auto log = std::make_shared<fake_store::log>();
  database db(ioc.get_executor(), std::make_unique<fake_store>(log));
  EXPECT_TRUE(db.calls_inline());
  db.post([](store& s) { s.delivered("msg_a"); }, "a delivery");
  bool called = false;
  db.then<commit_result>([](store& s) { return s.commit(commit_of("slow")); },
                         [&](std::exception_ptr e, commit_result) { called = !e; });
  EXPECT_TRUE(called);  // before the loop ran
  EXPECT_EQ(log->calls, (std::vector<std::string>{"delivered msg_a", "commit slow"}));
  EXPECT_EQ(log->thread, std::this_thread::get_id());
  log->fail_next = 1;
  db.post([](store& s) { s.delivered("msg_b"); }, "a delivery");
  EXPECT_FALSE(db.up());
  EXPECT_EQ(db.call_blocking<std::optional<std::int64_t>>(
                [](store& s) { return s.checkpoint("slow"); }, 1s),
            42);
  EXPECT_TRUE(db.up());
}

TEST(Database, AWorkerRunsCallsInOrderOffTheLoopAndReturnsResultsAndErrors) {
  net::io_context ioc;
  auto log = std::make_shared<fake_store::log>();
  database db(
      ioc.get_executor(), [log] { return std::make_unique<fake_store>(log); }, "fake");
  EXPECT_FALSE(db.calls_inline());
  run_coroutine(ioc, [&]() -> net::awaitable<void> {
    db.post([](store& s) { s.delivered("msg_a"); }, "a delivery");
    std::optional<std::int64_t> c = co_await db.call(read_checkpoint);
    EXPECT_EQ(c, 42);
    db.post([](store& s) { s.delivered("msg_b"); }, "a delivery");
    std::string error;
    try {
      co_await db.call(committing("fail"));
    } catch (const store_error& e) {
      error = e.what();
    }
    EXPECT_EQ(error, "fake: commit fail failed");
    EXPECT_FALSE(db.up());
    co_await db.call(committing("y"));
    EXPECT_TRUE(db.up());
  });
  std::lock_guard lock(log->mutex);
  EXPECT_EQ(log->calls, (std::vector<std::string>{"delivered msg_a", "checkpoint r",
                                                  "delivered msg_b", "commit fail", "commit y"}));
  EXPECT_NE(log->thread, std::this_thread::get_id());
}

TEST(Database, TheLoopKeepsServingWhileTheDatabaseIsSlow) {
  net::io_context ioc;
  auto log = std::make_shared<fake_store::log>();
  database db(
      ioc.get_executor(), [log] { return std::make_unique<fake_store>(log); }, "fake");
  log->sleep_ms = 400;
  int ticks = 0;
  bool answered = false;
  // A 20 ms ticker stands for /metrics and the watchdog: it must run all along.
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        net::steady_timer t(ioc);
        while (!answered) {
          t.expires_after(20ms);
          co_await t.async_wait(net::use_awaitable);
          ++ticks;
        }
      },
      net::detached);
  run_coroutine(ioc, [&]() -> net::awaitable<void> {
    co_await db.call(read_checkpoint);
    answered = true;
  });
  EXPECT_GE(ticks, 5) << "the loop was blocked while the database call ran";
}

TEST(Database, CallsMadeBeforeTheDatabaseOpensWaitForIt) {
  net::io_context ioc;
  auto log = std::make_shared<fake_store::log>();
  std::atomic<int> attempts{0};
  database db(
      ioc.get_executor(),
      [log, &attempts]() -> std::unique_ptr<store> {
        if (++attempts < 2) throw store_error("fake: connection refused");
        return std::make_unique<fake_store>(log);
      },
      "fake");
  EXPECT_FALSE(db.up());
  db.post([](store& s) { s.delivered("msg_a"); }, "a delivery");
  run_coroutine(ioc, [&]() -> net::awaitable<void> {
    co_await db.call(committing("r"));
  });
  EXPECT_EQ(attempts, 2);  // retried after 1 s
  EXPECT_TRUE(db.up());
  std::lock_guard lock(log->mutex);
  EXPECT_EQ(log->calls, (std::vector<std::string>{"delivered msg_a", "commit r"}));
}

TEST(Database, DestroyingAWorkerFinishesTheCallsAlreadyMade) {
  net::io_context ioc;
  auto log = std::make_shared<fake_store::log>();
  {
    database db(
        ioc.get_executor(), [log] { return std::make_unique<fake_store>(log); }, "fake");
    log->sleep_ms = 50;
    for (const char* id : {"msg_a", "msg_b", "msg_c"})
      db.post([id = std::string(id)](store& s) { s.delivered(id); }, "a delivery");
  }
  std::lock_guard lock(log->mutex);
  EXPECT_EQ(log->calls,
            (std::vector<std::string>{"delivered msg_a", "delivered msg_b", "delivered msg_c"}));
}

TEST(Database, ABlockingCallGivesUpAtItsLimit) {
  net::io_context ioc;
  auto log = std::make_shared<fake_store::log>();
  database db(
      ioc.get_executor(), [log] { return std::make_unique<fake_store>(log); }, "fake");
  log->sleep_ms = 300;
  EXPECT_THROW(db.call_blocking<std::optional<std::int64_t>>(
                   [](store& s) { return s.checkpoint("r"); }, 50ms),
               store_error);
}
