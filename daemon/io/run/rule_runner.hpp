// The rules as running tasks: one coroutine per rule polls on the rule's schedule (io/fetch),
// asks the rule step (evaluate/step.hpp) what the poll means, and applies the effects it
// returns: commits to the queue, notified pairs to memory, metrics, logs. It also carries out
// the rule half of a reload plan (a replaced task ends before its successor polls, so a rule
// is never polled twice at once), resolves rules removed while firing, and runs --once.
// Use from the event loop's thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/reload_plan.hpp"
#include "service/status.hpp"
#include "service/status_page.hpp"
#include "silence/silence.hpp"
#include "state/records.hpp"
#include "state/store.hpp"

namespace qoewatch::http {
class client;
}
namespace qoewatch::metrics {
class registry;
}
namespace qoewatch::notify {
class sink_set;
}
namespace qoewatch::state {
class database;
class commit_queue;
}  // namespace qoewatch::state

namespace qoewatch::run {

class task_group;

/// What the daemon's parts the rules report to.
struct rule_parts {
  metrics::registry& metrics;
  state::commit_queue& commits;
  notify::sink_set& sinks;
  task_group& tasks;      // the rules' own group (cancelled as a whole at shutdown)
  state::database* db;    // none in a dry run
  // Replicas: a rule polls only while this replica holds its lease (see hold); alone, every
  // rule polls.
  bool leased = false;
  // The silences in effect (silence_keeper's), read by every step; null: none.
  const std::vector<silence::silence>* silences = nullptr;
};

/// The world the rules poll and render in; replaced as a whole by a reload.
struct rule_world {
  std::shared_ptr<const config::daemon_config> cfg;
  std::string api_key;
  std::shared_ptr<http::client> smartsight;
  std::string external_url;
};

class rule_runner {
 public:
  /// With `once`, apply() starts no loops: once() polls.
  rule_runner(boost::asio::any_io_executor ex, rule_parts parts, bool once);
  ~rule_runner();
  rule_runner(const rule_runner&) = delete;
  rule_runner& operator=(const rule_runner&) = delete;

  /// What the database remembers of the rules `plan` starts, read before anything changes so
  /// that a database that cannot be read fails a reload as a whole. Throws state::store_error.
  struct memory {
    std::optional<std::int64_t> checkpoint;          // the newest, written or not
    std::optional<std::int64_t> durable_checkpoint;  // the one the database holds
    std::vector<state::notified_row> notified;       // rules in plan.recall only
    std::optional<state::incident_row> incident;     // rules in plan.recall only
    std::vector<state::incident_row> groups;         // firing groups, plan.recall only
  };
  boost::asio::awaitable<std::map<std::string, memory>> recall(
      const config::reload_plan& plan) const;

  /// Resolves the firing incidents of the rules `plan` removes, in the world in effect (their
  /// resolves reach sinks the reload may retire next).
  void resolve_removed(const config::reload_plan& plan);
  /// Resolves incidents of rules removed while qoewatch was stopped (at start, in `world`).
  /// Throws state::store_error when the database cannot be read.
  boost::asio::awaitable<void> resolve_orphans(rule_world world);
  /// Carries out the rules of `plan` in `world` (the new one).
  void apply(const config::reload_plan& plan, rule_world world,
             const std::map<std::string, memory>& remembered);
  /// --once: every rule polls (slice after slice while it catches up). True when all
  /// succeeded.
  boost::asio::awaitable<bool> once();
  /// Stops every rule: no poll starts; one in flight ends at its next page.
  void stop();
  /// stop(), and the requests in flight are aborted: those of tasks a reload replaced too.
  void abort();

  /// The database now holds this checkpoint of `rule`.
  void durable(const std::string& rule, std::int64_t checkpoint);

  // ---- replicas: which rules this one polls ----
  /// After a lease round: the rule leases held now (others' kinds are ignored), trusted
  /// until `until`; `released` were handed over. Counts the changes, by reason.
  void hold(const std::vector<state::held_lease>& held,
            const std::vector<lease::release>& released, std::chrono::steady_clock::time_point until);
  /// No lease round answered: leases whose time passed are let go ("expired").
  void expire_leases();
  /// The database refused a commit of `rule` decided under `epoch`: another replica holds
  /// the rule now ("fenced").
  void lost(const std::string& rule, std::int64_t epoch);
  /// A graceful stop: every lease is let go ("stopped").
  void release_all();
  /// Every rule of the config, and those this replica polls.
  std::vector<std::string> rule_names() const;
  std::size_t rules_owned() const;
  /// "" when every rule has polled once; otherwise what /readyz says it waits for.
  std::string not_ready() const;
  /// The rules as `systemctl status` sums them up.
  std::vector<service::rule_state> status() const;
  /// The rules this process polls, and what of them fires, for the status page.
  void page(service::status_page& p) const;
  /// When the latest poll of any rule finished.
  std::optional<std::chrono::system_clock::time_point> last_poll() const;
  /// Called after each poll (the systemd status line is refreshed from it).
  void on_poll(std::function<void()> f);

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace qoewatch::run
