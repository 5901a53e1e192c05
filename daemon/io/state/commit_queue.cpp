#include "state/commit_queue.hpp"

#include <spdlog/spdlog.h>
#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "state/database.hpp"
#include "state/group_commit.hpp"

namespace qoewatch::state {

namespace net = boost::asio;
using steady = std::chrono::steady_clock;

struct commit_queue::impl {
  impl(net::any_io_executor ex, database* d, std::function<void(std::vector<outbox_row>&)> h,
       std::function<void(const std::string&, std::int64_t)> dur,
       std::function<void(const std::string&, std::int64_t)> ref)
      : db(d),
        hand(std::move(h)),
        durable(std::move(dur)),
        refused(std::move(ref)),
        timer(ex),
        settled(ex) {}

  database* db;
  std::function<void(std::vector<outbox_row>&)> hand;
  std::function<void(const std::string&, std::int64_t)> durable;
  std::function<void(const std::string&, std::int64_t)> refused;
  group_commit_policy policy;
  std::vector<poll_commit> pending;  // polls waiting for their transaction
  struct moved_alone_checkpoint {
    std::int64_t end = 0;
    std::int64_t epoch = 0;  // of the rule's lease when it moved
    bool operator==(const moved_alone_checkpoint&) const = default;
  };
  std::map<std::string, moved_alone_checkpoint> checkpoints;  // by rule, not yet written
  std::vector<std::string> waiting;  // what at-once commits are (logged if they must wait)
  net::steady_timer timer;
  bool scheduled = false;
  bool in_flight = false;  // a transaction is with the database; the next waits for it
  bool last_ok = true;     // how the last transaction ended
  net::steady_timer settled;  // flush() waits on it; cancelled when a transaction ends
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  void schedule(steady::time_point at) {
    if (scheduled) return;
    scheduled = true;
    timer.expires_at(at);
    timer.async_wait([this](const boost::system::error_code& ec) {
      scheduled = false;
      if (!ec) write();
    });
  }

  bool idle() const { return pending.empty() && checkpoints.empty(); }

  // The queued commits, then the deferred checkpoints (newer than any queued one), in one
  // transaction; then the commits' notifications go to their sinks. With a database thread
  // the transaction ends later (finished); inline, before write() returns.
  void write() {
    if (!db || in_flight || idle()) return;
    const steady::time_point now = steady::now();
    policy.wrote(now);
    auto batch = std::make_shared<std::vector<poll_commit>>(std::move(pending));
    pending.clear();
    const std::size_t polls = batch->size();
    const std::size_t moved_alone = checkpoints.size();
    for (const auto& [rule, c] : checkpoints) {
      batch->emplace_back();
      batch->back().rule = rule;
      batch->back().checkpoint = c.end;
      batch->back().epoch = c.epoch;
    }
    std::vector<std::string> whats = std::move(waiting);
    waiting.clear();
    in_flight = true;
    db->then<commit_result>(
        [batch](store& s) { return s.commit(*batch); },
        [this, alive = alive, batch, polls, moved_alone, whats = std::move(whats)](
            std::exception_ptr error, commit_result result) mutable {
          if (!*alive) return;
          finished(*batch, polls, moved_alone, std::move(whats), error, result);
        });
  }

  void finished(std::vector<poll_commit>& batch, std::size_t polls, std::size_t moved_alone,
                std::vector<std::string> whats, std::exception_ptr error,
                const commit_result& result) {
    in_flight = false;
    const steady::time_point now = steady::now();
    if (error) {
      // Everything stays queued, before what came meanwhile, and is retried.
      batch.resize(polls);
      batch.insert(batch.end(), std::make_move_iterator(pending.begin()),
                   std::make_move_iterator(pending.end()));
      pending = std::move(batch);
      whats.insert(whats.end(), waiting.begin(), waiting.end());
      waiting = std::move(whats);
      std::string why = "unknown error";
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        why = e.what();
      }
      spdlog::critical(
          "could not record {} poll(s) and the checkpoints of {} rule(s) in the state "
          "database: {}; retrying every second, their notifications wait",
          polls, moved_alone, why);
      for (const std::string& w : waiting) spdlog::error("{} waits for the state database", w);
      last_ok = false;
      settled.cancel();
      schedule(policy.retry_at(now));
      return;
    }
    last_ok = true;
    // Commits of rules another replica took over were not written: their notifications are
    // that replica's to send now, and the rule's owner here hears that it lost the lease.
    std::vector<bool> written(batch.size(), true);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const poll_commit& c = batch[i];
      if (std::find(result.refused_rules.begin(), result.refused_rules.end(), c.rule) ==
          result.refused_rules.end())
        continue;
      written[i] = false;
      if (i < polls) batch[i].outbox.clear();
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const poll_commit& c = batch[i];
      if (c.checkpoint) {
        // A newer one deferred while this transaction was under way stays for the next.
        auto it = checkpoints.find(c.rule);
        if (it != checkpoints.end() && it->second.end == *c.checkpoint &&
            it->second.epoch == c.epoch)
          checkpoints.erase(it);
      }
      if (!written[i]) {
        refused(c.rule, c.epoch);
        continue;
      }
      if (c.checkpoint) durable(c.rule, *c.checkpoint);
    }
    if (!result.duplicate_ids.empty()) drop_duplicates(batch, polls, result.duplicate_ids);
    for (std::size_t i = 0; i < polls; ++i) hand(batch[i].outbox);
    settled.cancel();
    // Commits queued while this one was under way: their own transaction, on the policy.
    if (!pending.empty()) {
      const steady::time_point at = policy.write_at(now);
      if (at <= now)
        write();
      else
        schedule(at);
    }
  }

  // Rows the outbox already held are queued for delivery already (or were delivered): they
  // are not handed on again. Of the rows of one id in this batch, the store wrote the first
  // (unless an older row had the id), and reported each of the others.
  static void drop_duplicates(std::vector<poll_commit>& batch, std::size_t polls,
                              const std::vector<std::string>& duplicate_ids) {
    std::map<std::string, std::size_t> keep;  // by id: how many rows of this batch were written
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

commit_queue::commit_queue(net::any_io_executor ex, database* db,
                           std::function<void(std::vector<outbox_row>&)> hand,
                           std::function<void(const std::string&, std::int64_t)> durable,
                           std::function<void(const std::string&, std::int64_t)> refused)
    : impl_(std::make_unique<impl>(std::move(ex), db, std::move(hand), std::move(durable),
                                   refused ? std::move(refused)
                                           : [](const std::string&, std::int64_t) {})) {}

commit_queue::~commit_queue() {
  *impl_->alive = false;  // a transaction still with the database reports to no one
}

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
  q.waiting.push_back("rule " + c.rule + ": " + what);
  q.pending.push_back(std::move(c));
  q.write();
}

void commit_queue::defer_checkpoint(const std::string& rule, std::int64_t end,
                                    std::int64_t epoch) {
  if (impl_->db) impl_->checkpoints[rule] = {end, epoch};
}

std::optional<std::int64_t> commit_queue::deferred(const std::string& rule) const {
  auto it = impl_->checkpoints.find(rule);
  if (it == impl_->checkpoints.end()) return std::nullopt;
  return it->second.end;
}

void commit_queue::poll_done() {
  if (impl_->policy.checkpoints_due(steady::now())) impl_->write();
}

void commit_queue::write() {
  impl_->write();
}

net::awaitable<bool> commit_queue::flush() {
  impl& q = *impl_;
  if (!q.db) co_return true;
  // What is queued now is durable once no transaction is under way and nothing is queued;
  // one that fails ends the wait (it is retried by itself).
  for (;;) {
    if (!q.in_flight) {
      if (q.idle()) co_return q.last_ok;
      q.write();
      if (!q.in_flight) co_return q.last_ok;  // inline: already ended
    }
    q.settled.expires_at(steady::time_point::max());
    co_await q.settled.async_wait(net::as_tuple(net::use_awaitable));
    if (!q.last_ok) co_return false;
  }
}

bool commit_queue::write_blocking(std::chrono::milliseconds limit) {
  impl& q = *impl_;
  if (!q.db || q.idle()) return true;
  if (q.db->calls_inline()) {
    q.write();
    return q.last_ok && q.idle();
  }
  // The loop has stopped: nothing else will ever run a completion. What a transaction still
  // under way writes is durable when it ends; the rest is written here, waiting for it.
  std::vector<poll_commit> batch = std::move(q.pending);
  q.pending.clear();
  for (const auto& [rule, c] : q.checkpoints) {
    batch.emplace_back();
    batch.back().rule = rule;
    batch.back().checkpoint = c.end;
    batch.back().epoch = c.epoch;
  }
  try {
    q.db->call_blocking<commit_result>([&batch](store& s) { return s.commit(batch); }, limit);
    q.checkpoints.clear();
    return true;
  } catch (const std::exception& e) {
    spdlog::critical("could not record the last {} commit(s) in the state database: {}; the "
                     "next start polls those windows again",
                     batch.size(), e.what());
    return false;
  }
}

void commit_queue::cancel() {
  impl_->timer.cancel();
}

}  // namespace qoewatch::state
