// A test's expect: entries: when, about which rule, and what should be seen then.
#include <algorithm>
#include <cmath>
#include <limits>

#include "config/common.hpp"
#include "config/diagnostic.hpp"
#include "fetch/page.hpp"
#include "rules/expr.hpp"
#include "ruletest/exposition.hpp"
#include "ruletest/spec_parts.hpp"

namespace qoewatch::ruletest::parts {

namespace {

namespace yaml = config::yaml;
using config::in_quotes;

const std::vector<std::string_view> entry_keys{"at",     "rule",    "fired",    "resolved",
                                               "firing", "pending", "notified", "metrics"};

std::string rule_list(const config::daemon_config& cfg) {
  std::vector<std::string_view> names;
  for (const config::rule_config& r : cfg.rules) names.push_back(r.name);
  return config::join_list(names);
}

// A population rule's group: a value for each group_by dimension.
std::optional<group_values> group_of(const yaml::node& v, const config::rule_config& rule) {
  const std::string dims = config::join_list({rule.group_by.begin(), rule.group_by.end()});
  if (!v.is_map()) {
    v.error(rule.group_by.empty() ? "must be {} (" + rule.name + " has no group_by: one group)"
                                  : "must be a mapping of the group's values ({" +
                                        rule.group_by.front() + ": edgeB})");
    return std::nullopt;
  }
  const std::size_t errors_before = v.error_count();
  group_values values(rule.group_by.size());
  std::vector<bool> given(rule.group_by.size(), false);
  v.for_each_entry([&](const std::string& key, const yaml::node& k, const yaml::node& value) {
    auto it = std::find(rule.group_by.begin(), rule.group_by.end(), key);
    if (it == rule.group_by.end()) {
      k.error(rule.group_by.empty() ? rule.name + " has no group_by (its one group is {})"
                                    : in_quotes(key) + " is not a group_by dimension of " +
                                          rule.name + " (group_by: " + dims + ")");
      return;
    }
    const auto i = static_cast<std::size_t>(it - rule.group_by.begin());
    if (auto s = value.text()) {
      values[i] = *s;
      given[i] = true;
    }
  });
  if (v.error_count() != errors_before) return std::nullopt;
  for (std::size_t i = 0; i < given.size(); ++i)
    if (!given[i])
      v.error("has no " + rule.group_by[i] + " (a group gives a value for each group_by " +
              "dimension: " + dims + ")");
  if (v.error_count() != errors_before) return std::nullopt;
  return values;
}

std::optional<std::vector<group_values>> groups_of(const yaml::node& v,
                                                   const config::rule_config& rule) {
  if (!v.is_list()) {
    v.error("must be a list of groups ([{" +
            (rule.group_by.empty() ? std::string("}") : rule.group_by.front() + ": edgeB}") +
            "]; [] for none)");
    return std::nullopt;
  }
  std::vector<group_values> out;
  bool ok = true;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (auto g = group_of(v.at(i), rule))
      out.push_back(std::move(*g));
    else
      ok = false;
  }
  if (!ok) return std::nullopt;
  return out;
}

// A ratio: a fraction 0-1, or a percentage ("25%").
std::optional<double> ratio_of(const yaml::node& v) {
  const std::string s = v.yaml().IsScalar() ? v.yaml().Scalar() : std::string{};
  if (s.ends_with("%")) {
    std::optional<double> pct = fetch::to_number(s.substr(0, s.size() - 1));
    if (!pct || *pct < 0 || *pct > 100) {
      v.error(in_quotes(s) + " is not a percentage (0% to 100%)");
      return std::nullopt;
    }
    return *pct / 100;
  }
  return v.number(0, 1, "a fraction of the group's sessions, or a percentage: 25%");
}

// An incident or group expected to fire or resolve.
std::optional<expected_event> event_of(const yaml::node& n, const config::rule_config& rule) {
  std::vector<std::string_view> keys{"offending"};
  if (rule.population()) {
    keys = {"group", "sessions", "offending", "ratio"};
    for (const rules::aggregate& a : rule.aggregates) keys.push_back(a.text);
  }
  auto explain = [&](const std::string& key) -> std::optional<std::string> {
    if (rule.population() || (key != "group" && key != "sessions" && key != "ratio"))
      return std::nullopt;
    return rule.name + " is a per-session rule: its incident has no group, sessions or " +
           "ratio, only offending";
  };
  if (!n.check_map(keys,
                   rule.population() ? "group:, sessions:, offending:, ratio:, ..."
                                     : "offending: the offending sessions in the window",
                   explain))
    return std::nullopt;
  const std::size_t errors_before = n.error_count();
  expected_event e;
  if (yaml::node v = n["group"])
    if (auto g = group_of(v, rule)) e.group = std::move(*g);
  for (auto [key, field] :
       {std::pair{"sessions", &e.sessions}, std::pair{"offending", &e.offending}})
    if (yaml::node v = n[key])
      if (auto c = v.whole_number(0, std::numeric_limits<std::int32_t>::max(), "sessions"))
        *field = static_cast<double>(*c);
  if (yaml::node v = n["ratio"]) e.ratio = ratio_of(v);
  for (const rules::aggregate& a : rule.aggregates) {
    yaml::node v = n[a.text];
    if (!v) continue;
    if (v.yaml().IsScalar() && v.yaml().Scalar() == "n/a") {
      e.aggregates.emplace_back(a.text, std::nullopt);
    } else if (auto x = v.number(-1e300, 1e300, "the aggregate's value, or n/a")) {
      e.aggregates.emplace_back(a.text, *x);
    }
  }
  if (n.error_count() != errors_before) return std::nullopt;
  return e;
}

std::optional<std::vector<expected_event>> events_of(const yaml::node& v,
                                                     const config::rule_config& rule) {
  if (!v.is_list()) {
    v.error(rule.population() ? "must be a list of groups ([{group: {...}, ratio: 0.2}]; [] "
                                "for none)"
                              : "must be a list ([{offending: 3}], or [{}]; [] for none)");
    return std::nullopt;
  }
  std::vector<expected_event> out;
  bool ok = true;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (auto e = event_of(v.at(i), rule))
      out.push_back(std::move(*e));
    else
      ok = false;
  }
  if (!ok) return std::nullopt;
  return out;
}

void metrics_of(const yaml::node& v, std::vector<expected_metric>& out) {
  if (!v.is_map()) {
    v.error("must be a mapping of series to values ('qoewatch_rule_firing{rule=\"r\"}': 1)");
    return;
  }
  v.for_each_entry([&](const std::string& key, const yaml::node& k, const yaml::node& value) {
    series_result s = parse_series(key);
    if (!s.value) {
      k.error_at(s.offset, in_quotes(key) + " is not a series: " + s.error);
      return;
    }
    expected_metric m;
    m.name = s.value->name;
    m.labels = s.value->labels;
    m.selector = key;
    m.line = k.where().line;
    if (value.yaml().IsScalar() && value.yaml().Scalar() == "absent") {
      out.push_back(std::move(m));
    } else if (auto x = value.number(-1e300, 1e300, "the value the series reads, or absent")) {
      m.value = *x;
      out.push_back(std::move(m));
    }
  });
}

void entry(const yaml::node& n, const config::daemon_config& cfg, test_case& t) {
  if (!n.check_map(entry_keys, "at:, rule:, fired:, firing:, notified:, metrics:, ...")) return;
  const std::size_t errors_before = n.error_count();
  expectation x;
  x.line = n.where().line;
  if (yaml::node v = n["at"]) {
    if (auto at = time_of(v, t.start)) {
      x.at = *at;
      x.at_text = v.yaml().Scalar();
      if (x.at < t.start)
        v.error("is before the test's start, " + time_text(t.start) +
                " (the rules poll from the start on)");
      else if (!t.expect.empty() && x.at < t.expect.back().at)
        v.error("is before the previous entry's time, " + t.expect.back().at_text +
                " (write expect: in time order)");
    }
  } else {
    n.missing("at", "missing (required: when to look: +5m from the test's start, or RFC 3339)");
  }
  const bool about_rule =
      n["fired"] || n["resolved"] || n["firing"] || n["pending"] || n["notified"];
  if (yaml::node v = n["rule"]) {
    if (auto name = v.text()) {
      for (std::size_t i = 0; i < cfg.rules.size(); ++i)
        if (cfg.rules[i].name == *name) x.rule = i;
      if (!x.rule) {
        std::vector<std::string_view> names;
        for (const config::rule_config& r : cfg.rules) names.push_back(r.name);
        const std::string near = config::nearest(*name, names);
        v.error(
            "no rule named " + in_quotes(*name) + " in the test's rule files (" +
            (near.empty() ? "rules: " + rule_list(cfg) : "did you mean " + in_quotes(near) + "?") +
            ")");
      }
    }
  } else if (cfg.rules.size() == 1) {
    x.rule = 0;
  } else if (about_rule) {
    n.missing("rule", "missing (required: the rule checked; the test's rule files hold " +
                          rule_list(cfg) + ")");
  }
  if (x.rule) {
    const config::rule_config& rule = cfg.rules[*x.rule];
    for (auto [key, field] : {std::pair{"fired", &x.fired}, std::pair{"resolved", &x.resolved}})
      if (yaml::node v = n[key])
        if (auto events = events_of(v, rule))
          *field = checked<std::vector<expected_event>>{std::move(*events), v.where().line};
    if (yaml::node v = n["firing"]) {
      const std::string s = v.yaml().IsScalar() ? v.yaml().Scalar() : std::string{};
      if (s == "true" || s == "false") {
        x.firing = checked<bool>{s == "true", v.where().line};
      } else if (!rule.population()) {
        v.error("must be true or false (" + rule.name + " is a per-session rule: one incident)");
      } else if (auto groups = groups_of(v, rule)) {
        x.firing_groups = checked<std::vector<group_values>>{std::move(*groups), v.where().line};
      }
    }
    if (yaml::node v = n["pending"]) {
      if (!rule.population())
        v.error(rule.name + " is a per-session rule: it has no groups to be pending (for: is " +
                "a population rule's)");
      else if (auto groups = groups_of(v, rule))
        x.pending = checked<std::vector<group_values>>{std::move(*groups), v.where().line};
    }
    if (yaml::node v = n["notified"]) {
      if (!v.is_list()) {
        v.error("must be a list of session ids ([a1, a2]; [] for none)");
      } else if (auto ids = v.string_list("[a1, a2]")) {
        std::vector<std::string> list;
        for (auto& [id, item] : *ids) list.push_back(id);
        x.notified = checked<std::vector<std::string>>{std::move(list), v.where().line};
      }
    }
  }
  if (yaml::node v = n["metrics"]) metrics_of(v, x.metrics);
  if (!about_rule && !n["metrics"])
    n.error("checks nothing (give fired, resolved, firing, pending, notified or metrics)");
  if (n.error_count() == errors_before) t.expect.push_back(std::move(x));
}

}  // namespace

void expectations(const yaml::node& n, const config::daemon_config& cfg, test_case& t) {
  if (!n.is_list() || n.size() == 0) {
    n.error("must be a list of checks (- at: +5m, rule: ..., fired: [...])");
    return;
  }
  for (std::size_t i = 0; i < n.size(); ++i) entry(n.at(i), cfg, t);
}

}  // namespace qoewatch::ruletest::parts
