// The rules' tasks: a rule's loop and its polls, what a finished poll means, a reload's rule
// half (apply) and --once. What a rule remembers is in rule_memory.cpp, which rules this replica
// polls in rule_leases.cpp; the runner's state is declared in rule_runner_impl.hpp.
#include "run/rule_runner.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/system_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>

#include "duration.hpp"
#include "evaluate/step.hpp"
#include "export/metrics.hpp"
#include "fetch/poller.hpp"
#include "http/client.hpp"
#include "notify/alert_labels.hpp"
#include "notify/sinks.hpp"
#include "redact.hpp"
#include "run/poll_log.hpp"
#include "run/poll_metrics.hpp"
#include "run/rule_runner_impl.hpp"
#include "run/task_group.hpp"
#include "schedule/schedule.hpp"
#include "schedule/time_interval.hpp"
#include "state/commit_queue.hpp"

namespace qoewatch::run {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

evaluate::step_env rule_runner::impl::env_for(const rule_task& t) {
  evaluate::step_env env;
  env.cfg = world.cfg.get();
  env.query = &t.query;
  env.external_url = world.external_url;
  env.durable = parts.db != nullptr;
  env.silences = parts.silences;
  // Without a database there is no transaction to wait for (the commit queue would hand the
  // rows on at once): each body is handed on, so printed, as soon as it is rendered.
  if (!env.durable)
    env.each_row = [this](state::outbox_row&& row) {
      std::vector<state::outbox_row> one;
      one.push_back(std::move(row));
      parts.sinks.hand(one);
    };
  return env;
}

void rule_runner::impl::write(evaluate::step_effects& fx, const std::string& what,
                              std::int64_t epoch) {
  fx.commit.epoch = epoch;
  switch (fx.durability) {
    case evaluate::write::nothing:
      break;
    case evaluate::write::checkpoint_only:
      parts.commits.defer_checkpoint(fx.commit.rule, *fx.commit.checkpoint, epoch);
      break;
    case evaluate::write::grouped:
      parts.commits.queue(std::move(fx.commit));
      break;
    case evaluate::write::at_once:
      parts.commits.write_now(std::move(fx.commit), what);
      break;
  }
}

bool rule_runner::impl::conclude(rule_task& t, const evaluate::poll_outcome& out, double seconds) {
  const config::rule_config& rule = t.rule;
  const double now = epoch_seconds(system_clock::now());
  latest_poll = system_clock::now();
  t.last_poll = now;
  const bool was_up = t.state.source_up;
  evaluate::step_effects fx = evaluate::step(rule, t.state, out, notified, now, env_for(t));
  t.state = fx.next;
  report_poll(parts.metrics, rule, out, fx, now, seconds);
  // Remembered for the rule's next polls. With --once, none follows its last slice (a
  // database, when there is one, has them): a million pairs need not be built to be freed.
  if (!once || out.behind) evaluate::remember(rule, out, fx, notified);

  if (out.what != evaluate::poll_outcome::kind::polled) {
    // SmartSight or a gateway in front of it may echo the request, key and all.
    const std::string error = redact(out.error, {t.world.api_key});
    if (was_up)
      spdlog::error("rule {}: poll failed, source marked down: {}", rule.name, error);
    else
      spdlog::warn("rule {}: poll failed again: {}", rule.name, error);
    write(fx, "the Alertmanager refresh", t.epoch);
    return false;
  }
  write(fx, "the poll", t.epoch);
  if (!was_up) spdlog::info("rule {}: source is back", rule.name);
  forget_expired(t, static_cast<std::int64_t>(now));
  parts.metrics.set_notified_sessions(notified.size());
  if (out.catchup_skipped > 0) {
    spdlog::warn(
        "rule {}: polling resumed after downtime longer than max_catchup ({}): sessions that "
        "ended in the {}s before {} were never checked",
        rule.name, format_duration(world.cfg->max_catchup), out.catchup_skipped,
        utc_rfc3339(static_cast<double>(out.window.start)));
  }
  log_poll(rule, out, fx, t.state, /*figures_at_info=*/parts.db == nullptr);
  parts.commits.poll_done();  // checkpoints that moved alone: written once a second
  return true;
}

net::awaitable<evaluate::poll_outcome> rule_runner::impl::poll(rule_task& t,
                                                               std::function<bool()> cancelled) {
  // The task's own source, which no reload changes (a new one replaces the task; the
  // caller holds the task until the poll ends).
  fetch::page_source src{t.world.smartsight, &t.world.cfg->smartsight, &t.query,
                         t.world.api_key, std::move(cancelled)};
  fetch::catchup c = fetch::window_after(t.rule, system_clock::now(), t.state.checkpoint,
                                         world.cfg->max_catchup);
  co_return co_await fetch::poll(t.rule, src, c);
}

net::awaitable<evaluate::poll_outcome> rule_runner::impl::shielded_poll(
    std::shared_ptr<rule_task> t, std::function<bool()> cancelled) {
  co_return co_await net::co_spawn(
      ex, poll(*t, std::move(cancelled)),
      net::bind_cancellation_slot(net::cancellation_slot(), net::use_awaitable));
}

net::awaitable<void> rule_runner::impl::wait_until(net::system_timer& timer,
                                                   system_clock::time_point t,
                                                   const std::function<bool()>& cancelled) {
  using namespace std::chrono_literals;
  for (auto now = system_clock::now(); now < t && !cancelled(); now = system_clock::now()) {
    timer.expires_after(std::min<system_clock::duration>(t - now, 1min));
    co_await timer.async_wait(use_tuple);
  }
}

net::awaitable<void> rule_runner::impl::park(rule_task& t, net::system_timer& timer,
                                             const std::function<bool()>& cancelled) {
  using namespace std::chrono_literals;
  t.parked = &timer;
  while (!held_epoch(t.rule.name) && !cancelled()) {
    timer.expires_after(1min);
    co_await timer.async_wait(use_tuple);
  }
  t.parked = nullptr;
}

net::awaitable<void> rule_runner::impl::loop(std::shared_ptr<rule_task> t,
                                             std::optional<task_group::id> predecessor) {
  const std::function<bool()> cancelled = co_await cancellation_check();
  net::system_timer timer(ex);
  system_clock::time_point due = schedule::first_due(t->rule, system_clock::now());
  co_await wait_until(timer, due, cancelled);
  // A rule is never polled twice at once, not even by a task a reload replaced: the wait
  // for the predecessor's end is not cut short by this task's own cancellation (a second
  // reload), so every successor waits for the whole chain.
  if (predecessor) co_await parts.tasks.ended(*predecessor);
  while (!cancelled()) {
    bool mine = true;
    if (parts.leased) mine = co_await owns(t);  // not in a && (GCC 12 coroutine bugs)
    if (!mine) {
      // Another replica's rule: this one sleeps until it holds the lease, then polls at the
      // rule's next due time, on the same grid.
      co_await park(*t, timer, cancelled);
      due = schedule::next(due, system_clock::now(), t->rule.interval, {}).next.due;
      co_await wait_until(timer, due, cancelled);
      continue;
    }
    steady::time_point started = steady::now();
    evaluate::poll_outcome out = co_await shielded_poll(t, cancelled);
    double seconds = std::chrono::duration<double>(steady::now() - started).count();
    if (cancelled()) break;
    const bool applied = conclude(*t, out, seconds);
    if (polled) polled();
    // Catching up after downtime: the next slice follows at once.
    const system_clock::time_point finished = system_clock::now();
    const schedule::following f =
        schedule::next(due, finished, t->rule.interval,
                       {.behind = applied && out.behind, .retry_after = out.retry_after});
    if (f.next.skipped) {
      // Usually a slow poll; also a first poll that started late in its slot.
      parts.metrics.record_skipped_polls(t->rule.name, f.next.skipped);
      spdlog::warn(
          "rule {}: poll took {:.1f}s and ended {:.1f}s after it was due, past the next due "
          "time; {} poll(s) skipped",
          t->rule.name, seconds, std::chrono::duration<double>(finished - due).count(),
          f.next.skipped);
    }
    if (f.retried)
      spdlog::warn("rule {}: SmartSight asked to retry after {}s", t->rule.name,
                   out.retry_after->count());
    due = f.next.due;
    if (applied && out.behind) continue;
    co_await wait_until(timer, f.wake, cancelled);
  }
}

net::awaitable<void> rule_runner::impl::poll_once(std::shared_ptr<rule_task> t, bool& ok) {
  const std::function<bool()> cancelled = co_await cancellation_check();
  for (bool behind = true; behind;) {
    steady::time_point started = steady::now();
    evaluate::poll_outcome out = co_await shielded_poll(t, cancelled);
    double seconds = std::chrono::duration<double>(steady::now() - started).count();
    ok = conclude(*t, out, seconds);
    behind = ok && out.behind && !cancelled();
  }
}

rule_runner::rule_runner(net::any_io_executor ex, rule_parts parts, bool once)
    : impl_(std::make_shared<impl>(std::move(ex), parts, once)) {}

rule_runner::~rule_runner() = default;

void rule_runner::apply(const config::reload_plan& plan, rule_world world,
                        const std::map<std::string, memory>& remembered) {
  impl& r = *impl_;
  if (r.world.smartsight && r.world.smartsight != world.smartsight)
    r.old_clients.push_back(r.world.smartsight);
  // A client only this list holds has no task polling with it any more.
  std::erase_if(r.old_clients, [](const auto& c) { return c.use_count() == 1; });
  r.world = std::move(world);
  const config::daemon_config& cfg = *r.world.cfg;
  std::map<std::string, evaluate::rule_state> carried;  // what restarted rules keep
  std::map<std::string, std::int64_t> carried_epochs;   // and under which lease epoch
  for (const std::vector<std::string>* gone : {&plan.removed, &plan.restart}) {
    for (const std::string& name : *gone) {
      auto it = r.tasks.find(name);
      if (it == r.tasks.end()) continue;
      if (gone == &plan.restart) {
        rule_task& old = *it->second;
        if (std::find(plan.resolve.begin(), plan.resolve.end(), name) != plan.resolve.end()) {
          // Edited so that what fired no longer means the same: resolved now.
          r.resolve(old);
          old.state.incident = {};
          old.state.groups.clear();
        }
        carried[name] = old.state;
        carried_epochs[name] = old.epoch;
      }
      r.parts.tasks.cancel(it->second->id);
      r.tasks.erase(it);
    }
  }
  std::vector<std::string> names;
  for (const config::rule_config& rule : cfg.rules) names.push_back(rule.name);
  r.notified.retain_rules(names);
  r.expiry.clear();
  r.parts.metrics.retain_rules(names);
  std::erase_if(r.leases, [&cfg](const auto& l) { return !config::named(cfg.rules, l.first); });
  for (const std::string& name : plan.start) {
    auto t = std::make_shared<rule_task>(*config::named(cfg.rules, name), r.world);
    // A restarted rule keeps its incident and groups; one that was not running reads them back.
    if (auto it = carried_epochs.find(name); it != carried_epochs.end()) t->epoch = it->second;
    if (auto it = carried.find(name); it != carried.end()) {
      t->state.incident = it->second.incident;
      if (t->rule.population()) {
        t->state.groups = it->second.groups;
        t->state.last_figures = it->second.last_figures;
        t->state.committed_groups = it->second.committed_groups;
      }
    }
    if (auto m = remembered.find(name); m != remembered.end()) {
      t->state.checkpoint = m->second.checkpoint;
      t->durable_checkpoint = m->second.durable_checkpoint;
      if (std::find(plan.recall.begin(), plan.recall.end(), name) != plan.recall.end())
        r.remember(*t, m->second);
    }
    r.tasks[name] = t;
    if (r.held_epoch(name)) {
      r.parts.metrics.add_rule(name);
      r.parts.metrics.set_firing(name, firing(t->state));
    }
    if (r.once) continue;
    std::optional<task_group::id> predecessor;
    if (auto it = r.last_task.find(name); it != r.last_task.end()) predecessor = it->second;
    t->id = r.parts.tasks.spawn(r.loop(t, predecessor), "rule " + name);
    r.last_task[name] = t->id;
  }
  r.parts.metrics.set_rules_owned(r.owned_rules().size(), r.tasks.size());
}

net::awaitable<bool> rule_runner::once() {
  auto keep = impl_;
  std::size_t failed = 0;
  std::vector<std::shared_ptr<bool>> results;
  for (auto& [name, t] : keep->tasks) {
    auto ok = std::make_shared<bool>(false);
    results.push_back(ok);
    keep->parts.tasks.spawn(
        [](std::shared_ptr<impl> r, std::shared_ptr<rule_task> task,
           std::shared_ptr<bool> result) -> net::awaitable<void> {
          co_await r->poll_once(task, *result);
        }(keep, t, ok),
        "rule " + name);
  }
  co_await keep->parts.tasks.join(steady::time_point::max());
  // Counted on every way out (a task that threw counts as failed), so --once can neither
  // hang nor pass on a failure.
  for (const auto& ok : results)
    if (!*ok) ++failed;
  co_return failed == 0;
}

void rule_runner::stop() {
  impl_->parts.tasks.cancel_all();
}

void rule_runner::abort() {
  stop();
  for (const auto& c : impl_->old_clients) c->abort();
  if (impl_->world.smartsight) impl_->world.smartsight->abort();
}

std::string rule_runner::not_ready() const {
  const impl& r = *impl_;
  if (r.parts.leased && !r.leases_known) return "waiting for the state database (no lease round yet)";
  std::string waiting;
  for (const auto& [name, t] : r.tasks)
    if (!t->state.polled_once && r.held_epoch(name))
      waiting += (waiting.empty() ? "" : ", ") + name;
  return waiting.empty() ? std::string{} : "waiting for the first poll of " + waiting;
}

std::vector<service::rule_state> rule_runner::status() const {
  std::vector<service::rule_state> rules;
  for (const auto& [name, t] : impl_->tasks)
    if (impl_->held_epoch(name))  // replicas: the rules polled here
      rules.push_back({name, t->state.polled_once, t->state.source_up, firing(t->state)});
  return rules;
}

void rule_runner::page(service::status_page& p) const {
  const auto now = system_clock::now();
  for (const auto& [name, t] : impl_->tasks) {
    if (!impl_->held_epoch(name)) continue;  // replicas: the rules polled here
    const config::rule_config& rule = t->rule;
    const evaluate::rule_state& s = t->state;
    const bool muted = schedule::muted(rule, impl_->world.cfg->time_intervals, now);
    service::page_rule r{name,
                         rule.population(),
                         format_duration(rule.interval),
                         t->last_poll,
                         s.source_up,
                         s.last_offending,
                         0,
                         muted};
    if (s.incident.firing) {
      r.firing = 1;
      service::page_incident i;
      i.rule = name;
      const silence::label_set labels = notify::incident_labels(rule, s.incident.key);
      i.labels.assign(labels.begin(), labels.end());
      i.key = s.incident.key;
      i.started_at = s.incident.started_at;
      i.offending = s.last_offending;
      i.muted = muted;
      p.firing.push_back(std::move(i));
    }
    std::size_t offending = 0;
    for (const auto& [values, g] : s.groups) {
      if (!g.firing) continue;
      ++r.firing;
      service::page_incident i;
      i.rule = name;
      i.group = evaluate::group_label(rule, values);
      const silence::label_set labels = notify::group_labels(rule, values, g.key);
      i.labels.assign(labels.begin(), labels.end());
      i.key = g.key;
      i.started_at = g.started_at;
      if (auto f = s.last_figures.find(values); f != s.last_figures.end()) {
        i.measured = f->second.measured;
        i.sessions = f->second.sessions;
        i.offending = f->second.offending;
        i.ratio = f->second.ratio;
      } else {
        i.ratio = 0;
      }
      i.muted = muted;
      p.firing.push_back(std::move(i));
    }
    if (rule.population()) {
      for (const auto& [values, f] : s.last_figures) offending += f.offending;
      r.offending = offending;
    }
    p.rules.push_back(std::move(r));
  }
}

std::optional<system_clock::time_point> rule_runner::last_poll() const {
  return impl_->latest_poll;
}

void rule_runner::on_poll(std::function<void()> f) {
  impl_->polled = std::move(f);
}

}  // namespace qoewatch::run
