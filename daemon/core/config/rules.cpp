#include "config/sections.hpp"

#include <algorithm>

#include "config/common.hpp"
#include "rules/dimension_filter.hpp"
#include "rules/expr.hpp"
#include "rules/identifier.hpp"

namespace qoewatch::config::sections {

namespace {

using rules::is_identifier;

// Where `word` stands as a whole identifier in `text` (0 when it does not).
std::size_t find_word(std::string_view text, std::string_view word) {
  for (std::size_t pos = text.find(word); pos != std::string_view::npos;
       pos = text.find(word, pos + 1)) {
    const std::size_t end = pos + word.size();
    bool left = pos == 0 || !rules::is_identifier_char(text[pos - 1]);
    bool right = end >= text.size() || !rules::is_identifier_char(text[end]);
    if (left && right) return pos;
  }
  return 0;
}

void filter(const yaml::node& v, rule_config& r) {
  if (auto f = v.text(true)) {
    rules::dimension_filter_result parsed = rules::parse_dimension_filter(*f);
    if (!parsed)
      v.error_at(parsed.column - 1, parsed.message);
    else
      r.filter = std::move(*parsed.value);
    r.filter_text = *f;
  }
}

void qoefilter(const yaml::node& v, const rule_context& ctx, rule_config& r) {
  auto q = v.text();
  if (!q) return;
  r.qoefilter_text = *q;
  rules::parse_result parsed = rules::parse(*q);
  if (!parsed) {
    v.error_at(parsed.error.column - 1, parsed.error.message);
    return;
  }
  for (const std::string& m : rules::metrics_of(*parsed.value)) {
    if (std::find(ctx.metrics.begin(), ctx.metrics.end(), m) != ctx.metrics.end()) continue;
    std::string near = nearest(m, ctx.metrics);
    v.error_at(find_word(*q, m),
               "unknown metric " + in_quotes(m) + " (" +
                   (near.empty() ? std::string{} : "did you mean " + in_quotes(near) + "? ") +
                   "known: " + join_list(ctx.metrics) +
                   "; declare others in smartsight.extra_metrics)");
  }
  r.condition = std::move(*parsed.value);
}

void fields(const yaml::node& v, rule_config& r) {
  auto list = v.string_list("[assetname, cdn]");
  if (!list) return;
  for (const auto& [field, item] : *list) {
    if (!is_identifier(field))
      item.error(in_quotes(field) + " is not a field name (letters, digits, _)");
    else if (std::find(r.fields.begin(), r.fields.end(), field) != r.fields.end())
      item.error(in_quotes(field) + " is listed twice");
    else
      r.fields.push_back(field);
  }
}

// interval, window and delay, over the defaults; a window shorter than the interval is an
// error.
void timing(const yaml::node& n, rule_config& r) {
  yaml::node interval = n["interval"], window = n["window"], delay = n["delay"];
  if (interval)
    if (auto d = interval.duration_value(false)) r.interval = *d;
  if (window)
    if (auto d = window.duration_value(false)) r.window = *d;
  if (delay)
    if (auto d = delay.duration_value(true)) r.delay = *d;
  if (r.window < r.interval) {
    // Consecutive windows would leave gaps: sessions ending between them are never seen.
    const yaml::node& at = window ? window : interval ? interval : n;
    at.error(window.path(),
             "window " + format_duration(r.window) + " is shorter than interval " +
                 format_duration(r.interval) +
                 ", so sessions ending between polls would never be checked (make window at "
                 "least the interval)");
  }
}

void severity_of(const yaml::node& v, rule_config& r) {
  auto s = v.text();
  if (!s) return;
  if (std::optional<severity> level = from_name(severities, *s)) {
    r.severity = *level;
    return;
  }
  std::string near = nearest(*s, names_of(severities));
  v.error(in_quotes(*s) + " is not a severity (" +
          (near.empty() ? std::string{} : "did you mean " + in_quotes(near) + "? ") + "use " +
          join_or(names_of(severities)) + ")");
}

void labels(const yaml::node& v, rule_config& r) {
  if (!v.is_map()) {
    v.error("must be a mapping (write {team: player})");
    return;
  }
  v.for_each_entry([&](const std::string& name, const yaml::node& key, const yaml::node& value) {
    if (!is_identifier(name) || name.rfind("__", 0) == 0) {
      key.error(in_quotes(name) +
                " is not a valid label name (letters, digits, _; not starting with a digit or "
                "__)");
    } else if (name == "alertname" || name == "severity" || name == "sessionid" ||
               name == "rule" || name == "incident") {
      key.error(in_quotes(name) + " is set by qoewatch itself (choose another label name)");
    } else if (auto written = value.text(true)) {
      r.labels[name] = *written;
    }
  });
}

// A list of names of entries declared in a section (sinks:, time_intervals:), each listed once,
// appended to `out`. An entry that is declared but invalid counts as existing: its own error
// suffices. An unknown name is reported as `unknown` "name" with the nearest declared name,
// else all of them (`plural`), else where to declare one (`section`).
void declared_names(const yaml::node& v, std::string_view example, const name_list& declared,
                    std::string_view unknown, std::string_view plural, std::string_view section,
                    std::vector<std::string>& out) {
  auto list = v.string_list(example);
  if (!list) return;
  for (const auto& [name, item] : *list) {
    if (std::find(out.begin(), out.end(), name) != out.end()) {
      item.error(in_quotes(name) + " is listed twice");
      continue;
    }
    bool exists = false;
    for (const auto& d : declared) exists = exists || d.first == name;
    if (!exists) {
      std::vector<std::string_view> names;
      for (const auto& d : declared) names.push_back(d.first);
      std::string near = nearest(name, names);
      item.error(std::string(unknown) + in_quotes(name) + " (" +
                 (near.empty()
                      ? (names.empty() ? "define it under " + std::string(section)
                                       : "defined " + std::string(plural) + ": " + join_list(names))
                      : "did you mean " + in_quotes(near) + "?") +
                 ")");
      continue;
    }
    out.push_back(name);
  }
}

// mute_time_intervals and active_time_intervals: names from the main file's time_intervals:.
void interval_names(const yaml::node& v, const rule_context& ctx, std::vector<std::string>& out) {
  declared_names(v, "[maintenance]", *ctx.time_interval_names, "unknown time interval ",
                 "time intervals", "time_intervals:", out);
}

// Every key a rule may have, in the order "valid keys" lists them. (Formatted by hand: past
// 20 items clang-format would give each its own line.)
// clang-format off
const std::vector<std::string_view> rule_keys{
    "name", "description", "filter", "qoefilter", "fields", "interval", "window", "delay",
    "severity", "labels", "sinks", "min_sessions", "resolve_after", "group_by", "when",
    "resolve_when", "min_sample", "for", "evidence", "max_groups", "mute_time_intervals",
    "active_time_intervals"};
// clang-format on

void rule(const yaml::node& n, const rule_context& ctx, std::vector<rule_config>& out) {
  if (!n.check_map(rule_keys, "name, qoefilter, ...")) return;
  rule_config r;
  r.where = n.where();
  r.interval = ctx.defaults->interval;
  r.window = ctx.defaults->window;
  r.delay = ctx.defaults->delay;
  std::size_t errors_before = n.error_count();

  if (yaml::node v = n["name"]) {
    if (auto name = v.text()) {
      if (!is_identifier(*name))
        v.error(in_quotes(*name) +
                " is not a valid rule name (letters, digits, _; not starting with a digit)");
      r.name = *name;
    }
  } else {
    n.missing("name", "missing (required: a unique rule name)");
  }
  if (yaml::node v = n["description"])
    if (auto d = v.text(true)) r.description = *d;
  if (yaml::node v = n["filter"]) filter(v, r);
  if (yaml::node v = n["qoefilter"])
    qoefilter(v, ctx, r);
  else if (!n["when"])
    n.missing("qoefilter", "missing (required: the condition, e.g. \"latency > 5\")");
  population(n, ctx, r);
  if (yaml::node v = n["fields"]) fields(v, r);
  timing(n, r);
  if (yaml::node v = n["min_sessions"]; v && !n["when"])
    if (auto m = v.whole_number(1, 1000000, "offending sessions in a window that fire the rule"))
      r.min_sessions = static_cast<int>(*m);
  if (yaml::node v = n["resolve_after"])
    if (auto m = v.whole_number(1, 1000, "quiet polls in a row that resolve an incident"))
      r.resolve_after = static_cast<int>(*m);
  if (yaml::node v = n["severity"]) severity_of(v, r);
  if (yaml::node v = n["labels"]) {
    labels(v, r);
    // A group's alerts carry one label per dimension: a rule label of the same name would
    // be overwritten.
    for (const std::string& d : r.group_by)
      if (r.labels.contains(d))
        v.error("label " + in_quotes(d) +
                " is also a group_by dimension, whose value labels each group's alerts "
                "(rename the label)");
  }
  if (yaml::node v = n["sinks"]) {
    declared_names(v, "[oncall]", *ctx.sink_names, "no sink named ", "sinks", "sinks:", r.sinks);
  } else {
    // No sinks key: the rule notifies every sink. `sinks: []` means metrics only.
    for (const sink_config& s : *ctx.sinks) r.sinks.push_back(s.name);
  }
  if (yaml::node v = n["mute_time_intervals"]) interval_names(v, ctx, r.mute_time_intervals);
  if (yaml::node v = n["active_time_intervals"]) interval_names(v, ctx, r.active_time_intervals);

  if (n.error_count() == errors_before) out.push_back(std::move(r));
}

}  // namespace

void defaults(const yaml::node& n, rule_defaults& out) {
  if (!n.check_map({"interval", "window", "delay"}, "interval, window, delay")) return;
  if (yaml::node v = n["interval"])
    if (auto d = v.duration_value(false)) out.interval = *d;
  if (yaml::node v = n["window"])
    if (auto d = v.duration_value(false)) out.window = *d;
  if (yaml::node v = n["delay"])
    if (auto d = v.duration_value(true)) out.delay = *d;
}

void rules(const yaml::node& n, const rule_context& ctx, std::vector<rule_config>& out) {
  if (!n.is_list()) {
    n.error("must be a list (write - name: ... qoefilter: ...)");
    return;
  }
  for (std::size_t i = 0; i < n.size(); ++i) rule(n.at(i), ctx, out);
}

}  // namespace qoewatch::config::sections
