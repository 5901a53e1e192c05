#include "evaluate/population_step.hpp"

#include <algorithm>
#include <set>

#include "evaluate/hold.hpp"
#include "notify/alert_labels.hpp"
#include "notify/message_id.hpp"

namespace qoewatch::evaluate {

namespace {

using transition = incident::transition;

std::optional<double> value_of(const notify::group_info& g, std::string_view operand) {
  if (operand == "sessions") return static_cast<double>(g.sessions);
  if (operand == "offending") return static_cast<double>(g.offending);
  if (operand == "ratio") return g.ratio;
  for (const auto& [name, value] : g.aggregates)
    if (name == operand) return value;
  return std::nullopt;
}

// Which of the rule's sinks hear a group event.
enum class audience {
  all,           // a group that fires
  alertmanager,  // a firing group re-sent, so that Alertmanager does not let it expire
  untold,        // a firing group not yet told to these (held when it fired): all but
                 // Alertmanager (which hears it with the re-send), less those told
  told,          // a group that resolves: the sinks told of its firing
};

// The outbox rows of one group event for its audience among the rule's sinks still
// configured. `kind` and `slot` name the event in the rows' ids (see notify::message_key).
// When `held`, nothing is rendered into rows: each sink that would have been told counts a
// notification silenced (but a late telling that is still held counts nothing: it was
// counted when the group fired). Sinks told are added to `told`.
std::vector<state::outbox_row> render(const config::rule_config& rule, notify::group_event e,
                                      audience who, std::string_view kind, std::int64_t slot,
                                      double now, const step_env& env, bool held,
                                      std::vector<std::string>& told,
                                      std::map<std::string, std::size_t>& silenced) {
  std::vector<state::outbox_row> rows;
  e.rule = &rule;
  e.now = now;
  e.ctx.external_url = env.external_url;
  e.ctx.customer_id = env.cfg->smartsight.customer_id;
  e.ctx.query = env.query->url(e.ctx.window, 0);
  auto was_told = [&](const std::string& name) {
    return std::find(told.begin(), told.end(), name) != told.end();
  };
  // A resolve goes to the sinks told of the firing, even one the rule no longer names (and
  // adds none to them, so `told` is not changed while it is walked).
  const std::vector<std::string>& names = who == audience::told ? told : rule.sinks;
  for (const std::string& name : names) {
    const config::sink_config* sink = config::named(env.cfg->sinks, name);
    if (!sink) continue;
    const bool am = sink->type == config::sink_type::alertmanager;
    if ((who == audience::alertmanager && !am) ||
        (who == audience::untold && (am || was_told(name))))
      continue;
    if (held && who != audience::told) {
      if (who != audience::untold) ++silenced[name];
      continue;
    }
    e.ctx.receiver = name;
    notify::message_key id{rule.name, name, kind, e.incident.key, slot, 0, e.evidence};
    std::size_t before = rows.size();
    for (notify::rendered& r : notify::render_group(*sink, e)) {
      rows.push_back({notify::message_id(id), name, rule.name, std::move(r.body), now, 0, {},
                      std::string(config::to_string(sink->type))});
      ++id.part;
    }
    if (rows.size() > before && who != audience::told && !was_told(name)) told.push_back(name);
  }
  return rows;
}

notify::incident_info incident_of(const incident::group_state& g, bool resolved, double now,
                                  std::size_t offending) {
  return {g.key, resolved, g.started_at, now, offending};
}

std::vector<state::incident_row> firing_rows(const config::rule_config& rule,
                                             const incident::group_states& groups) {
  std::vector<state::incident_row> rows;
  for (const auto& [values, g] : groups) {
    if (!g.firing) continue;
    std::vector<std::pair<std::string, std::string>> group;
    for (std::size_t i = 0; i < rule.group_by.size() && i < values.size(); ++i)
      group.emplace_back(rule.group_by[i], values[i]);
    rows.push_back({rule.name, g.key, g.started_at, g.polls_below, g.told, std::move(group)});
  }
  return rows;
}

// The groups exported as metrics: firing ones always, then the largest up to max_groups.
std::vector<poll_facts::group> exported(const config::rule_config& rule,
                                        const std::vector<notify::group_info>& window,
                                        const incident::group_states& groups) {
  std::vector<poll_facts::group> out;
  std::set<std::vector<std::string>> shown;
  auto state_of = [&](const std::vector<std::string>& values) {
    auto it = groups.find(values);
    return it == groups.end() ? incident::group_state{} : it->second;
  };
  for (const notify::group_info& g : window) {
    const incident::group_state s = state_of(g.values);
    if (s.firing) {
      out.push_back({g.label, g, true, 0});
      shown.insert(g.values);
    }
  }
  for (const auto& [values, s] : groups) {
    if (!s.firing || shown.contains(values)) continue;
    notify::group_info absent;
    absent.values = values;
    absent.label = group_label(rule, values);
    out.push_back({absent.label, absent, true, 0});
    shown.insert(values);
  }
  const auto cap = static_cast<std::size_t>(std::max(rule.max_groups, 1));
  for (const notify::group_info& g : window) {
    if (out.size() >= cap) break;
    if (shown.contains(g.values)) continue;
    out.push_back({g.label, g, false, state_of(g.values).pending});
  }
  return out;
}

}  // namespace

notify::group_info info_of(const config::rule_config& rule, const group_figures& g) {
  notify::group_info info;
  info.values = g.values;
  info.label = group_label(rule, g.values);
  info.measured = true;
  info.sessions = g.sessions;
  info.offending = g.offending;
  info.ratio = g.ratio;
  for (std::size_t i = 0; i < rule.aggregates.size() && i < g.aggregates.size(); ++i)
    info.aggregates.emplace_back(rule.aggregates[i].text, g.aggregates[i]);
  return info;
}

incident::group_verdict judge(const config::rule_config& rule, const notify::group_info& g) {
  if (!g.measured || g.sessions < static_cast<std::size_t>(std::max(rule.min_sample, 1)))
    return {false, true};
  auto lookup = [&g](std::string_view operand) { return value_of(g, operand); };
  const bool holds = rules::evaluate(rule.when, lookup).value_or(false);
  // A group that meets `when` is never quiet, whatever resolve_when says (it may overlap
  // when, or read an aggregate the group lacks): it would resolve and fire again next poll.
  const bool quiet =
      !holds &&
      (!rule.resolve_when || rules::evaluate(*rule.resolve_when, lookup).value_or(true));
  return {holds, quiet};
}

step_effects population_step(const config::rule_config& rule, const rule_state& current,
                             const poll_outcome& out, double now, const step_env& env) {
  step_effects fx;
  fx.next = current;
  const bool polled = out.what == poll_outcome::kind::polled && out.figures;
  const bool removed = out.what == poll_outcome::kind::removed;
  const fetch::window window =
      polled ? out.window : fetch::window_at(rule, from_epoch_seconds(now));
  state::poll_commit& c = fx.commit;
  c.rule = rule.name;

  if (!polled && !removed) {
    // A failed poll neither fires nor resolves; Alertmanager is told the firing groups
    // again so that it does not let them expire through the outage.
    fx.next.polled_once = true;
    fx.next.source_up = false;
    if (!env.durable) return fx;
    const holds h(rule, *env.cfg, env.silences, now);
    bool told_more = false;
    for (const auto& [values, g] : current.groups) {
      if (!g.firing) continue;
      notify::group_event e;
      auto last = current.last_figures.find(values);
      e.group = last != current.last_figures.end() ? last->second : notify::group_info{};
      e.group.values = values;
      e.group.label = group_label(rule, values);
      e.incident = incident_of(g, false, now, e.group.offending);
      e.ctx.window = window;
      incident::group_state& next = fx.next.groups[values];
      const bool held = h.any() && h.held(notify::group_labels(rule, values, g.key));
      for (state::outbox_row& r : render(rule, std::move(e), audience::alertmanager, "refresh",
                                         window.end, now, env, held, next.told, fx.silenced))
        c.outbox.push_back(std::move(r));
      told_more = told_more || next.told != g.told;
    }
    if (told_more) {
      // Told for the first time (a silence ended during the outage): its resolve must reach it.
      c.groups = firing_rows(rule, fx.next.groups);
      fx.next.committed_groups = c.groups;
    }
    if (!c.outbox.empty()) fx.durability = write::at_once;
    return fx;
  }

  // The groups judged now: those of the window, and those with a state that are absent.
  std::vector<notify::group_info> window_groups;
  std::map<std::vector<std::string>, const group_figures*> by_values;
  if (polled) {
    for (const group_figures& g : out.figures->groups) {
      window_groups.push_back(info_of(rule, g));
      by_values[g.values] = &g;
    }
  }
  incident::group_states next_groups;
  std::map<std::vector<std::string>, notify::group_info> last_figures;
  const holds h(rule, *env.cfg, env.silences, now);
  auto advance = [&](const notify::group_info& info) {
    auto it = current.groups.find(info.values);
    const incident::group_state before = it == current.groups.end() ? incident::group_state{}
                                                                     : it->second;
    incident::group_step_result r;
    if (removed) {
      r = {{}, before.firing ? transition::resolved : transition::none};
    } else {
      // Named after the window that fired the group (see step.cpp), not the poll's moment.
      r = incident::step_group(rule, before, judge(rule, info), info.label,
                               static_cast<double>(window.end));
    }
    if (r.next.firing || r.next.pending > 0) next_groups[info.values] = r.next;
    if (r.next.firing) {
      // A firing group absent from the window keeps the figures it last showed: the resolve
      // and the Alertmanager refresh of a failed poll tell those, not an empty group.
      auto last = current.last_figures.find(info.values);
      last_figures[info.values] =
          info.measured || last == current.last_figures.end() ? info : last->second;
    }
    // The group fires, or is told late, with the window's evidence (absent from it: none).
    std::vector<const fetch::session_row*> evidence;
    auto firing_event = [&](const incident::group_state& g) {
      notify::group_event e;
      e.group = last_figures[info.values];  // a firing group absent from the window: its last
      evidence.clear();
      if (auto f = by_values.find(info.values); f != by_values.end())
        for (const fetch::session_row& row : f->second->evidence) evidence.push_back(&row);
      e.evidence = evidence;
      e.incident = incident_of(g, false, now, info.offending);
      e.ctx.window = window;
      return e;
    };
    auto add = [&](std::vector<state::outbox_row>&& rows) {
      for (state::outbox_row& row : rows) c.outbox.push_back(std::move(row));
    };
    const bool held = !removed && r.next.firing && h.any() &&
                      h.held(notify::group_labels(rule, info.values, r.next.key));
    if (r.change == transition::none) {
      if (r.next.firing && polled) {
        incident::group_state& next = next_groups[info.values];
        // Alertmanager forgets alerts that are not re-sent: the firing group is, each poll.
        notify::group_event e;
        e.group = info;
        e.incident = incident_of(r.next, false, now, info.offending);
        e.ctx.window = window;
        add(render(rule, std::move(e), audience::alertmanager, "window", window.end, now, env, held,
                   next.told, fx.silenced));
        // The other sinks hear of it now if a silence or mute held it back when it fired.
        add(render(rule, firing_event(r.next), audience::untold, "fired", 0, now, env, held,
                   next.told, fx.silenced));
      }
      return;
    }
    const bool fired = r.change == transition::fired;
    if (fired) {
      add(render(rule, firing_event(r.next), audience::all, "fired", 0, now, env, held,
                 next_groups[info.values].told, fx.silenced));
    } else {
      notify::group_event e;
      e.group = info;
      if (!info.measured) {
        // Not in the window: the resolve tells the figures it fired on last.
        if (auto last = current.last_figures.find(info.values);
            last != current.last_figures.end()) {
          e.group = last->second;
          e.group.measured = false;
        }
      }
      e.incident = incident_of(before, true, now, info.offending);
      e.ctx.window = window;
      std::vector<std::string> told = before.told;
      add(render(rule, std::move(e), audience::told, "resolved", 0, now, env, false, told,
                 fx.silenced));
    }
    fx.group_changes.push_back(
        {info.label, r.change, fired ? r.next.key : before.key, info});
  };
  for (const notify::group_info& info : window_groups) advance(info);
  for (const auto& [values, g] : current.groups) {
    if (polled && by_values.contains(values)) continue;
    notify::group_info absent;
    absent.values = values;
    absent.label = group_label(rule, values);
    advance(absent);
  }

  fx.next.groups = std::move(next_groups);
  fx.next.last_figures = std::move(last_figures);
  if (removed) {
    c.groups = std::vector<state::incident_row>{};
    fx.next.committed_groups = c.groups;
    fx.durability = fx.group_changes.empty() && current.groups.empty() ? write::nothing
                                                                       : write::at_once;
    if (!fx.group_changes.empty()) fx.change = transition::resolved;
    return fx;
  }

  c.checkpoint = out.window.end;
  std::vector<state::incident_row> firing = firing_rows(rule, fx.next.groups);
  fx.next.polled_once = true;
  fx.next.source_up = true;
  fx.next.checkpoint = out.window.end;
  fx.next.last_group_count = window_groups.size();
  const bool groups_moved = !current.committed_groups || *current.committed_groups != firing;
  if (groups_moved) c.groups = firing;
  if (c.outbox.empty() && !groups_moved) {
    fx.durability = write::checkpoint_only;
  } else {
    fx.durability = write::grouped;
    fx.next.committed_groups = std::move(firing);
  }

  poll_facts& f = fx.facts;
  f.rows_fetched = out.figures->rows_fetched;
  for (const notify::group_info& g : window_groups) f.offending += g.offending;
  f.skipped = out.figures->skipped;
  for (std::size_t n : f.skipped) f.skipped_total += n;
  f.population = true;
  f.groups = window_groups.size();
  f.exported = exported(rule, window_groups, fx.next.groups);
  for (const group_change& g : fx.group_changes)
    if (g.change == transition::fired) fx.change = transition::fired;
  return fx;
}

}  // namespace qoewatch::evaluate
