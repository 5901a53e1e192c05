#include "notify/render.hpp"

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstdint>
#include <utility>

#include "notify/render_parts.hpp"
#include "rules/expr.hpp"
#include "text/join.hpp"
#include "text/template.hpp"

namespace qoewatch::notify {

namespace json = boost::json;

using namespace parts;

namespace {

// Everything the renderers share about one event.
struct view {
  const config::sink_config& sink;
  const event& e;
  const config::rule_config& rule;
  const fetch::row_schema& schema;
  std::string condition;
  session_summary session{rule, schema};

  std::map<std::string, std::string> vars(std::size_t count) const {
    return {{"rule", rule.name},
            {"description", rule.description},
            {"severity", std::string(config::to_string(rule.severity))},
            {"status", e.incident.resolved ? "resolved" : "firing"},
            {"count", std::to_string(count)},
            {"offending", std::to_string(e.incident.offending)},
            {"metric", text::join(rules::metrics_of(rule.condition), ", ")},
            {"condition", condition},
            {"incident", e.incident.key},
            {"window_start", utc_rfc3339(static_cast<double>(e.ctx.window.start))},
            {"window_end", utc_rfc3339(static_cast<double>(e.ctx.window.end))},
            {"customer_id", std::to_string(e.ctx.customer_id)},
            {"receiver", e.ctx.receiver}};
  }

  // The built-in summary of the incident, without the rule name (alertname says it).
  std::string built_in() const {
    if (e.incident.resolved) {
      // It resolves after polls below min_sessions: say that, not the last poll's count.
      std::string fewer = rule.min_sessions <= 1
                              ? std::string("no sessions")
                              : "fewer than " + std::to_string(rule.min_sessions) + " sessions";
      return "Resolved: " + rule.name + ": " + fewer + " in the window break " + condition;
    }
    std::size_t n = e.incident.offending;
    return std::to_string(n) + (n == 1 ? " session" : " sessions") + " in the window" +
           (n == 1 ? " breaks " : " break ") + condition;
  }

  // The sink's summary template filled for a body of `count` sessions, or `fallback` when
  // there is none (or it does not fill: the loader checks templates, code-built ones may not).
  std::string summary(std::size_t count, std::string fallback) const {
    if (sink.summary.empty()) return fallback;
    std::string error;
    std::string filled = text::fill_template(sink.summary, vars(count), &error);
    return error.empty() ? filled : fallback;
  }

  // Firing: the built-in summary with the rule's name in front, for standalone messages.
  std::string headline(std::size_t count) const {
    return summary(count, e.incident.resolved ? built_in() : rule.name + ": " + built_in());
  }

  std::size_t batch_size() const { return notify::batch_size(sink); }
  // The slice e.sessions is of the sessions told: where it starts and how many there are.
  std::size_t first() const { return e.first; }
  std::size_t total() const { return e.total.value_or(e.sessions.size()); }

  json::object window_rfc3339() const {
    return {{"start", utc_rfc3339(static_cast<double>(e.ctx.window.start))},
            {"end", utc_rfc3339(static_cast<double>(e.ctx.window.end))}};
  }

  // The evidence of one session: the condition's metrics, then the non-empty fields.
  void add_evidence(json::object& o, const fetch::session_row& row) const {
    parts::add_evidence(o, schema, row);
  }

  json::object incident_object() const {
    json::object o{{"key", e.incident.key},
                   {"status", e.incident.resolved ? "resolved" : "firing"},
                   {"startsAt", utc_rfc3339(e.incident.started_at)},
                   {"offending", e.incident.offending}};
    if (e.incident.resolved) o["endsAt"] = utc_rfc3339(e.incident.ended_at);
    return o;
  }
};

// ---- webhook ----

std::vector<rendered> render_webhook(const view& v) {
  std::vector<rendered> out;
  const event& e = v.e;
  if (e.incident.resolved) {
    if (e.incident.key.empty()) return out;
    label_list labels = rule_labels(v.rule, false);
    set_label(labels, "incident", e.incident.key);
    json::object annotations{{"summary", v.summary(0, v.built_in())}};
    if (!v.rule.description.empty()) annotations["description"] = v.rule.description;
    json::object alert{{"status", "resolved"},
                       {"labels", to_object(labels)},
                       {"annotations", annotations},
                       {"startsAt", utc_rfc3339(e.incident.started_at)},
                       {"endsAt", utc_rfc3339(e.incident.ended_at)},
                       {"fingerprint", fingerprint(labels)}};
    json::object body;
    body["version"] = "4";
    body["groupKey"] = "qoewatch/" + v.rule.name;
    body["status"] = "resolved";
    body["receiver"] = e.ctx.receiver;
    body["groupLabels"] = json::object{{"alertname", v.rule.name}};
    // One alert: everything it has is common.
    body["commonLabels"] = to_object(labels);
    body["commonAnnotations"] = std::move(annotations);
    body["externalURL"] = e.ctx.external_url;
    body["truncatedAlerts"] = 0;
    body["alerts"] = json::array{std::move(alert)};
    body["qoewatch"] = json::object{
        {"rule", v.rule.name},
        {"customer_id", e.ctx.customer_id},
        {"window", json::object{{"start", e.ctx.window.start}, {"end", e.ctx.window.end}}},
        {"query", e.ctx.query},
        {"incident", v.incident_object()}};
    out.push_back({json::serialize(body)});
    return out;
  }

  const std::size_t told_after = v.total() - v.first() - e.sessions.size();
  each_notification(
      v.rule, v.schema, e.sessions, e.ctx, v.batch_size(),
      [&](json::object& body) {
        if (!e.incident.key.empty()) body["qoewatch"].as_object()["incident"] = v.incident_object();
        if (!v.sink.summary.empty()) {
          std::size_t count = body["alerts"].as_array().size();
          std::string error;
          std::string filled = text::fill_template(v.sink.summary, v.vars(count), &error);
          if (error.empty()) body["commonAnnotations"].as_object()["summary"] = filled;
        }
        out.push_back({json::serialize(body)});
      },
      told_after);
  return out;
}

// ---- alertmanager ----

std::vector<rendered> render_alertmanager(const view& v) {
  std::vector<rendered> out;
  const event& e = v.e;
  const double firing_ends = alert_ends_at(v.rule, e.now);
  const std::size_t batch = v.batch_size();

  auto postable = [&](const label_list& labels, json::object annotations, double starts,
                      double ends) {
    json::object a{{"labels", to_object(labels)},
                   {"annotations", std::move(annotations)},
                   {"startsAt", utc_rfc3339(starts)},
                   {"endsAt", utc_rfc3339(ends)}};
    // Alertmanager validates generatorURL as a URI: an empty one would reject the alert.
    if (!e.ctx.external_url.empty()) a["generatorURL"] = e.ctx.external_url;
    return a;
  };

  json::array incident;  // in the first body of all
  if (!e.incident.key.empty() && v.first() == 0) {
    label_list labels = rule_labels(v.rule, true);
    set_label(labels, "incident", e.incident.key);
    std::size_t count = e.incident.resolved ? 0 : std::min(v.total(), batch);
    json::object annotations{{"summary", v.summary(count, v.built_in())}};
    if (!v.rule.description.empty()) annotations["description"] = v.rule.description;
    incident.push_back(postable(labels, std::move(annotations), e.incident.started_at,
                                e.incident.resolved ? e.incident.ended_at : firing_ends));
  }
  if (e.incident.resolved) {
    if (!incident.empty()) out.push_back({json::serialize(incident)});
    return out;
  }

  std::size_t first = 0;
  do {
    json::array alerts = first == 0 ? std::move(incident) : json::array{};
    std::size_t last = std::min(e.sessions.size(), first + batch);
    for (std::size_t i = first; i < last; ++i) {
      const fetch::session_row& row = *e.sessions[i];
      label_list labels = rule_labels(v.rule, true);
      if (!row.sessionid.empty()) set_label(labels, "sessionid", row.sessionid);
      json::object annotations{{"summary", v.session(row)}};
      if (!v.rule.description.empty()) annotations["description"] = v.rule.description;
      v.add_evidence(annotations, row);
      alerts.push_back(postable(labels, std::move(annotations), row.endtime, firing_ends));
    }
    if (!alerts.empty()) out.push_back({json::serialize(alerts)});
    first = last;
  } while (first < e.sessions.size());
  return out;
}

// ---- slack ----

std::string more(std::size_t n) {
  return std::string(ellipsis) + " and " + std::to_string(n) + " more";
}

std::vector<rendered> render_slack(const view& v) {
  std::vector<rendered> out;
  const event& e = v.e;
  if (e.incident.resolved) {
    if (e.incident.key.empty()) return out;
    std::string text = slack_text(v.headline(0));
    json::object body{{"text", text}, {"blocks", json::array{mrkdwn_section(text)}}};
    out.push_back({json::serialize(body)});
    return out;
  }

  const std::size_t batch = v.batch_size();
  const std::size_t count = e.sessions.size();
  for (std::size_t first = 0; first < count; first += batch) {
    std::size_t last = std::min(count, first + batch);
    std::string summary = slack_text(v.headline(last - first));

    // Whole lines only: what does not fit is counted rather than cut mid-line.
    std::string list;
    for (std::size_t i = first; i < last; ++i) {
      const fetch::session_row& row = *e.sessions[i];
      std::string line =
          slack_text("\xe2\x80\xa2 `" + row.sessionid + "` " + v.session(row), slack_line_limit);
      std::size_t after = last - i - 1;
      std::size_t reserve = after == 0 ? 0 : more(after).size() + 1;
      if (list.size() + 1 + line.size() + reserve > slack_text_limit) {
        list += (list.empty() ? "" : "\n") + more(last - i);
        break;
      }
      if (!list.empty()) list += "\n";
      list += line;
    }

    std::string context = "Window " + utc_rfc3339(static_cast<double>(e.ctx.window.start)) +
                          " \xe2\x80\x93 " + utc_rfc3339(static_cast<double>(e.ctx.window.end)) +
                          " \xc2\xb7 severity " + std::string(config::to_string(v.rule.severity)) +
                          " \xc2\xb7 sessions " + std::to_string(v.first() + first + 1) +
                          "\xe2\x80\x93" + std::to_string(v.first() + last) + " of " +
                          std::to_string(v.total());
    if (!e.incident.key.empty()) context += " \xc2\xb7 incident " + e.incident.key;

    json::array blocks;
    blocks.push_back(mrkdwn_section(summary));
    blocks.push_back(mrkdwn_section(std::move(list)));
    blocks.push_back(json::object{
        {"type", "context"},
        {"elements",
         json::array{json::object{{"type", "mrkdwn"}, {"text", slack_text(context)}}}}});
    json::object body{{"text", summary}, {"blocks", std::move(blocks)}};
    out.push_back({json::serialize(body)});
  }
  return out;
}

// ---- pagerduty ----

std::vector<rendered> render_pagerduty(const view& v) {
  std::vector<rendered> out;
  const event& e = v.e;
  if (e.incident.resolved) {
    if (e.incident.key.empty()) return out;
    json::object body{{"event_action", "resolve"}, {"dedup_key", e.incident.key}};
    out.push_back({json::serialize(body)});
    return out;
  }

  const std::size_t batch = v.batch_size();
  for (std::size_t first = 0; first < e.sessions.size(); first += batch) {
    std::size_t last = std::min(e.sessions.size(), first + batch);
    json::array sessions;
    for (std::size_t i = first; i < last; ++i) {
      const fetch::session_row& row = *e.sessions[i];
      json::object s{{"sessionid", row.sessionid}, {"summary", v.session(row)}};
      v.add_evidence(s, row);
      sessions.push_back(std::move(s));
    }
    json::object details{{"rule", v.rule.name},
                         {"offending", e.incident.offending},
                         {"window", v.window_rfc3339()},
                         {"query", e.ctx.query},
                         {"sessions", std::move(sessions)}};
    if (!v.rule.description.empty()) details["description"] = v.rule.description;
    json::object payload{{"summary", truncate(v.headline(last - first), pagerduty_summary_limit)},
                         {"source", "qoewatch"},
                         {"severity", pagerduty_severity(v.rule.severity)},
                         {"timestamp", utc_rfc3339(e.now)},
                         {"component", v.rule.name},
                         {"group", "qoewatch"},
                         {"class", v.condition},
                         {"custom_details", std::move(details)}};
    json::object body;
    body["event_action"] = "trigger";
    // Without a key PagerDuty makes one per event; with it, every trigger of the incident
    // lands on the same PagerDuty alert and the resolve closes it.
    if (!e.incident.key.empty()) body["dedup_key"] = e.incident.key;
    body["payload"] = std::move(payload);
    body["client"] = "qoewatch";
    if (!e.ctx.external_url.empty()) body["client_url"] = e.ctx.external_url;
    out.push_back({json::serialize(body)});
  }
  return out;
}

}  // namespace

double alert_ends_at(const config::rule_config& rule, double now) {
  return now + 4 * parts::seconds(rule.interval);
}

std::size_t batch_size(const config::sink_config& sink) {
  const std::size_t cap = sink.type == config::sink_type::slack
                              ? slack_max_sessions
                              : sink.max_sessions_per_notification;
  return std::max<std::size_t>(1, std::min(sink.max_sessions_per_notification, cap));
}

std::vector<rendered> render(const config::sink_config& sink, const event& e) {
  if (e.rule == nullptr) return {};
  fetch::row_schema own;
  if (e.schema == nullptr) own = fetch::schema_for(*e.rule);
  const view v{sink, e, *e.rule, e.schema != nullptr ? *e.schema : own,
               rules::to_string(e.rule->condition)};
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
