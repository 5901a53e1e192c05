// The rule runner's own state, shared by the files it is written in: rule_runner.cpp (a rule's
// loop and polls, what a finished poll means, a reload's rule half, --once), rule_memory.cpp
// (what a rule remembers in the state database) and rule_leases.cpp (replicas: which rules this
// one polls). Private: included by those files only. Use from the event loop's thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/system_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "evaluate/step.hpp"
#include "fetch/query.hpp"
#include "run/rule_runner.hpp"
#include "run/task_group.hpp"
#include "state/expiry.hpp"

namespace qoewatch::http {
class client;
}

namespace qoewatch::run {

namespace net = boost::asio;
using steady = std::chrono::steady_clock;
using system_clock = std::chrono::system_clock;

// Named, not anonymous: rule_runner::impl, defined here for the runner's three files, holds
// rule_tasks, which must be one type in all three.
namespace detail {

// One rule's task and what it remembers.
struct rule_task {
  config::rule_config rule;
  // The source it polls (SmartSight's settings, client and key): a reload that changes it
  // replaces the task. Everything else (sinks, max_catchup) is read from the runner's world,
  // the one in effect now.
  const rule_world world;
  fetch::listsessions_query query;
  evaluate::rule_state state;
  std::optional<std::int64_t> durable_checkpoint;  // the checkpoint the database holds
  // Replicas: the epoch of the rule's lease its state was read under. Another epoch means
  // another replica polled the rule meanwhile: its state is read back before polling.
  std::int64_t epoch = 0;
  std::optional<double> last_poll;  // when its last poll ended (epoch seconds)
  task_group::id id = 0;
  // Replicas: while the rule's lease is another replica's, its loop sleeps on this timer
  // (its own), and the lease round that hands this replica the lease wakes it.
  net::system_timer* parked = nullptr;
  rule_task(config::rule_config r, rule_world w)
      : rule(std::move(r)), world(std::move(w)), query(world.cfg->smartsight, rule) {}
};

}  // namespace detail

using detail::rule_task;
using evaluate::firing;

struct rule_runner::impl : std::enable_shared_from_this<impl> {
  impl(net::any_io_executor e, rule_parts p, bool o) : ex(std::move(e)), parts(p), once(o) {}

  net::any_io_executor ex;
  rule_parts parts;
  bool once;
  rule_world world;
  std::map<std::string, std::shared_ptr<rule_task>> tasks;
  // By rule: the newest task that polls it, kept after the rule is removed so that a rule
  // added back waits for it too.
  std::map<std::string, task_group::id> last_task;
  // SmartSight clients replaced by a reload while tasks may still poll with them: aborted
  // at shutdown with the current one.
  std::vector<std::shared_ptr<http::client>> old_clients;
  evaluate::notified_sessions notified;
  state::expiry_schedule expiry;
  std::optional<system_clock::time_point> latest_poll;
  std::function<void()> polled;
  // Replicas (parts.leased): the rule leases this replica holds, until when it may trust
  // each (lease/lease.hpp held_until). A rule polls only while its lease is held here.
  struct lease_hold {
    std::int64_t epoch = 0;
    steady::time_point until{};
  };
  std::map<std::string, lease_hold> leases;
  bool leases_known = false;  // a lease round has answered since start

  // ---- rule_runner.cpp: a rule's loop and polls ----

  evaluate::step_env env_for(const rule_task& t);

  // Writes a step's commit as it asks; `what` names it when the database makes it wait.
  // `epoch`: of the rule's lease it was decided under (0: not fenced).
  void write(evaluate::step_effects& fx, const std::string& what, std::int64_t epoch);

  // Applies what a finished poll means. Returns false when it failed.
  bool conclude(rule_task& t, const evaluate::poll_outcome& out, double seconds);

  net::awaitable<evaluate::poll_outcome> poll(rule_task& t, std::function<bool()> cancelled);

  // A poll, shielded from its task's cancellation: an exchange is never cut in the middle
  // (the shutdown deadline aborts the client instead); the poll stops at its next page.
  net::awaitable<evaluate::poll_outcome> shielded_poll(std::shared_ptr<rule_task> t,
                                                       std::function<bool()> cancelled);

  // Waits until the wall clock reaches `t`, in steps of at most a minute, so that a clock
  // stepped back or forth (NTP) delays no poll by more than that; cut short when cancelled.
  net::awaitable<void> wait_until(net::system_timer& timer, system_clock::time_point t,
                                  const std::function<bool()>& cancelled);

  // Replicas: sleeps while the rule's lease is not held here, until a lease round hands it
  // over (hold() cancels the timer) or the task is cancelled. Wakes once a minute anyway.
  net::awaitable<void> park(rule_task& t, net::system_timer& timer,
                            const std::function<bool()>& cancelled);

  // One rule's loop: polls on its schedule until its task is cancelled. The schedule is on
  // the wall clock (schedule.hpp): a process started at any moment judges the same windows.
  net::awaitable<void> loop(std::shared_ptr<rule_task> t,
                            std::optional<task_group::id> predecessor);

  // --once: one rule, slice after slice while it catches up.
  net::awaitable<void> poll_once(std::shared_ptr<rule_task> t, bool& ok);

  // ---- rule_memory.cpp: what a rule remembers ----

  net::awaitable<std::map<std::string, rule_runner::memory>> recall_rules(
      const config::reload_plan& plan);

  // Takes back what a rule that was not running remembers: the sessions a window can still
  // hold, and its firing incident.
  void remember(rule_task& t, const memory& m);

  // Resolves what the state database recorded for `name` as firing (its incident, or its
  // groups) that no rule of the config judges any more, on the sinks told of it that are
  // still configured.
  void resolve_recorded(const std::string& name, const std::string& why,
                        const state::incident_row* incident,
                        const std::vector<state::incident_row>& groups);

  void resolve(rule_task& t);

  // Forgets the rule's notified pairs no future window can hold: in memory at once, in the
  // database when the expiry schedule says so (pairs of rules no longer configured go too,
  // once no catch-up can reach them).
  void forget_expired(rule_task& t, std::int64_t now);

  // ---- rule_leases.cpp: replicas, which rules this one polls ----

  // The epoch of the rule's lease, when this replica may poll it now (always 0 alone).
  std::optional<std::int64_t> held_epoch(const std::string& rule) const;

  std::vector<std::string> owned_rules() const;

  void publish_ownership();

  // Whether this replica may poll the rule now. A lease newly held, or held again after
  // another replica polled the rule, first reads the rule's state back from the database:
  // its checkpoint, notified sessions and incident are that replica's now.
  net::awaitable<bool> owns(std::shared_ptr<rule_task> t);
};

}  // namespace qoewatch::run
