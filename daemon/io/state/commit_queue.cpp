#include "state/commit_queue.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/steady_timer.hpp>

#include "state/group_commit.hpp"
#include "state/store.hpp"

namespace qoewatch::state {

namespace net = boost::asio;
using steady = std::chrono::steady_clock;

struct commit_queue::impl {
  impl(net::any_io_executor ex, store* d, std::function<void(std::vector<outbox_row>&)> h,
       std::function<void(const std::string&, std::int64_t)> dur)
      : db(d), hand(std::move(h)), durable(std::move(dur)), timer(ex) {}

  store* db;
  std::function<void(std::vector<outbox_row>&)> hand;
  std::function<void(const std::string&, std::int64_t)> durable;
  group_commit_policy policy;
  std::vector<poll_commit> pending;                   // polls waiting for their transaction
  std::map<std::string, std::int64_t> checkpoints;    // by rule, moved alone, not yet written
  net::steady_timer timer;
  bool scheduled = false;

  void schedule(steady::time_point at) {
    if (scheduled) return;
    scheduled = true;
    timer.expires_at(at);
    timer.async_wait([this](const boost::system::error_code& ec) {
      scheduled = false;
      if (!ec) write();
    });
  }

  // The queued commits, then the deferred checkpoints (newer than any queued one), in one
  // transaction; then the commits' notifications go to their sinks.
  bool write() {
    if (!db || (pending.empty() && checkpoints.empty())) return true;
    const steady::time_point now = steady::now();
    policy.wrote(now);
    std::vector<poll_commit> batch = std::move(pending);
    pending.clear();
    const std::size_t polls = batch.size();
    for (const auto& [rule, end] : checkpoints) {
      batch.emplace_back();
      batch.back().rule = rule;
      batch.back().checkpoint = end;
    }
    commit_result result;
    try {
      result = db->commit(batch);
    } catch (const std::exception& e) {
      batch.resize(polls);
      pending = std::move(batch);
      spdlog::critical(
          "could not record {} poll(s) and the checkpoints of {} rule(s) in the state "
          "database: {}; retrying every second, their notifications wait",
          polls, checkpoints.size(), e.what());
      schedule(policy.retry_at(now));
      return false;
    }
    for (const poll_commit& c : batch) {
      if (!c.checkpoint) continue;
      checkpoints.erase(c.rule);
      durable(c.rule, *c.checkpoint);
    }
    if (!result.duplicate_ids.empty()) drop_duplicates(batch, polls, result.duplicate_ids);
    for (std::size_t i = 0; i < polls; ++i) hand(batch[i].outbox);
    return true;
  }

  // Rows the outbox already held are queued for delivery already (or were delivered): they
  // are not handed on again. Of the rows of one id in this batch, the store wrote the first
  // (unless an older row had the id), and reported each of the others.
  static void drop_duplicates(std::vector<poll_commit>& batch, std::size_t polls,
                              const std::vector<std::string>& duplicate_ids) {
    std::map<std::string, std::size_t> keep;  // by id: how many of this batch's rows were written
    for (std::size_t i = 0; i < polls; ++i)
      for (const outbox_row& r : batch[i].outbox) ++keep[r.id];
    for (const std::string& id : duplicate_ids) --keep[id];
    for (std::size_t i = 0; i < polls; ++i) {
      std::erase_if(batch[i].outbox, [&keep](const outbox_row& r) {
        std::size_t& left = keep[r.id];
        if (left == 0) return true;
        --left;
        return false;
      });
    }
    spdlog::debug("{} notification(s) already in the outbox were not queued again",
                  duplicate_ids.size());
  }
};

commit_queue::commit_queue(net::any_io_executor ex, store* db,
                           std::function<void(std::vector<outbox_row>&)> hand,
                           std::function<void(const std::string&, std::int64_t)> durable)
    : impl_(std::make_unique<impl>(std::move(ex), db, std::move(hand), std::move(durable))) {}

commit_queue::~commit_queue() = default;

void commit_queue::queue(poll_commit c) {
  impl& q = *impl_;
  if (!q.db) return q.hand(c.outbox);
  // It carries the rule's newest checkpoint: an older deferred one must not follow it.
  if (c.checkpoint) q.checkpoints.erase(c.rule);
  q.pending.push_back(std::move(c));
  const steady::time_point now = steady::now();
  const steady::time_point at = q.policy.write_at(now);
  if (at <= now)
    q.write();
  else
    q.schedule(at);
}

void commit_queue::write_now(poll_commit c, const std::string& what) {
  impl& q = *impl_;
  if (!q.db) return q.hand(c.outbox);
  const std::string rule = c.rule;
  q.pending.push_back(std::move(c));
  if (!q.write()) spdlog::error("rule {}: {} waits for the state database", rule, what);
}

void commit_queue::defer_checkpoint(const std::string& rule, std::int64_t end) {
  if (impl_->db) impl_->checkpoints[rule] = end;
}

std::optional<std::int64_t> commit_queue::deferred(const std::string& rule) const {
  auto it = impl_->checkpoints.find(rule);
  if (it == impl_->checkpoints.end()) return std::nullopt;
  return it->second;
}

void commit_queue::poll_done() {
  if (impl_->policy.checkpoints_due(steady::now())) impl_->write();
}

bool commit_queue::write() {
  return impl_->write();
}

void commit_queue::cancel() {
  impl_->timer.cancel();
}

}  // namespace qoewatch::state
