#include "run/rule_runner.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/system_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <limits>

#include "duration.hpp"
#include "evaluate/step.hpp"
#include "export/metrics.hpp"
#include "fetch/poller.hpp"
#include "http/client.hpp"
#include "notify/sinks.hpp"
#include "redact.hpp"
#include "run/poll_log.hpp"
#include "run/task_group.hpp"
#include "schedule/schedule.hpp"
#include "state/commit_queue.hpp"
#include "state/expiry.hpp"
#include "state/database.hpp"

namespace qoewatch::run {

namespace net = boost::asio;
using steady = std::chrono::steady_clock;
using system_clock = std::chrono::system_clock;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

namespace {

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
  task_group::id id = 0;
  rule_task(config::rule_config r, rule_world w)
      : rule(std::move(r)), world(std::move(w)), query(world.cfg->smartsight, rule) {}
};

// Whether anything of the rule fires: its incident, or one of its groups.
bool firing(const evaluate::rule_state& s) {
  if (s.incident.firing) return true;
  for (const auto& [values, g] : s.groups)
    if (g.firing) return true;
  return false;
}

// A population rule's firing groups as the database holds them, back into its state.
void take_back_groups(evaluate::rule_state& s, const std::vector<state::incident_row>& rows) {
  for (const state::incident_row& row : rows) {
    std::vector<std::string> values;
    for (const auto& [dim, value] : row.group) values.push_back(value);
    incident::group_state& g = s.groups[values];
    g.firing = true;
    g.key = row.key;
    g.started_at = row.started_at;
    g.polls_below = row.polls_below;
  }
  s.committed_groups = rows;
}

}  // namespace

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

  // The epoch of the rule's lease, when this replica may poll it now (always 0 alone).
  std::optional<std::int64_t> held_epoch(const std::string& rule) const {
    if (!parts.leased) return 0;
    auto it = leases.find(rule);
    if (it == leases.end() || steady::now() >= it->second.until) return std::nullopt;
    return it->second.epoch;
  }

  std::vector<std::string> owned_rules() const {
    std::vector<std::string> out;
    for (const auto& [name, t] : tasks)
      if (held_epoch(name)) out.push_back(name);
    return out;
  }

  void publish_ownership() {
    const std::vector<std::string> owned = owned_rules();
    parts.metrics.set_rules_owned(owned.size(), tasks.size());
    if (!parts.leased) return;
    // Per-rule series only for the rules polled here: on the others they would go stale.
    parts.metrics.retain_rules(owned);
    for (const std::string& name : owned) {
      parts.metrics.add_rule(name);
      parts.metrics.set_firing(name, firing(tasks.at(name)->state));
    }
  }

  evaluate::step_env env_for(const rule_task& t) {
    evaluate::step_env env;
    env.cfg = world.cfg.get();
    env.query = &t.query;
    env.external_url = world.external_url;
    env.durable = parts.db != nullptr;
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

  net::awaitable<std::map<std::string, rule_runner::memory>> recall_rules(
      const config::reload_plan& plan);

  // Writes a step's commit as it asks; `what` names it when the database makes it wait.
  // `epoch`: of the rule's lease it was decided under (0: not fenced).
  void write(evaluate::step_effects& fx, const std::string& what, std::int64_t epoch) {
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

  // Takes back what a rule that was not running remembers: the sessions a window can still
  // hold, and its firing incident.
  void remember(rule_task& t, const memory& m) {
    const std::string& name = t.rule.name;
    auto now = static_cast<std::int64_t>(epoch_seconds(system_clock::now()));
    std::int64_t before =
        evaluate::forget_before(t.rule, now, t.state.checkpoint, world.cfg->max_catchup);
    std::size_t kept = 0;
    for (const state::notified_row& n : m.notified)
      if (n.ended_at >= before && notified.insert(name, n.sessionid, n.ended_at)) ++kept;
    // What was recorded under another kind of rule, or other dimensions, no longer means
    // the same (the rule was edited while qoewatch was stopped): it resolves now.
    const state::incident_row* stale_incident = nullptr;
    std::vector<state::incident_row> groups, stale_groups;
    for (const state::incident_row& g : m.groups) {
      std::vector<std::string> dims;
      for (const auto& [dim, value] : g.group) dims.push_back(dim);
      (t.rule.population() && dims == t.rule.group_by ? groups : stale_groups).push_back(g);
    }
    if (m.incident && t.rule.population())
      stale_incident = &*m.incident;
    else if (m.incident)
      t.state.incident = {true, m.incident->key, m.incident->started_at,
                          m.incident->polls_below};
    if (stale_incident || !stale_groups.empty())
      resolve_recorded(name, "rule edited while qoewatch was stopped", stale_incident,
                       stale_groups);
    if (t.rule.population()) {
      take_back_groups(t.state, groups);
      // The resolve above cleared the rule's group rows: the first poll writes them again.
      if (!stale_groups.empty() || stale_incident) t.state.committed_groups.reset();
    }
    parts.metrics.set_notified_sessions(notified.size());
    if (t.state.checkpoint || kept || t.state.incident.firing || !groups.empty())
      spdlog::info("rule {}: state {}: checkpoint {}, {} notified session(s){}{}", name,
                   parts.db->describe(),
                   t.state.checkpoint ? std::to_string(*t.state.checkpoint) : "none", kept,
                   t.state.incident.firing ? ", incident " + t.state.incident.key + " firing" : "",
                   groups.empty() ? "" : fmt::format(", {} group(s) firing", groups.size()));
  }

  // Resolves what the state database recorded for `name` as firing (its incident, or its
  // groups) that no rule of the config judges any more, on the sinks told of it that are
  // still configured.
  void resolve_recorded(const std::string& name, const std::string& why,
                        const state::incident_row* incident,
                        const std::vector<state::incident_row>& groups) {
    auto gone_rule = [&](const std::vector<std::string>& sinks) {
      config::rule_config gone;
      gone.name = name;
      gone.description = why;
      for (const std::string& sink : sinks)
        if (config::named(world.cfg->sinks, sink)) gone.sinks.push_back(sink);
      return gone;
    };
    if (incident) {
      rule_task t(gone_rule(incident->sinks), world);
      t.state.incident = {true, incident->key, incident->started_at, incident->polls_below};
      resolve(t);
    }
    if (!groups.empty()) {
      config::rule_config gone = gone_rule(groups.front().sinks);
      gone.when_text = "(" + why + ")";
      for (const auto& [dim, value] : groups.front().group) gone.group_by.push_back(dim);
      rule_task t(gone, world);
      take_back_groups(t.state, groups);
      resolve(t);
    }
  }

  void resolve(rule_task& t) {
    if (!firing(t.state)) return;
    if (t.state.incident.firing)
      spdlog::warn("rule {} was removed or changed kind while incident {} fired: resolving it",
                   t.rule.name, t.state.incident.key);
    for (const auto& [values, g] : t.state.groups)
      if (g.firing)
        spdlog::warn("rule {}: group {} no longer judged while incident {} fired: resolving it",
                     t.rule.name, evaluate::group_label(t.rule, values), g.key);
    evaluate::poll_outcome gone;
    gone.what = evaluate::poll_outcome::kind::removed;
    evaluate::step_effects fx = evaluate::step(t.rule, t.state, gone, notified,
                                               epoch_seconds(system_clock::now()), env_for(t));
    t.state = fx.next;
    write(fx,
          fx.incident_key.empty() ? "the resolve of rule " + t.rule.name + "'s groups"
                                  : "the resolve of incident " + fx.incident_key,
          t.epoch);
  }

  // Forgets the rule's notified pairs no future window can hold: in memory at once, in the
  // database when the expiry schedule says so (pairs of rules no longer configured go too,
  // once no catch-up can reach them).
  void forget_expired(rule_task& t, std::int64_t now) {
    const config::daemon_config& cfg = *world.cfg;
    notified.expire(t.rule.name,
                    evaluate::forget_before(t.rule, now, t.state.checkpoint, cfg.max_catchup));
    if (!parts.db) return;
    // From the checkpoint the database holds: after a crash, polling resumes from there.
    expiry.note(t.rule.name,
                evaluate::forget_before(t.rule, now, t.durable_checkpoint, cfg.max_catchup));
    std::optional<std::map<std::string, std::int64_t>> due = expiry.due(now);
    if (!due) return;
    const std::optional<std::int64_t> all_before =
        evaluate::forget_before_any(now, cfg.max_catchup, cfg.rules);
    expiry.forgotten();  // tried: a failure is tried again at the next due time
    parts.db->post(
        [due = std::move(*due), all_before](state::store& s) { s.forget_notified(due, all_before); },
        "could not forget expired sessions in the state database");
  }

  // Applies what a finished poll means. Returns false when it failed.
  bool conclude(rule_task& t, const evaluate::poll_outcome& out, double seconds) {
    const config::rule_config& rule = t.rule;
    const double now = epoch_seconds(system_clock::now());
    latest_poll = system_clock::now();
    const bool was_up = t.state.source_up;
    evaluate::step_effects fx = evaluate::step(rule, t.state, out, notified, now, env_for(t));
    t.state = fx.next;
    // Remembered for the rule's next polls. With --once, none follows its last slice (a
    // database, when there is one, has them): a million pairs need not be built to be freed.
    if (!once || out.behind) evaluate::remember(rule, out, fx, notified);

    metrics::poll_report report;
    report.success = out.what == evaluate::poll_outcome::kind::polled;
    report.duration_seconds = seconds;
    report.finished_at = now;
    if (!report.success) {
      parts.metrics.record_poll(rule.name, report);
      // SmartSight or a gateway in front of it may echo the request, key and all.
      const std::string error = redact(out.error, {t.world.api_key});
      if (was_up)
        spdlog::error("rule {}: poll failed, source marked down: {}", rule.name, error);
      else
        spdlog::warn("rule {}: poll failed again: {}", rule.name, error);
      write(fx, "the Alertmanager refresh", t.epoch);
      return false;
    }
    const evaluate::poll_facts& f = fx.facts;
    write(fx, "the poll", t.epoch);
    if (!was_up) spdlog::info("rule {}: source is back", rule.name);
    report.facts = f;
    parts.metrics.record_poll(rule.name, report);
    parts.metrics.set_firing(rule.name, firing(t.state));
    forget_expired(t, static_cast<std::int64_t>(now));
    parts.metrics.set_notified_sessions(notified.size());
    if (out.catchup_skipped > 0) {
      parts.metrics.record_catchup_skipped(rule.name, out.catchup_skipped);
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

  net::awaitable<evaluate::poll_outcome> poll(rule_task& t, std::function<bool()> cancelled) {
    // The task's own source, which no reload changes (a new one replaces the task; the
    // caller holds the task until the poll ends).
    fetch::page_source src{t.world.smartsight, &t.world.cfg->smartsight, &t.query,
                           t.world.api_key, std::move(cancelled)};
    fetch::catchup c = fetch::window_after(t.rule, system_clock::now(), t.state.checkpoint,
                                           world.cfg->max_catchup);
    co_return co_await fetch::poll(t.rule, src, c);
  }

  // A poll, shielded from its task's cancellation: an exchange is never cut in the middle
  // (the shutdown deadline aborts the client instead); the poll stops at its next page.
  net::awaitable<evaluate::poll_outcome> shielded_poll(std::shared_ptr<rule_task> t,
                                                       std::function<bool()> cancelled) {
    co_return co_await net::co_spawn(
        ex, poll(*t, std::move(cancelled)),
        net::bind_cancellation_slot(net::cancellation_slot(), net::use_awaitable));
  }

  // Waits until the wall clock reaches `t`, in steps of at most a minute, so that a clock
  // stepped back or forth (NTP) delays no poll by more than that; cut short when cancelled.
  net::awaitable<void> wait_until(net::system_timer& timer, system_clock::time_point t,
                                  const std::function<bool()>& cancelled) {
    using namespace std::chrono_literals;
    for (auto now = system_clock::now(); now < t && !cancelled(); now = system_clock::now()) {
      timer.expires_after(std::min<system_clock::duration>(t - now, 1min));
      co_await timer.async_wait(use_tuple);
    }
  }

  // Whether this replica may poll the rule now. A lease newly held, or held again after
  // another replica polled the rule, first reads the rule's state back from the database:
  // its checkpoint, notified sessions and incident are that replica's now.
  net::awaitable<bool> owns(std::shared_ptr<rule_task> t) {
    const std::optional<std::int64_t> epoch = held_epoch(t->rule.name);
    if (!epoch) co_return false;
    if (*epoch == t->epoch) co_return true;
    const std::string name = t->rule.name;
    config::reload_plan plan;
    plan.start = {name};
    plan.recall = {name};
    std::map<std::string, rule_runner::memory> read;
    std::string error;
    try {
      read = co_await recall_rules(plan);
    } catch (const state::store_error& e) {
      error = e.what();
    }
    if (!error.empty()) {
      spdlog::error("rule {}: cannot read its state to take it over: {}", name, error);
      co_return false;
    }
    if (held_epoch(name) != epoch) co_return false;  // lost again meanwhile
    rule_runner::memory m = std::move(read[name]);
    m.checkpoint = m.durable_checkpoint;  // what this process deferred is a past epoch's
    notified.expire(name, std::numeric_limits<std::int64_t>::max());
    t->state = {};
    t->state.checkpoint = m.checkpoint;
    t->durable_checkpoint = m.durable_checkpoint;
    t->epoch = *epoch;
    remember(*t, m);
    spdlog::info("rule {}: lease held (epoch {}): polling from checkpoint {}", name, *epoch,
                 m.checkpoint ? std::to_string(*m.checkpoint) : "none");
    co_return true;
  }

  // One rule's loop: polls on its schedule until its task is cancelled. The schedule is on
  // the wall clock (schedule.hpp): a process started at any moment judges the same windows.
  net::awaitable<void> loop(std::shared_ptr<rule_task> t,
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
        // Another replica's slot: this one waits for the next, on the same grid.
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

  // --once: one rule, slice after slice while it catches up.
  net::awaitable<void> poll_once(std::shared_ptr<rule_task> t, bool& ok) {
    const std::function<bool()> cancelled = co_await cancellation_check();
    for (bool behind = true; behind;) {
      steady::time_point started = steady::now();
      evaluate::poll_outcome out = co_await shielded_poll(t, cancelled);
      double seconds = std::chrono::duration<double>(steady::now() - started).count();
      ok = conclude(*t, out, seconds);
      behind = ok && out.behind && !cancelled();
    }
  }
};

rule_runner::rule_runner(net::any_io_executor ex, rule_parts parts, bool once)
    : impl_(std::make_shared<impl>(std::move(ex), parts, once)) {}

rule_runner::~rule_runner() = default;

net::awaitable<std::map<std::string, rule_runner::memory>> rule_runner::impl::recall_rules(
    const config::reload_plan& plan) {
  state::database* db = parts.db;
  if (!db) co_return std::map<std::string, memory>{};
  std::vector<std::string> recalled;
  for (const std::string& name : plan.start)
    if (std::find(plan.recall.begin(), plan.recall.end(), name) != plan.recall.end())
      recalled.push_back(name);
  // One call: a remote database is asked once, not once per rule. (A named function, not a
  // temporary in the co_await: GCC 12 destroys such temporaries twice.)
  std::function<std::map<std::string, memory>(state::store&)> read_all =
      [start = plan.start, recalled](state::store& s) {
        std::map<std::string, memory> read;
        for (const std::string& name : start)
          read[name].checkpoint = read[name].durable_checkpoint = s.checkpoint(name);
        if (recalled.empty()) return read;
        const std::vector<state::incident_row> incidents = s.incidents();
        const std::vector<state::incident_row> groups = s.group_incidents();
        for (const std::string& name : recalled) {
          memory& m = read[name];
          m.notified = s.notified(name);
          for (const state::incident_row& i : incidents)
            if (i.rule == name) m.incident = i;
          for (const state::incident_row& g : groups)
            if (g.rule == name) m.groups.push_back(g);
        }
        return read;
      };
  std::map<std::string, memory> out = co_await db->call(std::move(read_all));
  for (auto& [name, m] : out)
    if (auto d = parts.commits.deferred(name)) m.checkpoint = d;
  co_return out;
}

net::awaitable<std::map<std::string, rule_runner::memory>> rule_runner::recall(
    const config::reload_plan& plan) const {
  co_return co_await impl_->recall_rules(plan);
}

void rule_runner::resolve_removed(const config::reload_plan& plan) {
  for (const std::string& name : plan.removed)
    if (auto it = impl_->tasks.find(name); it != impl_->tasks.end()) impl_->resolve(*it->second);
}

net::awaitable<void> rule_runner::resolve_orphans(rule_world world) {
  impl& r = *impl_;
  using rows = std::vector<state::incident_row>;
  std::function<std::pair<rows, rows>(state::store&)> read = [](state::store& s) {
    return std::pair{s.incidents(), s.group_incidents()};
  };
  auto [incidents, groups] = co_await r.parts.db->call(std::move(read));
  r.world = std::move(world);
  for (const state::incident_row& i : incidents)
    if (!config::named(r.world.cfg->rules, i.rule))
      r.resolve_recorded(i.rule, "rule removed from the config while qoewatch was stopped", &i,
                         {});
  // Firing groups of population rules removed while qoewatch was stopped, rule by rule.
  std::map<std::string, rows> orphans;
  for (const state::incident_row& g : groups)
    if (!config::named(r.world.cfg->rules, g.rule)) orphans[g.rule].push_back(g);
  for (const auto& [name, orphan_rows] : orphans)
    r.resolve_recorded(name, "rule removed from the config while qoewatch was stopped", nullptr,
                       orphan_rows);
}

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

void rule_runner::durable(const std::string& rule, std::int64_t checkpoint) {
  if (auto it = impl_->tasks.find(rule); it != impl_->tasks.end())
    it->second->durable_checkpoint = checkpoint;
}

void rule_runner::hold(const std::vector<state::held_lease>& held,
                       const std::vector<lease::release>& released, steady::time_point until) {
  impl& r = *impl_;
  std::map<std::string, impl::lease_hold> next;
  for (const state::held_lease& h : held)
    if (h.kind == lease::kind::rule) next[h.name] = {h.epoch, until};
  std::size_t acquired = 0, rebalanced = 0, expired = 0;
  for (const auto& [name, h] : next) {
    auto it = r.leases.find(name);
    if (it == r.leases.end() || it->second.epoch != h.epoch) ++acquired;
  }
  for (const auto& [name, h] : r.leases) {
    if (next.contains(name)) continue;
    auto rel = std::find_if(released.begin(), released.end(), [&](const lease::release& x) {
      return x.kind == lease::kind::rule && x.name == name;
    });
    if (rel == released.end())
      ++expired;  // the database let it go: not renewed in time
    else if (rel->why == lease::release::reason::rebalanced)
      ++rebalanced;
  }
  if (acquired) r.parts.metrics.record_lease_change("acquired", acquired);
  if (rebalanced) r.parts.metrics.record_lease_change("rebalanced", rebalanced);
  if (expired) r.parts.metrics.record_lease_change("expired", expired);
  if (acquired || rebalanced || expired)
    spdlog::info("leases: {} rule(s) acquired, {} handed over, {} expired; {} of {} owned",
                 acquired, rebalanced, expired, next.size(), r.tasks.size());
  r.leases = std::move(next);
  r.leases_known = true;
  r.publish_ownership();
}

void rule_runner::expire_leases() {
  impl& r = *impl_;
  const steady::time_point now = steady::now();
  const std::size_t expired =
      std::erase_if(r.leases, [now](const auto& l) { return now >= l.second.until; });
  if (expired == 0) return;
  r.parts.metrics.record_lease_change("expired", expired);
  spdlog::warn("leases: {} rule lease(s) expired without a renewal: those rules wait", expired);
  r.publish_ownership();
}

void rule_runner::lost(const std::string& rule, std::int64_t epoch) {
  impl& r = *impl_;
  auto it = r.leases.find(rule);
  if (it == r.leases.end() || it->second.epoch != epoch) return;  // already let go
  r.leases.erase(it);
  r.parts.metrics.record_lease_change("fenced");
  spdlog::warn("rule {}: another replica holds its lease now; this one's last poll was not "
               "recorded and it stops polling the rule",
               rule);
  r.publish_ownership();
}

void rule_runner::release_all() {
  impl& r = *impl_;
  if (!r.parts.leased || r.leases.empty()) return;
  r.parts.metrics.record_lease_change("stopped", r.leases.size());
  r.leases.clear();
  r.publish_ownership();
}

std::vector<std::string> rule_runner::rule_names() const {
  std::vector<std::string> names;
  for (const auto& [name, t] : impl_->tasks) names.push_back(name);
  return names;
}

std::size_t rule_runner::rules_owned() const {
  return impl_->owned_rules().size();
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

std::optional<system_clock::time_point> rule_runner::last_poll() const {
  return impl_->latest_poll;
}

void rule_runner::on_poll(std::function<void()> f) {
  impl_->polled = std::move(f);
}

}  // namespace qoewatch::run
