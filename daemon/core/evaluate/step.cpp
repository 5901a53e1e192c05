#include "evaluate/step.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "evaluate/hold.hpp"
#include "evaluate/population_step.hpp"
#include "notify/alert_labels.hpp"
#include "notify/message_id.hpp"
#include "notify/render.hpp"

namespace qoewatch::evaluate {

namespace {

using transition = incident::transition;

// What the rows of one step say: the incident as it is after the step (or as it was, when the
// step resolves it), and the sessions each kind of sink is told about.
struct telling {
  const fetch::row_schema* schema = nullptr;
  const row_log* window_sessions = nullptr;  // Alertmanager: the whole window (none: no rows)
  const std::vector<bool>* is_new = nullptr;  // webhook, Slack, PagerDuty: those marked new
  std::size_t new_sessions = 0;               // how many are marked
  std::size_t offending = 0;
  fetch::window window;
  incident::state incident;  // firing; when resolving: the incident that resolves
  bool resolved = false;
  bool keep_alive = false;  // a failed poll re-sends the firing incident, with no sessions
  // Held back by a silence or a mute (see hold.hpp): the sessions, by index in the window
  // (none: no session is), how many of the window's and of the new ones, and the incident's
  // own alert. A notification left with nothing but a held incident alert is not sent.
  const std::vector<bool>* held = nullptr;
  std::size_t held_window = 0;
  std::size_t held_new = 0;
  bool incident_held = false;
};

// The sessions one sink is told, read from the poll's rows a batch at a time: every one, or
// only those marked, less those held. A batch lives until the next is read.
class session_batches {
 public:
  session_batches(const row_log* rows, const std::vector<bool>* only, const std::vector<bool>* held)
      : only_(only), held_(held) {
    if (rows) reader_.emplace(*rows);
  }
  std::span<const fetch::session_row* const> next(std::size_t n) {
    if (rows_.size() < n) rows_.resize(n);
    pointers_.clear();
    while (reader_ && pointers_.size() < n) {
      fetch::session_row& row = rows_[pointers_.size()];
      const std::size_t index = reader_->index();
      if (!reader_->next(row)) break;
      if ((!only_ || (*only_)[index]) && (!held_ || !(*held_)[index])) pointers_.push_back(&row);
    }
    return pointers_;
  }

 private:
  std::optional<row_log::reader> reader_;
  const std::vector<bool>* only_;
  const std::vector<bool>* held_;
  std::vector<fetch::session_row> rows_;  // reused batch after batch
  std::vector<const fetch::session_row*> pointers_;
};

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// The outbox rows: per sink of the rule still configured (a resolve: only those told of the
// firing), the bodies in the sink's format, rendered a batch of sessions at a time. They go
// to env.each_row when set, else into `into`. Sinks told (by a row that is not a resolve) are
// added to `told`, and each sink's notifications held back counted in `silenced`. Returns how
// many rows there were.
std::size_t render(const config::rule_config& rule, const telling& t, double now,
                   const step_env& env, std::vector<state::outbox_row>& into,
                   std::vector<std::string>& told, std::map<std::string, std::size_t>& silenced) {
  std::size_t count = 0;
  notify::event e;
  e.rule = &rule;
  e.schema = t.schema;
  e.now = now;
  e.incident.key = t.incident.key;
  e.incident.resolved = t.resolved;
  e.incident.started_at = t.incident.started_at;
  e.incident.ended_at = now;
  e.incident.offending = t.offending;
  e.ctx.external_url = env.external_url;
  e.ctx.customer_id = env.cfg->smartsight.customer_id;
  e.ctx.window = t.window;
  e.ctx.query = env.query->url(t.window, 0);
  // A resolve goes to the sinks told of the firing, even one the rule no longer names.
  for (const std::string& name : t.resolved ? t.incident.told : rule.sinks) {
    const config::sink_config* sink = config::named(env.cfg->sinks, name);
    if (!sink) continue;
    e.ctx.receiver = name;
    // Alertmanager forgets alerts that are not re-sent: it gets the whole window each poll.
    const bool window = sink->type == config::sink_type::alertmanager;
    const row_log* rows = t.resolved ? nullptr : t.window_sessions;
    const std::size_t held = !rows ? 0 : window ? t.held_window : t.held_new;
    const std::size_t total = (!rows ? 0 : window ? rows->size() : t.new_sessions) - held;
    // Nothing left to tell but the incident, and that is held too.
    const bool all_held = !t.resolved && t.incident_held && total == 0;
    session_batches batches(rows, window ? nullptr : t.is_new, held > 0 ? t.held : nullptr);
    const std::size_t batch = notify::batch_size(*sink);
    e.total = total;
    e.first = 0;
    // The id tells what the body is about, so every process that says it agrees on it. New
    // sessions are told once per incident whichever window showed them; Alertmanager hears
    // the incident again each window (and each slot of an outage); a resolve happens once.
    const std::string_view kind = t.resolved     ? "resolved"
                                  : t.keep_alive ? "refresh"
                                  : window       ? "window"
                                                 : "sessions";
    const bool per_window = kind == "refresh" || kind == "window";
    notify::message_key id{rule.name, name, kind, t.incident.key, per_window ? t.window.end : 0,
                           0, {}};
    std::size_t sent = 0, withheld = 0;
    do {
      e.sessions = batches.next(std::min(batch, total - e.first));
      id.sessions = e.sessions;
      for (notify::rendered& r : notify::render(*sink, e)) {
        if (all_held) {
          ++withheld;
          continue;
        }
        state::outbox_row row{notify::message_id(id), name, rule.name, std::move(r.body), now,
                              0, {}, std::string(config::to_string(sink->type))};
        ++id.part;
        ++sent;
        if (env.each_row)
          env.each_row(std::move(row));
        else
          into.push_back(std::move(row));
      }
      e.first += e.sessions.size();
    } while (e.first < total);
    count += sent;
    if (held > 0 || withheld > 0) ++silenced[name];
    if (sent > 0 && !t.resolved && !contains(told, name)) told.push_back(name);
  }
  return count;
}

// A firing incident as its row stores it (its sinks: those told).
state::incident_row row_of(const config::rule_config& rule, const incident::state& i) {
  return {rule.name, i.key, i.started_at, i.polls_below, i.told, {}};
}

// Which sessions of the window are held, how many of them and of the new ones, and whether the
// incident's own alert is.
void hold_back(const config::rule_config& rule, const holds& h, const row_log& window,
               const std::vector<bool>& is_new, telling& t, std::vector<bool>& held) {
  t.incident_held = h.held(notify::incident_labels(rule, t.incident.key));
  t.held = &held;
  if (!h.sessions_differ()) {
    // Every session is held exactly when the incident is: no labels to build per session.
    held.assign(window.size(), t.incident_held);
    if (t.incident_held) {
      t.held_window = window.size();
      t.held_new = static_cast<std::size_t>(std::count(is_new.begin(), is_new.end(), true));
    }
    return;
  }
  held.assign(window.size(), false);
  fetch::session_row row;
  for (row_log::reader rows(window); rows.next(row);) {
    const std::size_t i = rows.index() - 1;
    if (!h.held(notify::session_labels(rule, t.incident.key, row.sessionid))) continue;
    held[i] = true;
    ++t.held_window;
    if (is_new[i]) ++t.held_new;
  }
}

step_effects polled(const config::rule_config& rule, const rule_state& current,
                    const poll_outcome& out, const notified_sessions& notified, double now,
                    const step_env& env) {
  step_effects fx;
  const poll_accumulator& acc = *out.acc;
  decision d = decide(rule, acc, notified);
  // An incident is named after the window that fired it, which every process judging the
  // same data agrees on, not after the moment of the poll.
  const incident::step_result inc =
      incident::step(rule, current.incident, d.offending, static_cast<double>(out.window.end));
  // Below min_sessions nothing is notified: those sessions are news once the rule fires.
  if (!inc.next.firing) {
    d.is_new.assign(d.is_new.size(), false);
    d.new_sessions = 0;
  }
  fx.change = inc.change;
  fx.incident_key = inc.change == transition::resolved ? current.incident.key : inc.next.key;

  state::poll_commit& c = fx.commit;
  c.rule = rule.name;
  c.checkpoint = out.window.end;
  incident::state next_incident = inc.next;
  if (inc.next.firing || inc.change == transition::resolved) {
    telling t{&acc.schema(), &acc.offending(), &d.is_new, d.new_sessions, d.offending,
              out.window, inc.change == transition::resolved ? current.incident : inc.next,
              inc.change == transition::resolved};
    std::vector<bool> held;
    if (const holds h(rule, *env.cfg, env.silences, now); h.any() && !t.resolved)
      hold_back(rule, h, acc.offending(), d.is_new, t, held);
    // A resolve adds no sink, so the incident's told sinks can take what this step tells.
    fx.outbox_rows = render(rule, t, now, env, c.outbox, next_incident.told, fx.silenced);
  }
  if (env.durable && d.new_sessions > 0) {
    c.notified.reserve(d.new_sessions);
    fetch::session_row row;
    for (row_log::reader rows(acc.offending()); rows.next(row);)
      if (d.is_new[rows.index() - 1])
        c.notified.push_back({rule.name, row.sessionid, ended_at(row.endtime)});
  }
  if (inc.next.firing)
    c.incident = row_of(rule, next_incident);
  else
    c.clear_incident = current.incident.firing;

  fx.next = current;
  fx.next.polled_once = true;
  fx.next.source_up = true;
  fx.next.checkpoint = out.window.end;
  fx.next.last_offending = d.offending;
  fx.next.incident = next_incident;
  if (d.new_sessions == 0 && fx.outbox_rows == 0 && !c.clear_incident &&
      c.incident == current.committed_incident) {
    // Only the checkpoint moved. A crash before it is written re-polls a few seconds that
    // notify nothing new; with a thousand rules, writing each at once costs ~100 disk syncs
    // a second.
    fx.durability = write::checkpoint_only;
  } else {
    fx.durability = write::grouped;
    fx.next.committed_incident = c.incident;
  }

  poll_facts& f = fx.facts;
  f.rows_fetched = acc.rows_fetched();
  f.offending = d.offending;
  f.new_sessions = d.new_sessions;
  f.skipped = acc.skipped();
  for (std::size_t n : f.skipped) f.skipped_total += n;
  f.startup_seconds = d.startup_seconds;
  f.rebuffering_ratio = d.rebuffering_ratio;
  if (d.new_sessions > 0) fx.notified = std::move(d.is_new);
  return fx;
}

// A failed poll neither fires nor resolves, but Alertmanager resolves alerts that are not
// re-sent within their endsAt: the firing incident's alert is kept alive through the outage.
step_effects failed(const config::rule_config& rule, const rule_state& current, double now,
                    const step_env& env) {
  step_effects fx;
  fx.next = current;
  fx.next.polled_once = true;
  fx.next.source_up = false;
  if (!current.incident.firing || !env.durable) return fx;
  const fetch::row_schema schema = fetch::schema_for(rule);  // no rows: the rule's columns
  telling t{&schema, nullptr, nullptr, 0, current.last_offending,
            fetch::window_at(rule, from_epoch_seconds(now)), current.incident, false, true};
  t.incident_held = holds(rule, *env.cfg, env.silences, now)
                        .held(notify::incident_labels(rule, current.incident.key));
  fx.commit.rule = rule.name;
  fx.outbox_rows = render(rule, t, now, env, fx.commit.outbox, fx.next.incident.told, fx.silenced);
  if (fx.next.incident.told != current.incident.told) {
    // Told for the first time (a silence ended during the outage): its resolve must reach it.
    fx.commit.incident = row_of(rule, fx.next.incident);
    fx.next.committed_incident = fx.commit.incident;
  }
  if (fx.outbox_rows > 0) fx.durability = write::at_once;
  fx.incident_key = current.incident.key;
  return fx;
}

// A rule removed from the config can no longer resolve its incident by itself: it resolves
// now, so no PagerDuty incident or Alertmanager alert is left behind.
step_effects removed(const config::rule_config& rule, const rule_state& current, double now,
                     const step_env& env) {
  step_effects fx;
  fx.next = current;
  if (!current.incident.firing) return fx;
  const fetch::row_schema schema = fetch::schema_for(rule);
  telling t{&schema, nullptr, nullptr, 0, 0, fetch::window_at(rule, from_epoch_seconds(now)),
            current.incident, true};
  fx.commit.rule = rule.name;
  std::vector<std::string> told;  // a resolve tells no one anew
  fx.outbox_rows = render(rule, t, now, env, fx.commit.outbox, told, fx.silenced);
  // Until it is written, the incident stays in the database: it resumes if the rule comes
  // back before then.
  fx.commit.clear_incident = true;
  fx.durability = write::at_once;
  fx.change = transition::resolved;
  fx.incident_key = current.incident.key;
  fx.next.incident = {};
  fx.next.committed_incident.reset();
  return fx;
}

}  // namespace

bool firing(const rule_state& s) {
  if (s.incident.firing) return true;
  for (const auto& [values, g] : s.groups)
    if (g.firing) return true;
  return false;
}

step_effects step(const config::rule_config& rule, const rule_state& current,
                  const poll_outcome& outcome, const notified_sessions& notified, double now,
                  const step_env& env) {
  if (rule.population()) return population_step(rule, current, outcome, now, env);
  switch (outcome.what) {
    case poll_outcome::kind::polled:
      return polled(rule, current, outcome, notified, now, env);
    case poll_outcome::kind::failed:
      return failed(rule, current, now, env);
    case poll_outcome::kind::removed:
      return removed(rule, current, now, env);
  }
  return {};
}

void remember(const config::rule_config& rule, const poll_outcome& outcome,
              const step_effects& fx, notified_sessions& notified) {
  if (fx.notified.empty() || !outcome.acc) return;
  fetch::session_row row;
  for (row_log::reader rows(outcome.acc->offending()); rows.next(row);)
    if (fx.notified[rows.index() - 1])
      notified.insert(rule.name, row.sessionid, ended_at(row.endtime));
}

}  // namespace qoewatch::evaluate
