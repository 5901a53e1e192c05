// The notifications of a population rule's groups: one per change of a group (fired,
// resolved), and for Alertmanager a re-send while it fires. See render.hpp.
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "notify/render.hpp"
#include "notify/render_parts.hpp"
#include "rules/expr.hpp"
#include "text/template.hpp"

namespace qoewatch::notify {

namespace json = boost::json;
using namespace parts;

namespace {

// "31 %", "10.01 %", "2.5 %", "0.04 %": two decimals, enough to tell a threshold (10 %) from
// what crossed it, without trailing zeros (nor the noise of 0.57 * 100 = 56.99999999999999);
// under 1 %, two significant digits.
std::string percent(double ratio) {
  const double p = ratio * 100;
  char buf[32];
  if (p != 0 && std::abs(p) < 1) {
    std::snprintf(buf, sizeof buf, "%.2g", p);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f", p);
    char* end = buf + std::strlen(buf);
    while (end[-1] == '0') --end;
    if (end[-1] == '.') --end;
    *end = '\0';
  }
  return std::string(buf) + " %";
}

struct group_view {
  const config::sink_config& sink;
  const group_event& e;
  const config::rule_config& rule;
  const fetch::row_schema& schema;
  session_summary session{rule, schema};

  bool resolved() const { return e.incident.resolved; }

  // "cdn=edgeB: 31 % of 412 sessions have cirrbufferingratio > 2, p95(latency) 4.7"
  std::string figures() const {
    const group_info& g = e.group;
    std::string out = g.label.empty() ? std::string{} : g.label + ": ";
    if (!g.measured) return out + "not in the window";
    const std::string n = std::to_string(g.sessions) + (g.sessions == 1 ? " session" : " sessions");
    if (rule.has_qoefilter())
      out += percent(g.ratio) + " of " + n + (g.sessions == 1 ? " has " : " have ") +
             rule.qoefilter_text;
    else
      out += n;
    for (const auto& [name, value] : g.aggregates)
      out += ", " + name + " " + (value ? rules::format_number(*value) : std::string("n/a"));
    return out;
  }

  std::string built_in() const {
    return resolved() ? "Resolved: " + rule.name + ": " + figures() + " (no longer " +
                            rule.when_text + ")"
                      : figures() + " (" + rule.when_text + ")";
  }

  std::string summary() const {
    std::string fallback = built_in();
    if (sink.summary.empty()) return fallback;
    const std::map<std::string, std::string> vars = {
        {"rule", rule.name},
        {"description", rule.description},
        {"severity", std::string(config::to_string(rule.severity))},
        {"status", resolved() ? "resolved" : "firing"},
        {"count", std::to_string(e.evidence.size())},
        {"offending", std::to_string(e.group.offending)},
        {"metric", rule.qoefilter_text},
        {"condition", rule.when_text},
        {"incident", e.incident.key},
        {"window_start", utc_rfc3339(static_cast<double>(e.ctx.window.start))},
        {"window_end", utc_rfc3339(static_cast<double>(e.ctx.window.end))},
        {"customer_id", std::to_string(e.ctx.customer_id)},
        {"receiver", e.ctx.receiver}};
    std::string error;
    std::string filled = text::fill_template(sink.summary, vars, &error);
    return error.empty() ? filled : fallback;
  }

  label_list dimensions() const {
    label_list out;
    for (std::size_t i = 0; i < rule.group_by.size() && i < e.group.values.size(); ++i)
      out.emplace_back(rule.group_by[i], e.group.values[i]);
    return out;
  }

  label_list group_labels(bool drop_empty) const {
    label_list labels = rule_labels(rule, drop_empty);
    for (const auto& [k, v] : dimensions()) set_label(labels, k, v);
    set_label(labels, "incident", e.incident.key);
    return labels;
  }

  label_list session_labels(const fetch::session_row& row, bool drop_empty) const {
    label_list labels = rule_labels(rule, drop_empty);
    for (const auto& [k, v] : dimensions()) set_label(labels, k, v);
    if (!row.sessionid.empty()) set_label(labels, "sessionid", row.sessionid);
    return labels;
  }

  // sessions, offending, ratio and the aggregates, as numbers.
  json::object aggregates() const {
    json::object o{{"sessions", e.group.sessions}};
    if (rule.has_qoefilter()) {
      o["offending"] = e.group.offending;
      o["ratio"] = e.group.ratio;
    }
    for (const auto& [name, value] : e.group.aggregates)
      o[name] = value ? json::value(*value) : json::value(nullptr);
    return o;
  }

  // The same as annotation strings (Alertmanager's annotations are strings).
  json::object group_annotations() const {
    json::object a{{"summary", summary()}};
    if (!rule.description.empty()) a["description"] = rule.description;
    a["sessions"] = std::to_string(e.group.sessions);
    if (rule.has_qoefilter()) {
      a["offending"] = std::to_string(e.group.offending);
      a["ratio"] = rules::format_number(e.group.ratio);
    }
    for (const auto& [name, value] : e.group.aggregates)
      a[name] = value ? rules::format_number(*value) : "n/a";
    return a;
  }

  json::object session_annotations(const fetch::session_row& row) const {
    json::object a{{"summary", session(row)}};
    if (!rule.description.empty()) a["description"] = rule.description;
    add_evidence(a, schema, row);
    return a;
  }

  json::object group_object() const {
    json::object o;
    for (const auto& [k, v] : dimensions()) o[k] = v;
    return o;
  }

  json::object incident_object() const {
    json::object o{{"key", e.incident.key},
                   {"status", resolved() ? "resolved" : "firing"},
                   {"startsAt", utc_rfc3339(e.incident.started_at)},
                   {"offending", e.group.offending}};
    if (resolved()) o["endsAt"] = utc_rfc3339(e.incident.ended_at);
    return o;
  }
};

// Labels every alert of the list has with the same value.
json::object common_of(const std::vector<label_list>& sets) {
  json::object out;
  if (sets.empty()) return out;
  for (const auto& [k, v] : sets.front()) {
    bool everywhere = true;
    for (const label_list& s : sets) {
      bool found = false;
      for (const auto& [k2, v2] : s) found = found || (k2 == k && v2 == v);
      everywhere = everywhere && found;
    }
    if (everywhere) out[k] = v;
  }
  return out;
}

std::vector<rendered> render_webhook(const group_view& v) {
  const group_event& e = v.e;
  const std::string status = v.resolved() ? "resolved" : "firing";
  std::vector<label_list> sets;
  json::array alerts;
  sets.push_back(v.group_labels(false));
  json::object group_annotations = v.group_annotations();
  json::object alert{{"status", status},
                     {"labels", to_object(sets.back())},
                     {"annotations", group_annotations},
                     {"startsAt", utc_rfc3339(e.incident.started_at)},
                     {"endsAt", v.resolved() ? utc_rfc3339(e.incident.ended_at)
                                             : std::string("0001-01-01T00:00:00Z")},
                     {"fingerprint", fingerprint(sets.back())}};
  if (!e.ctx.external_url.empty()) alert["generatorURL"] = e.ctx.external_url;
  alerts.push_back(std::move(alert));
  for (const fetch::session_row* row : e.evidence) {
    sets.push_back(v.session_labels(*row, false));
    json::object a{{"status", status},
                   {"labels", to_object(sets.back())},
                   {"annotations", v.session_annotations(*row)},
                   {"startsAt", utc_rfc3339(row->endtime)},
                   {"endsAt", "0001-01-01T00:00:00Z"},
                   {"fingerprint", fingerprint(sets.back())}};
    if (!e.ctx.external_url.empty()) a["generatorURL"] = e.ctx.external_url;
    alerts.push_back(std::move(a));
  }
  json::object group_labels{{"alertname", v.rule.name}};
  for (const auto& [k, val] : v.dimensions()) group_labels[k] = val;
  json::object body;
  body["version"] = "4";
  body["groupKey"] = "qoewatch/" + v.rule.name + "/" + e.group.label;
  body["status"] = status;
  body["receiver"] = e.ctx.receiver;
  body["groupLabels"] = std::move(group_labels);
  body["commonLabels"] = common_of(sets);
  json::object common_annotations;
  if (!v.rule.description.empty()) common_annotations["description"] = v.rule.description;
  if (sets.size() == 1) common_annotations = std::move(group_annotations);
  body["commonAnnotations"] = std::move(common_annotations);
  body["externalURL"] = e.ctx.external_url;
  body["truncatedAlerts"] = 0;
  body["alerts"] = std::move(alerts);
  body["qoewatch"] = json::object{
      {"rule", v.rule.name},
      {"customer_id", e.ctx.customer_id},
      {"window", json::object{{"start", e.ctx.window.start}, {"end", e.ctx.window.end}}},
      {"query", e.ctx.query},
      {"incident", v.incident_object()},
      {"group", v.group_object()},
      {"aggregates", v.aggregates()}};
  return {{json::serialize(body)}};
}

std::vector<rendered> render_alertmanager(const group_view& v) {
  const group_event& e = v.e;
  const double firing_ends = alert_ends_at(v.rule, e.now);
  auto postable = [&](const label_list& labels, json::object annotations, double starts,
                      double ends) {
    json::object a{{"labels", to_object(labels)},
                   {"annotations", std::move(annotations)},
                   {"startsAt", utc_rfc3339(starts)},
                   {"endsAt", utc_rfc3339(ends)}};
    if (!e.ctx.external_url.empty()) a["generatorURL"] = e.ctx.external_url;
    return a;
  };
  json::array alerts;
  alerts.push_back(postable(v.group_labels(true), v.group_annotations(), e.incident.started_at,
                            v.resolved() ? e.incident.ended_at : firing_ends));
  for (const fetch::session_row* row : e.evidence)
    alerts.push_back(
        postable(v.session_labels(*row, true), v.session_annotations(*row), row->endtime,
                 firing_ends));
  return {{json::serialize(alerts)}};
}

std::vector<rendered> render_slack(const group_view& v) {
  const group_event& e = v.e;
  std::string headline = slack_text(v.resolved() ? v.summary() : v.rule.name + ": " + v.summary());
  json::array blocks;
  blocks.push_back(mrkdwn_section(headline));
  if (!e.evidence.empty()) {
    std::string list;
    for (std::size_t i = 0; i < e.evidence.size() && i < slack_max_sessions; ++i) {
      const fetch::session_row& row = *e.evidence[i];
      std::string line =
          slack_text("\xe2\x80\xa2 `" + row.sessionid + "` " + v.session(row), slack_line_limit);
      if (list.size() + 1 + line.size() > slack_text_limit) break;
      if (!list.empty()) list += "\n";
      list += line;
    }
    blocks.push_back(mrkdwn_section(std::move(list)));
  }
  std::string context = "Window " + utc_rfc3339(static_cast<double>(e.ctx.window.start)) +
                        " \xe2\x80\x93 " + utc_rfc3339(static_cast<double>(e.ctx.window.end)) +
                        " \xc2\xb7 severity " + std::string(config::to_string(v.rule.severity)) +
                        " \xc2\xb7 incident " + e.incident.key;
  blocks.push_back(json::object{
      {"type", "context"},
      {"elements", json::array{json::object{{"type", "mrkdwn"}, {"text", slack_text(context)}}}}});
  json::object body{{"text", headline}, {"blocks", std::move(blocks)}};
  return {{json::serialize(body)}};
}

std::vector<rendered> render_pagerduty(const group_view& v) {
  const group_event& e = v.e;
  if (v.resolved())
    return {{json::serialize(
        json::object{{"event_action", "resolve"}, {"dedup_key", e.incident.key}})}};
  json::array sessions;
  for (const fetch::session_row* row : e.evidence) {
    json::object s{{"sessionid", row->sessionid}, {"summary", v.session(*row)}};
    add_evidence(s, v.schema, *row);
    sessions.push_back(std::move(s));
  }
  json::object details{{"rule", v.rule.name},
                       {"group", v.group_object()},
                       {"aggregates", v.aggregates()},
                       {"when", v.rule.when_text},
                       {"window",
                        json::object{{"start", utc_rfc3339(static_cast<double>(e.ctx.window.start))},
                                     {"end", utc_rfc3339(static_cast<double>(e.ctx.window.end))}}},
                       {"query", e.ctx.query},
                       {"sessions", std::move(sessions)}};
  if (!v.rule.description.empty()) details["description"] = v.rule.description;
  json::object payload{{"summary", truncate(v.rule.name + ": " + v.summary(), pagerduty_summary_limit)},
                       {"source", "qoewatch"},
                       {"severity", pagerduty_severity(v.rule.severity)},
                       {"timestamp", utc_rfc3339(e.now)},
                       {"component", v.rule.name},
                       {"group", e.group.label.empty() ? std::string("qoewatch") : e.group.label},
                       {"class", v.rule.when_text},
                       {"custom_details", std::move(details)}};
  json::object body{{"event_action", "trigger"},
                    {"dedup_key", e.incident.key},
                    {"payload", std::move(payload)},
                    {"client", "qoewatch"}};
  if (!e.ctx.external_url.empty()) body["client_url"] = e.ctx.external_url;
  return {{json::serialize(body)}};
}

}  // namespace

std::vector<rendered> render_group(const config::sink_config& sink, const group_event& e) {
  if (e.rule == nullptr || e.incident.key.empty()) return {};
  fetch::row_schema own;
  if (e.schema == nullptr) own = fetch::schema_for(*e.rule);
  const group_view v{sink, e, *e.rule, e.schema != nullptr ? *e.schema : own};
  switch (sink.type) {
    case config::sink_type::webhook:
      return render_webhook(v);
    case config::sink_type::alertmanager:
      return render_alertmanager(v);
    case config::sink_type::slack:
      return render_slack(v);
    case config::sink_type::pagerduty:
      return render_pagerduty(v);
  }
  return {};
}

}  // namespace qoewatch::notify
