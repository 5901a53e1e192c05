#include "state/database.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace qoewatch::state {

namespace net = boost::asio;
using namespace std::chrono_literals;

// The database thread: opens the store (retrying), then runs the jobs in order. A job is
// given nullptr when the store could not be opened before the database was destroyed.
struct database::worker {
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::function<void(store*)>> jobs;
  bool stopping = false;
  std::atomic<bool> up{false};
  std::unique_ptr<store> s;
  std::thread thread;

  void run(const opener& open, const std::string& description,
           const std::function<void(std::string)>& refused) {
    auto delay = 1s;
    while (!s) {
      try {
        s = open();
        up = true;
        spdlog::info("state database {} is open", description);
      } catch (const store_refused& e) {
        refused(e.what());
        break;
      } catch (const std::exception& e) {
        spdlog::error("cannot open the state database {}: {}; retrying in {}s", description,
                      e.what(), delay.count());
        std::unique_lock lock(mutex);
        if (wake.wait_for(lock, delay, [this] { return stopping; })) break;
        delay = std::min<std::chrono::seconds>(delay * 2, 10s);
      }
    }
    for (;;) {
      std::function<void(store*)> job;
      {
        std::unique_lock lock(mutex);
        wake.wait(lock, [this] { return stopping || !jobs.empty(); });
        if (jobs.empty()) break;  // stopping, and every job made has run
        job = std::move(jobs.front());
        jobs.pop_front();
      }
      job(s.get());
    }
    s.reset();
  }
};

database::database(net::any_io_executor loop, std::unique_ptr<store> s)
    : loop_(std::move(loop)), description_(s->describe()), inline_store_(std::move(s)) {}

database::database(net::any_io_executor loop, opener open, std::string description,
                   std::function<void(const std::string&)> refused)
    : loop_(std::move(loop)),
      description_(std::move(description)),
      worker_(std::make_unique<worker>()) {
  auto tell = [ex = loop_, refused = std::move(refused)](std::string why) {
    if (refused) net::post(ex, [refused, why = std::move(why)] { refused(why); });
  };
  worker_->thread = std::thread([w = worker_.get(), open = std::move(open), d = description_,
                                 tell = std::move(tell)] { w->run(open, d, tell); });
}

database::~database() {
  if (!worker_) return;
  {
    std::lock_guard lock(worker_->mutex);
    worker_->stopping = true;
  }
  worker_->wake.notify_all();
  worker_->thread.join();
}

void database::submit(std::function<void(store*)> job) {
  {
    std::lock_guard lock(worker_->mutex);
    worker_->jobs.push_back(std::move(job));
  }
  worker_->wake.notify_one();
}

void database::note(bool ok) {
  if (worker_) worker_->up = ok;
}

void database::post(std::function<void(store&)> fn, std::string failure) {
  auto report = [failure = std::move(failure)](const std::exception& e) {
    spdlog::critical("{}: {}", failure, e.what());
  };
  if (!worker_) {
    try {
      run_inline<bool>([&fn](store& s) {
        fn(s);
        return true;
      });
    } catch (const std::exception& e) {
      report(e);
    }
    return;
  }
  submit([fn = std::move(fn), report, this](store* s) {
    try {
      if (!s) throw store_error(description_ + ": not open");
      fn(*s);
      note(true);
    } catch (const std::exception& e) {
      note(false);
      report(e);
    }
  });
}

bool database::up() const {
  return worker_ ? worker_->up.load() : inline_up_;
}

}  // namespace qoewatch::state
