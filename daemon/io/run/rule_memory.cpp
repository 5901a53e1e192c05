// What a rule remembers in the state database: read back when it starts (recall, remember),
// resolved when no rule judges it any more (resolve_removed, resolve_orphans), forgotten when
// no window can reach it (forget_expired), and the checkpoint the database holds (durable).
#include "run/rule_runner.hpp"

#include <spdlog/spdlog.h>
#include <algorithm>

#include "duration.hpp"
#include "evaluate/step.hpp"
#include "export/metrics.hpp"
#include "run/rule_runner_impl.hpp"
#include "state/commit_queue.hpp"
#include "state/database.hpp"

namespace qoewatch::run {

namespace {

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
    g.told = row.sinks;
  }
  s.committed_groups = rows;
}

}  // namespace

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

void rule_runner::impl::remember(rule_task& t, const memory& m) {
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
    t.state.incident = {true, m.incident->key, m.incident->started_at, m.incident->polls_below,
                        m.incident->sinks};
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

void rule_runner::impl::resolve_recorded(const std::string& name, const std::string& why,
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
    t.state.incident = {true, incident->key, incident->started_at, incident->polls_below,
                        incident->sinks};
    resolve(t);
  }
  if (!groups.empty()) {
    // Each group was told its own sinks (a silence may have held some): the rule stands in
    // with all of them, and each group's resolve goes to those it told.
    std::vector<std::string> told;
    for (const state::incident_row& g : groups)
      for (const std::string& sink : g.sinks)
        if (std::find(told.begin(), told.end(), sink) == told.end()) told.push_back(sink);
    config::rule_config gone = gone_rule(told);
    gone.when_text = "(" + why + ")";
    for (const auto& [dim, value] : groups.front().group) gone.group_by.push_back(dim);
    rule_task t(gone, world);
    take_back_groups(t.state, groups);
    resolve(t);
  }
}

void rule_runner::impl::resolve(rule_task& t) {
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

void rule_runner::impl::forget_expired(rule_task& t, std::int64_t now) {
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

void rule_runner::durable(const std::string& rule, std::int64_t checkpoint) {
  if (auto it = impl_->tasks.find(rule); it != impl_->tasks.end())
    it->second->durable_checkpoint = checkpoint;
}

}  // namespace qoewatch::run
