#include "notify/payload.hpp"

#include <algorithm>
#include <boost/json/monotonic_resource.hpp>
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

}  // namespace

session_summary::session_summary(const config::rule_config& rule, const fetch::row_schema& schema)
    : fallback_("matches " + rules::to_string(rule.condition)) {
  std::vector<const rules::comparison*> positive;
  positive_terms(rule.condition, positive);
  for (const rules::comparison* c : positive) {
    auto it = std::find(schema.metrics.begin(), schema.metrics.end(), c->metric);
    if (it == schema.metrics.end()) continue;  // not fetched: it cannot be shown
    const std::string unit = unit_suffix(c->metric);
    terms_.push_back({static_cast<std::size_t>(it - schema.metrics.begin()), c->op, c->value,
                      c->metric + " ",
                      unit + " " + std::string(rules::to_string(c->op)) + " " +
                          rules::format_number(c->value) + unit});
  }
}

std::string session_summary::operator()(const fetch::session_row& row) const {
  std::string out;
  std::string part;
  for (const term& t : terms_) {
    if (t.metric >= row.metrics.size()) continue;
    const double v = row.metrics[t.metric];
    if (!rules::compare(v, t.op, t.threshold)) continue;
    part = t.name;
    part += rules::format_number(v);
    part += t.tail;
    if (out.find(part) != std::string::npos) continue;
    if (!out.empty()) out += ", ";
    out += part;
  }
  return out.empty() ? fallback_ : out;
}

std::string summary_of(const config::rule_config& rule, const fetch::row_schema& schema,
                       const fetch::session_row& row) {
  return session_summary(rule, schema)(row);
}

namespace {
// FNV-1a 64 over name \xff value \xff ... of a sorted label set: stable across runs, builds
// and machines.
void mix_label(std::uint64_t& h, std::string_view name, std::string_view value) {
  h = fnv1a("\xff", fnv1a(name, h));
  h = fnv1a("\xff", fnv1a(value, h));
}
}  // namespace

std::string fingerprint(const std::vector<std::pair<std::string, std::string>>& labels) {
  std::vector<std::pair<std::string, std::string>> sorted = labels;
  std::sort(sorted.begin(), sorted.end());
  std::uint64_t h = fnv1a_basis;
  for (const auto& [k, v] : sorted) mix_label(h, k, v);
  return hex16(h);
}

std::string fingerprint_with(const std::vector<std::pair<std::string, std::string>>& sorted,
                             const std::pair<std::string_view, std::string_view>& extra) {
  std::uint64_t h = fnv1a_basis;
  bool placed = false;
  for (const auto& [k, v] : sorted) {
    if (!placed && std::pair<std::string_view, std::string_view>(k, v) >= extra) {
      mix_label(h, extra.first, extra.second);
      placed = true;
    }
    mix_label(h, k, v);
  }
  if (!placed) mix_label(h, extra.first, extra.second);
  return hex16(h);
}

void each_notification(const config::rule_config& rule, const fetch::row_schema& schema,
                       std::span<const fetch::session_row* const> sessions, const context& ctx,
                       std::size_t max_per_notification,
                       const std::function<void(json::object& body)>& each,
                       std::size_t told_after) {
  if (sessions.empty()) return;
  max_per_notification = std::max<std::size_t>(max_per_notification, 1);

  std::vector<std::pair<std::string, std::string>> common = {
      {"alertname", rule.name}, {"severity", std::string(config::to_string(rule.severity))}};
  for (const auto& [k, v] : rule.labels) common.emplace_back(k, v);
  std::vector<std::pair<std::string, std::string>> sorted = common;
  std::sort(sorted.begin(), sorted.end());
  const session_summary summary(rule, schema);

  // Each body's tree lives in an arena reused body after body: one allocation per body
  // instead of one per value (thousands of alerts per poll are normal after an outage).
  std::vector<unsigned char> buffer(64u << 10);
  for (std::size_t first = 0; first < sessions.size(); first += max_per_notification) {
    std::size_t last = std::min(sessions.size(), first + max_per_notification);
    json::monotonic_resource arena(buffer.data(), buffer.size());
    json::storage_ptr sp(&arena);
    json::object body(sp);
    body.reserve(11);
    body["version"] = "4";
    body["groupKey"] = "qoewatch/" + rule.name;
    body["status"] = "firing";
    body["receiver"] = ctx.receiver;
    body["groupLabels"].emplace_object()["alertname"] = rule.name;
    json::object& common_labels = body["commonLabels"].emplace_object();
    for (const auto& [k, v] : common) common_labels[k] = v;
    json::object& common_annotations = body["commonAnnotations"].emplace_object();
    if (!rule.description.empty()) common_annotations["description"] = rule.description;
    body["externalURL"] = ctx.external_url;
    body["truncatedAlerts"] = sessions.size() - last + told_after;
    json::array& alerts = body["alerts"].emplace_array();
    alerts.reserve(last - first);
    for (std::size_t i = first; i < last; ++i) {
      const fetch::session_row& row = *sessions[i];
      json::object& alert = alerts.emplace_back(json::object(sp)).get_object();
      alert.reserve(6);
      alert["status"] = "firing";
      json::object& labels = alert["labels"].emplace_object();
      labels.reserve(common.size() + 1);
      for (const auto& [k, v] : common) labels[k] = v;
      labels["sessionid"] = row.sessionid;
      json::object& annotations = alert["annotations"].emplace_object();
      annotations.reserve(1 + schema.metrics.size() + schema.fields.size());
      annotations["summary"] = summary(row);
      for (std::size_t m = 0; m < schema.metrics.size(); ++m)
        annotations[schema.metrics[m]] = rules::format_number(row.metrics[m]);
      for (std::size_t f = 0; f < schema.fields.size(); ++f)
        if (!row.fields[f].empty()) annotations[schema.fields[f]] = row.fields[f];
      alert["startsAt"] = utc_rfc3339(row.endtime);
      alert["endsAt"] = "0001-01-01T00:00:00Z";
      alert["fingerprint"] = fingerprint_with(sorted, {"sessionid", row.sessionid});
    }
    json::object& q = body["qoewatch"].emplace_object();
    q["rule"] = rule.name;
    q["customer_id"] = ctx.customer_id;
    json::object& w = q["window"].emplace_object();
    w["start"] = ctx.window.start;
    w["end"] = ctx.window.end;
    q["query"] = ctx.query;
    each(body);
  }
}

std::vector<std::string> build_notifications(const config::rule_config& rule,
                                             const fetch::row_schema& schema,
                                             std::span<const fetch::session_row* const> sessions,
                                             const context& ctx, std::size_t max_per_notification) {
  std::vector<std::string> bodies;
  each_notification(rule, schema, sessions, ctx, max_per_notification,
                    [&](json::object& body) { bodies.push_back(json::serialize(body)); });
  return bodies;
}

}  // namespace qoewatch::notify
