#include "ruletest/run.hpp"

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>

#include "duration.hpp"
#include "evaluate/hold.hpp"
#include "evaluate/replay.hpp"
#include "notify/alert_labels.hpp"
#include "rules/expr.hpp"
#include "schedule/schedule.hpp"

namespace qoewatch::ruletest {

namespace {

namespace json = boost::json;

const cell* value_of(const input_row& row, std::string_view key) {
  for (const auto& [name, c] : row.values)
    if (name == key) return &c;
  return nullptr;
}

json::value json_of(const cell& c) {
  switch (c.k) {
    case cell::kind::number:
      return c.number;
    case cell::kind::boolean:
      return c.text == "true";
    case cell::kind::null:
      return nullptr;
    case cell::kind::text:
      break;
  }
  return json::string(c.text);
}

// What SmartSight answers for `rule`: the rows its filter selects and that satisfy the
// qoefilter terms it is sent (the daemon's own query: fetch/query.cpp).
class server_side {
 public:
  explicit server_side(const config::rule_config& rule) : rule_(rule) {
    if (rule.population() || !rule.has_qoefilter()) return;
    const std::string text = rules::server_side_filter(rule.condition);
    if (text.empty()) return;
    rules::parse_result parsed = rules::parse(text);
    if (!parsed)
      throw std::logic_error("ruletest: the server-side qoefilter does not parse: " + text);
    qoefilter_ = std::move(*parsed.value);
  }

  bool answers(const input_row& row) const {
    auto dimension = [&row](std::string_view d) -> std::optional<std::string_view> {
      const cell* c = value_of(row, d);
      if (!c || c->k == cell::kind::null) return std::nullopt;
      return std::string_view(c->text);
    };
    if (!rules::matches(rule_.filter, dimension)) return false;
    if (!qoefilter_) return true;
    auto metric = [&row](std::string_view m) -> std::optional<double> {
      const cell* c = value_of(row, m);
      if (!c) return std::nullopt;
      if (c->k == cell::kind::number) return c->number;
      if (c->k == cell::kind::text) return fetch::to_number(c->text);
      return std::nullopt;
    };
    // A row without the metric is not one the server's filter selects.
    return rules::evaluate(*qoefilter_, metric).value_or(false);
  }

 private:
  const config::rule_config& rule_;
  std::optional<rules::expr> qoefilter_;
};

// One rule of a running test: its replay, and what it did since the last evaluation.
struct rule_run {
  std::unique_ptr<evaluate::replay> replay;
  rule_observation seen;
  // Groups that fired while a maintenance window held them: told once it no longer does.
  std::set<group_values> held_groups;
};

// The evidence `out` holds for the group `values`.
void evidence_of(const evaluate::poll_outcome& out, const group_values& values,
                 std::vector<std::string>& into) {
  if (!out.figures) return;
  for (const evaluate::group_figures& g : out.figures->groups)
    if (g.values == values)
      for (const fetch::session_row& row : g.evidence) into.push_back(row.sessionid);
}

// What one poll's effects say, added to `r.seen`.
void observe(const config::daemon_config& cfg, const config::rule_config& rule,
             const evaluate::poll_outcome& out, const evaluate::step_effects& fx, double now,
             rule_run& r) {
  using incident::transition;
  const evaluate::holds held(rule, cfg, nullptr, now);
  rule_observation& seen = r.seen;
  ++seen.polls;
  if (!rule.population()) {
    if (fx.change != transition::none) {
      event e;
      e.figures.offending = fx.facts.offending;
      (fx.change == transition::fired ? seen.fired : seen.resolved).push_back(std::move(e));
    }
    if (fx.notified.empty() || !out.acc) return;
    fetch::session_row row;
    for (evaluate::row_log::reader rows(out.acc->offending()); rows.next(row);) {
      if (!fx.notified[rows.index() - 1]) continue;
      if (held.any() &&
          held.held(notify::session_labels(rule, fx.next.incident.key, row.sessionid)))
        continue;
      seen.notified.push_back(row.sessionid);
    }
    return;
  }
  for (const evaluate::group_change& c : fx.group_changes) {
    const group_values& values = c.figures.values;
    if (c.change == transition::fired) {
      seen.fired.push_back({true, c.figures});
      if (held.any() && held.held(notify::group_labels(rule, values, c.incident_key)))
        r.held_groups.insert(values);
      else
        evidence_of(out, values, seen.notified);
    } else if (c.change == transition::resolved) {
      seen.resolved.push_back({true, c.figures});
      r.held_groups.erase(values);
    }
  }
  // A group held when it fired is told, with the window's evidence, once nothing holds it
  // (as population_step tells the sinks it has not told yet).
  for (auto it = r.held_groups.begin(); it != r.held_groups.end();) {
    auto g = fx.next.groups.find(*it);
    if (g == fx.next.groups.end() || !g->second.firing) {
      it = r.held_groups.erase(it);
    } else if (held.any() && held.held(notify::group_labels(rule, *it, g->second.key))) {
      ++it;
    } else {
      evidence_of(out, *it, seen.notified);
      it = r.held_groups.erase(it);
    }
  }
}

// What `r` did since the last evaluation, and its state now; starts the next period.
rule_observation take(rule_run& r) {
  rule_observation o = std::move(r.seen);
  r.seen = {};
  const evaluate::rule_state& s = r.replay->state();
  o.firing = evaluate::firing(s);
  for (const auto& [values, g] : s.groups) {
    if (g.firing)
      o.firing_groups.push_back(values);
    else if (g.pending > 0)
      o.pending.push_back(values);
  }
  std::sort(o.notified.begin(), o.notified.end());
  o.notified.erase(std::unique(o.notified.begin(), o.notified.end()), o.notified.end());
  return o;
}

}  // namespace

std::vector<poll_time> poll_times(const config::rule_config& rule, double start, double until) {
  std::vector<poll_time> out;
  const double delay = static_cast<double>(rule.delay.count()) / 1000.0;
  const std::int64_t step = std::max<std::int64_t>(1, whole_seconds(rule.interval));
  for (std::int64_t end = schedule::aligned_end(rule, from_epoch_seconds(start));; end += step) {
    // The first poll judges the latest complete window, at once.
    const double at = std::max(start, static_cast<double>(end) + delay);
    if (at > until) break;
    out.push_back({at, end});
  }
  return out;
}

fetch::page page_for(const config::rule_config& rule, const std::vector<input_row>& rows,
                     fetch::window w) {
  const server_side server(rule);
  json::array response;
  auto first =
      std::lower_bound(rows.begin(), rows.end(), static_cast<double>(w.start),
                       [](const input_row& row, double start) { return row.endtime < start; });
  for (auto it = first; it != rows.end() && it->endtime <= static_cast<double>(w.end); ++it) {
    if (!server.answers(*it)) continue;
    json::object o;
    o["sessionid"] = it->sessionid;
    o["endtime"] = it->endtime;
    for (const auto& [key, c] : it->values) o[key] = json_of(c);
    response.push_back(std::move(o));
  }
  json::object body;
  body["response"] = std::move(response);
  fetch::page_result page = fetch::parse_page(json::serialize(body), fetch::schema_for(rule));
  if (!page) throw std::logic_error("ruletest: the page reader refused a test page: " + page.error);
  return std::move(*page.value);
}

std::vector<evaluation> run(const test_file& f, const test_case& t, const hooks& h) {
  const config::daemon_config& cfg = f.cfg;
  std::vector<double> times;
  for (const expectation& x : t.expect)
    if (times.empty() || x.at > times.back()) times.push_back(x.at);
  std::vector<evaluation> out;
  if (times.empty()) return out;

  std::vector<rule_run> runs;
  struct due {
    double at = 0;
    std::size_t rule = 0;
  };
  std::vector<due> polls;
  for (std::size_t i = 0; i < cfg.rules.size(); ++i) {
    runs.push_back({std::make_unique<evaluate::replay>(cfg, cfg.rules[i]), {}, {}});
    for (const poll_time& p : poll_times(cfg.rules[i], t.start, times.back()))
      polls.push_back({p.at, i});
  }
  // Rules due at the same moment poll in the config's order.
  std::stable_sort(polls.begin(), polls.end(),
                   [](const due& a, const due& b) { return a.at < b.at; });

  std::size_t next = 0;
  for (double at : times) {
    for (; next < polls.size() && polls[next].at <= at; ++next) {
      const config::rule_config& rule = cfg.rules[polls[next].rule];
      rule_run& r = runs[polls[next].rule];
      const double now = polls[next].at;
      const fetch::catchup c = fetch::window_after(rule, from_epoch_seconds(now),
                                                   r.replay->state().checkpoint, cfg.max_catchup);
      evaluate::poll_outcome outcome = evaluate::prepare_outcome(rule, cfg.smartsight, c.w);
      outcome.catchup_skipped = c.skipped_seconds;
      outcome.behind = c.behind;
      outcome.pages = 1;
      evaluate::add_rows(outcome, page_for(rule, t.rows, c.w));
      evaluate::conclude(outcome);
      const evaluate::step_effects& fx = r.replay->poll(outcome, now);
      observe(cfg, rule, outcome, fx, now, r);
      if (h.polled) {
        std::size_t pairs = 0;
        for (const rule_run& each : runs) pairs += each.replay->notified().size();
        h.polled({rule, outcome, fx, now, pairs});
      }
    }
    evaluation e;
    e.at = at;
    for (rule_run& r : runs) e.rules.push_back(take(r));
    if (h.metrics) e.metrics = h.metrics();
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace qoewatch::ruletest
