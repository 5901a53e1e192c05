#include "notify/payload.hpp"

#include <algorithm>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <map>

#include "duration.hpp"
#include "hash.hpp"
#include "rules/expr.hpp"
#include "rules/metric_dictionary.hpp"

namespace qoewatch::notify {

namespace json = boost::json;

namespace {

std::string unit_suffix(std::string_view metric) {
  const rules::metric_info* m = rules::find_metric(metric);
  if (m == nullptr) return {};
  if (m->unit == "seconds") return " s";
  if (m->unit == "percent") return " %";
  if (m->unit == "minutes") return " min";
  return {};
}

// Comparisons reachable without passing a NOT: the ones whose truth argues for the match.
void positive_terms(const rules::expr& e, std::vector<const rules::comparison*>& out) {
  switch (e.k) {
    case rules::expr::kind::compare:
      out.push_back(&e.cmp);
      return;
    case rules::expr::kind::not_:
      return;
    case rules::expr::kind::and_:
    case rules::expr::kind::or_:
      for (const rules::expr& c : e.children) positive_terms(c, out);
      return;
  }
}

std::optional<double> metric_value(const fetch::row_schema& schema, const fetch::session_row& row,
                                   std::string_view metric) {
  for (std::size_t i = 0; i < schema.metrics.size(); ++i)
    if (schema.metrics[i] == metric) return row.metrics[i];
  return std::nullopt;
}

}  // namespace

std::string summary_of(const config::rule_config& rule, const fetch::row_schema& schema,
                       const fetch::session_row& row) {
  std::vector<const rules::comparison*> terms;
  positive_terms(rule.condition, terms);
  std::string out;
  for (const rules::comparison* c : terms) {
    std::optional<double> v = metric_value(schema, row, c->metric);
    if (!v || !rules::compare(*v, c->op, c->value)) continue;
    std::string part = c->metric + " " + rules::format_number(*v) + unit_suffix(c->metric) + " " +
                       std::string(rules::to_string(c->op)) + " " + rules::format_number(c->value) +
                       unit_suffix(c->metric);
    if (out.find(part) != std::string::npos) continue;
    if (!out.empty()) out += ", ";
    out += part;
  }
  if (out.empty()) out = "matches " + rules::to_string(rule.condition);
  return out;
}

std::string rfc3339(double epoch_seconds) {
  const auto whole = static_cast<std::int64_t>(std::floor(epoch_seconds));
  return utc_rfc3339(std::chrono::system_clock::time_point(std::chrono::seconds(whole)));
}

std::string fingerprint(const std::vector<std::pair<std::string, std::string>>& labels) {
  std::vector<std::pair<std::string, std::string>> sorted = labels;
  std::sort(sorted.begin(), sorted.end());
  // FNV-1a 64 over name \xff value \xff ...: stable across runs, builds and machines.
  std::uint64_t h = fnv1a_basis;
  auto mix = [&h](std::string_view s) { h = fnv1a("\xff", fnv1a(s, h)); };
  for (const auto& [k, v] : sorted) {
    mix(k);
    mix(v);
  }
  return hex16(h);
}

std::vector<std::string> build_notifications(const config::rule_config& rule,
                                             const fetch::row_schema& schema,
                                             std::span<const fetch::session_row* const> sessions,
                                             const context& ctx, std::size_t max_per_notification) {
  std::vector<std::string> bodies;
  if (sessions.empty()) return bodies;
  max_per_notification = std::max<std::size_t>(max_per_notification, 1);

  std::vector<std::pair<std::string, std::string>> common = {
      {"alertname", rule.name}, {"severity", std::string(config::to_string(rule.severity))}};
  for (const auto& [k, v] : rule.labels) common.emplace_back(k, v);
  json::object common_labels;
  for (const auto& [k, v] : common) common_labels[k] = v;
  json::object common_annotations;
  if (!rule.description.empty()) common_annotations["description"] = rule.description;

  for (std::size_t first = 0; first < sessions.size(); first += max_per_notification) {
    std::size_t last = std::min(sessions.size(), first + max_per_notification);
    json::array alerts;
    for (std::size_t i = first; i < last; ++i) {
      const fetch::session_row& row = *sessions[i];
      auto labels = common;
      labels.emplace_back("sessionid", row.sessionid);
      json::object label_obj;
      for (const auto& [k, v] : labels) label_obj[k] = v;
      json::object annotations;
      annotations["summary"] = summary_of(rule, schema, row);
      for (std::size_t m = 0; m < schema.metrics.size(); ++m)
        annotations[schema.metrics[m]] = rules::format_number(row.metrics[m]);
      for (std::size_t f = 0; f < schema.fields.size(); ++f)
        if (!row.fields[f].empty()) annotations[schema.fields[f]] = row.fields[f];
      json::object alert;
      alert["status"] = "firing";
      alert["labels"] = std::move(label_obj);
      alert["annotations"] = std::move(annotations);
      alert["startsAt"] = rfc3339(row.endtime);
      alert["endsAt"] = "0001-01-01T00:00:00Z";
      alert["fingerprint"] = fingerprint(labels);
      alerts.push_back(std::move(alert));
    }
    json::object body;
    body["version"] = "4";
    body["groupKey"] = "qoewatch/" + rule.name;
    body["status"] = "firing";
    body["receiver"] = ctx.receiver;
    body["groupLabels"] = json::object{{"alertname", rule.name}};
    body["commonLabels"] = common_labels;
    body["commonAnnotations"] = common_annotations;
    body["externalURL"] = ctx.external_url;
    body["truncatedAlerts"] = sessions.size() - last;
    body["alerts"] = std::move(alerts);
    body["qoewatch"] =
        json::object{{"rule", rule.name},
                     {"customer_id", ctx.customer_id},
                     {"window", json::object{{"start", ctx.window.start}, {"end", ctx.window.end}}},
                     {"query", ctx.query}};
    bodies.push_back(json::serialize(body));
  }
  return bodies;
}

}  // namespace qoewatch::notify
