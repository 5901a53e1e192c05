#include "config/reload_plan.hpp"

#include <algorithm>
#include <map>

namespace qoewatch::config {

namespace {

template <class T>
bool same_ignoring_where(T a, T b) {
  a.where = {};
  b.where = {};
  return a == b;
}

// The secrets one sink sends with.
bool same_sink_secrets(const secrets& a, const secrets& b, const std::string& sink) {
  auto same = [&](const std::map<std::string, std::string>& x,
                  const std::map<std::string, std::string>& y) {
    auto i = x.find(sink);
    auto j = y.find(sink);
    if (i == x.end() || j == y.end()) return (i == x.end()) == (j == y.end());
    return i->second == j->second;
  };
  return same(a.signing_keys, b.signing_keys) && same(a.routing_keys, b.routing_keys) &&
         same(a.urls, b.urls);
}

}  // namespace

bool same_settings(const rule_config& a, const rule_config& b) {
  return same_ignoring_where(a, b);
}

bool same_settings(const sink_config& a, const sink_config& b) {
  return same_ignoring_where(a, b);
}

bool judged_alike(const rule_config& a, const rule_config& b) {
  if (a.population() != b.population()) return false;
  if (!a.population()) return true;
  return a.group_by == b.group_by && a.filter_text == b.filter_text &&
         a.qoefilter_text == b.qoefilter_text && a.when_text == b.when_text &&
         a.resolve_when_text == b.resolve_when_text && a.min_sample == b.min_sample;
}

reload_plan plan_reload(const daemon_config* running, const secrets& running_secrets,
                        const daemon_config& next, const secrets& next_secrets) {
  reload_plan plan;
  static const daemon_config nothing;
  const daemon_config& now = running ? *running : nothing;
  plan.new_source = running && (!(next.smartsight == now.smartsight) ||
                                next_secrets.api_key != running_secrets.api_key);

  for (const rule_config& r : now.rules) {
    const rule_config* after = named(next.rules, r.name);
    if (!after)
      plan.removed.push_back(r.name);
    else if (plan.new_source || !same_settings(*after, r)) {
      plan.restart.push_back(r.name);
      if (!judged_alike(r, *after)) plan.resolve.push_back(r.name);
    }
  }
  // Resolved in name order, as they always were.
  std::sort(plan.removed.begin(), plan.removed.end());
  for (const rule_config& r : next.rules) {
    const rule_config* before = named(now.rules, r.name);
    if (before && !plan.new_source && same_settings(r, *before)) continue;
    plan.start.push_back(r.name);
    if (!before) plan.recall.push_back(r.name);
  }

  std::vector<const sink_config*> old_sinks;
  for (const sink_config& s : now.sinks) old_sinks.push_back(&s);
  std::sort(old_sinks.begin(), old_sinks.end(),
            [](const sink_config* a, const sink_config* b) { return a->name < b->name; });
  for (const sink_config* s : old_sinks) {
    const sink_config* after = named(next.sinks, s->name);
    sink_plan p{s->name, sink_plan::action::keep, {}};
    if (!after) {
      p.what = sink_plan::action::retire;
      p.reason = "sink " + s->name + " was removed from the config";
    } else if (after->type != s->type) {
      // Its queued bodies are in the old format: kept as dead letters, not sent misshapen.
      p.what = sink_plan::action::retire;
      p.reason = "sink " + s->name + " changed type from " + std::string(to_string(s->type)) +
                 " to " + std::string(to_string(after->type));
    } else if (!same_settings(*after, *s) ||
               !same_sink_secrets(running_secrets, next_secrets, s->name)) {
      p.what = sink_plan::action::reconfigure;
    }
    plan.sinks.push_back(std::move(p));
  }
  for (const sink_config& s : next.sinks) {
    const sink_config* before = named(now.sinks, s.name);
    // A sink that changed type is retired and comes back new, with an empty queue.
    if (!before || before->type != s.type)
      plan.sinks.push_back({s.name, sink_plan::action::add, {}});
  }

  if (running && next.listen != now.listen)
    plan.warnings.push_back("listen changed to " + next.listen +
                            "; it takes effect at the next restart");
  // The state store is opened once, at the start: a reload cannot move it.
  const bool sqlite_both = now.state.backend == state_backend::sqlite &&
                           next.state.backend == state_backend::sqlite;
  if (running && sqlite_both && next.state_dir != now.state_dir)
    plan.warnings.push_back("state_dir changed to " + next.state_dir +
                            "; it takes effect at the next restart");
  // Silence retention applies at the next collection of expired silences: no restart.
  state_config next_state = next.state;
  next_state.silence_retention = now.state.silence_retention;
  if (running && !same_ignoring_where(next_state, now.state))
    plan.warnings.push_back("state changed to " + describe_state(next) +
                            "; it takes effect at the next restart");
  else if (running && next_secrets.state_url != running_secrets.state_url)
    plan.warnings.push_back("the PostgreSQL connection string in " + next.state.url_file +
                            " changed; it takes effect at the next restart");
  return plan;
}

}  // namespace qoewatch::config
