// Replicas on PostgreSQL share the rules and the sinks through leases (lease/lease.hpp decides,
// the store's lease_round carries a round out). The keeper runs a round every lease_renew and
// tells the rule runner and the sinks which leases this replica holds now, and until when it
// may trust each; when a
// round fails (the database is unreachable) leases are let go as their time passes, so a
// replica cut off stops polling before another may take its rules. Use from the event loop.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>

namespace qoewatch::metrics {
class registry;
}
namespace qoewatch::state {
class database;
}
namespace qoewatch::notify {
class sink_set;
}

namespace qoewatch::run {

class rule_runner;

class lease_keeper {
 public:
  lease_keeper(boost::asio::any_io_executor ex, state::database& db, rule_runner& rules,
               notify::sink_set& sinks, metrics::registry& metrics, std::chrono::milliseconds ttl,
               std::chrono::milliseconds renew);

  /// Rounds every `renew` until stop(); never throws.
  boost::asio::awaitable<void> run();
  /// The rounds end (the one under way finishes first).
  void stop();
  /// A graceful stop: one round that releases every lease, so that the other replicas take
  /// the rules at their next round rather than after the ttl.
  boost::asio::awaitable<void> leave();

 private:
  boost::asio::awaitable<bool> round(bool leaving);

  state::database& db_;
  rule_runner& rules_;
  notify::sink_set& sinks_;
  metrics::registry& metrics_;
  std::chrono::milliseconds ttl_;
  std::chrono::milliseconds renew_;
  boost::asio::steady_timer timer_;
  bool stopped_ = false;
  bool failing_ = false;  // the last round failed (logged once per outage)
};

}  // namespace qoewatch::run
