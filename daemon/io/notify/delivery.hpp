// Delivery of one sink's outbox: a FIFO of notifications already written to the state
// database, drained by one coroutine. Each POST carries the Standard Webhooks headers
// (webhook-id stays the same on every retry and after restarts) and, with a secret, their
// signature. 2xx: delivered (the row leaves the outbox). 408, 429, 5xx and network failures:
// retried with full-jitter backoff from 1 s doubling to 5 min, honouring Retry-After. Other
// answers, and anything older than the sink's max_age: dead letters. Every sink has its own
// queue, connection and token-bucket rate limit, so one dead receiver delays no other.
// Not thread-safe: use from the event loop's thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "state/database.hpp"

namespace qoewatch::metrics {
class registry;
}

namespace qoewatch::notify {

/// The secrets one sink sends with: the signing key (webhook), routing key (PagerDuty), and
/// the URL when it came from url_file (it then replaces the config's empty url).
struct sink_secrets {
  std::string signing_key;
  std::string routing_key;
  std::string url;
  bool operator==(const sink_secrets&) const = default;
};

/// Moves an outbox row to the dead letters: stored, counted (the registry ignores sinks no
/// longer configured) and logged once. A store that cannot be written is logged; the row is
/// then tried again after a restart.
void bury(state::database& db, metrics::registry& metrics, const state::outbox_row& row,
          const std::string& reason);

class delivery {
 public:
  delivery(boost::asio::any_io_executor ex, const config::sink_config& sink, sink_secrets secrets,
           metrics::registry& metrics, state::database& db, std::chrono::milliseconds timeout);
  ~delivery();
  delivery(const delivery&) = delete;
  delivery& operator=(const delivery&) = delete;

  /// Queues a notification already committed to the outbox. For Alertmanager, rows of the
  /// same rule from earlier polls still waiting are dropped from the outbox: the new poll's
  /// alerts supersede them.
  void enqueue(state::outbox_row row);

  /// The delivery loop; returns after stop() once the POST in flight (if any) ended.
  boost::asio::awaitable<void> run();

  /// Stops delivering: the POST in flight may finish, nothing new starts. What is queued stays
  /// in the outbox for the next start.
  void stop();

  /// Delivers what is queued, then returns from run() (--once: nothing more will come).
  void finish();
  /// Stops delivering for good (the sink was removed, or changed type so its queued bodies no
  /// longer fit its new settings): the POST in flight finishes and counts as it ends; then
  /// every queued notification gets one last attempt with the old settings, and the first
  /// that fails becomes a dead letter with `reason`, with everything after it (kept for a
  /// replay). The outbox gauges are left to whichever delivery serves the name now.
  void retire(std::string reason);

  /// Aborts the POST in flight (after the shutdown grace period) and closes connections.
  void abort();

  /// New settings from a reload; queued notifications go to the new address. The POST in
  /// flight, if any, finishes first.
  void reconfigure(const config::sink_config& sink, sink_secrets secrets);

  // ---- replicas: a sink is delivered by the holder of its lease alone ----
  /// From now on (call before run()) the rows come from claims on the database, made by
  /// claims() while this replica holds the sink's lease, and nothing is sent while it does not.
  void lease_mode();
  /// The lease is held at `epoch`, trusted until `until`. At a new epoch whatever was queued
  /// under an older one is dropped (the rows stay in the outbox) and claimed afresh. When
  /// `until` passes with no renewal, sending pauses (nothing is dropped).
  void hold(std::int64_t epoch, std::chrono::steady_clock::time_point until);
  /// The lease is another's, or no one's: what is queued is dropped (the rows stay in the
  /// outbox for the holder); the POST in flight, if any, ends.
  void release();
  /// Claims at once: rows were committed for this sink.
  void claim();
  /// The claim loop (lease mode): every second, and at once after claim() or a new epoch;
  /// returns after stop().
  boost::asio::awaitable<void> claims();
  /// Whether this replica sends this sink's notifications now (always, out of lease mode).
  bool owned() const;
  /// The epoch of the sink's lease while this replica holds it (lease mode).
  std::optional<std::int64_t> lease_epoch() const;

  /// Notifications moved to the dead letters since start.
  std::size_t dead() const;
  /// Notifications not yet delivered, the one in flight included.
  std::size_t pending() const;
  /// When the oldest of them was written (epoch seconds); none when nothing waits.
  std::optional<double> oldest() const;
  /// True while a POST is on the wire.
  bool in_flight() const;
  /// True once run() has returned.
  bool finished() const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace qoewatch::notify
