// The set of sinks the daemon delivers to: one delivery (queue, connection, rate limit) per
// configured sink, each running as a task of the daemon's group. It applies the sink half of a
// reload plan (a reconfigured sink keeps its queue; a retired one turns what it owes into
// dead letters once its POST in flight ends), hands committed outbox rows to their sinks (a
// dry run prints them instead), and requeues what a previous run left in the outbox.
// Use from the event loop's thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/load.hpp"
#include "config/reload_plan.hpp"
#include "notify/delivery.hpp"
#include "service/status_page.hpp"
#include "state/records.hpp"

namespace qoewatch::metrics {
class registry;
}
namespace qoewatch::state {
class database;
}
namespace qoewatch::run {
class task_group;
}

namespace qoewatch::notify {

/// The secrets `sink` sends with, out of all of a config's.
sink_secrets secrets_of(const config::secrets& all, const std::string& sink);

class sink_set {
 public:
  /// Without a database (`db` null: a dry run) rows are printed to stdout, not delivered.
  /// `leased` (replicas on PostgreSQL): a sink is delivered only while this replica holds its
  /// lease (hold), from the outbox rows it claims.
  sink_set(boost::asio::any_io_executor ex, run::task_group& tasks, metrics::registry& metrics,
           state::database* db, bool leased = false);
  ~sink_set();
  sink_set(const sink_set&) = delete;
  sink_set& operator=(const sink_set&) = delete;

  /// Carries out the sinks of `plan` for `cfg` (the new config) and its secrets.
  void apply(const std::vector<config::sink_plan>& plan, const config::daemon_config& cfg,
             const config::secrets& secrets);
  /// Hands committed rows to their sinks' queues, in order (rows of unknown sinks are dropped:
  /// they stay in the outbox and a restart buries them, when not leased). Leased: the sinks
  /// this replica holds claim them from the database at once; the others' holders claim them
  /// within a second.
  void hand(std::vector<state::outbox_row>& rows);

  // ---- replicas ----
  /// The configured sinks, whose leases this replica asks for.
  std::vector<std::string> names() const;
  /// A lease round's answer: the sinks in `held` are delivered from here (trusted until
  /// `until`), the others are not.
  void hold(const std::vector<state::held_lease>& held, std::chrono::steady_clock::time_point until);
  /// A graceful stop: the leases were given up; nothing more is sent.
  void release_all();
  /// Sinks delivered from here now.
  std::size_t owned() const;
  /// Queues what a previous run left in the outbox; rows of sinks gone or changed in type
  /// become dead letters. Throws state::store_error when the outbox cannot be read.
  boost::asio::awaitable<void> requeue_outbox();
  /// Notifications not yet delivered (the ones in flight included).
  std::size_t pending() const;
  /// Each sink's outbox, for the status page.
  void page(service::status_page& p) const;
  /// Notifications given up on since start, by sinks still configured.
  std::size_t dead() const;
  /// Every delivery ends once its queue is empty (--once).
  void finish();
  /// Every delivery stops: the POST in flight may finish, the rest stays in the outbox.
  void stop();
  /// Aborts the POSTs in flight (after the grace period).
  void abort();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace qoewatch::notify
