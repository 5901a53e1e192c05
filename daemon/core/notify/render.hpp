// What one poll of one rule has to tell one sink, and the request bodies that say it in the
// sink's own format (webhook, Alertmanager, Slack, PagerDuty). Pure code: bodies are built as
// JSON trees, so no value (session ids, templates, descriptions) can break the JSON.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "fetch/page.hpp"
#include "notify/payload.hpp"

namespace qoewatch::notify {

/// The rule's incident as a sink sees it.
struct incident_info {
  std::string key;            // stable for the incident's lifetime; PagerDuty's dedup_key
  bool resolved = false;      // true on the notification that resolves it
  double started_at = 0;      // epoch seconds
  double ended_at = 0;        // epoch seconds, when resolved
  std::size_t offending = 0;  // offending sessions in the poll's window
};

struct event {
  const config::rule_config* rule = nullptr;
  const fetch::row_schema* schema = nullptr;
  // webhook, slack, pagerduty: the sessions new in this poll (never notified before).
  // alertmanager: every offending session of the window (re-sent each poll while firing).
  std::span<const fetch::session_row* const> sessions;
  // `sessions` may be a slice of the sessions told: those from index `first` of `total` in
  // all. Bodies count and number them among all of them (truncatedAlerts, "sessions 41-80 of
  // 95", the incident alert in Alertmanager's first body), so rendering a poll's sessions
  // slice by slice, cut every batch_size(sink), gives the bodies rendering them at once would.
  std::size_t first = 0;
  std::optional<std::size_t> total;  // sessions.size() when not set
  incident_info incident;
  context ctx;     // receiver, external URL, customer, window, query
  double now = 0;  // epoch seconds of the poll
};

/// When an Alertmanager alert sent at `now` (epoch seconds) while its incident fires ends
/// unless it is sent again: four of the rule's intervals later, so that a poll or two that
/// fail do not resolve it.
double alert_ends_at(const config::rule_config& rule, double now);

/// The most sessions one body of `sink` carries: max_sessions_per_notification (Slack: at
/// most 40), at least 1.
std::size_t batch_size(const config::sink_config& sink);

/// One request body for a sink.
struct rendered {
  std::string body;  // JSON
};

/// The bodies `sink` gets for `e`, in order; empty when there is nothing to say. Batches
/// sessions by sink.max_sessions_per_notification (Slack: at most 40 per message).
///   webhook:      Alertmanager webhook shape (build_notifications) plus "qoewatch.incident";
///                 resolve: status "resolved", one alert for the incident with endsAt.
///   alertmanager: a JSON array of postable alerts: one per session and one for the incident;
///                 firing alerts have endsAt = now + 4 x rule.interval, resolve endsAt = now.
///   slack:        {"text": summary, "blocks": [...]} (mrkdwn, sessions listed).
///   pagerduty:    Events API v2 trigger/resolve with dedup_key = incident key, severity mapped,
///                 sessions in payload.custom_details. Without "routing_key": the delivery adds
///                 it when sending, so the key never reaches the outbox.
std::vector<rendered> render(const config::sink_config& sink, const event& e);

/// One group of a population rule as a sink sees it: its dimension values and figures.
struct group_info {
  std::vector<std::string> values;  // aligned with rule.group_by
  std::string label;                // "cdn=edgeB,platform=Android"; "" without group_by
  bool measured = false;            // the group was in the window (false: figures are zero)
  std::size_t sessions = 0;
  std::size_t offending = 0;
  double ratio = 0;
  // Each metric aggregate the rule's conditions read, with its value (nullopt: no session
  // of the group carried the metric).
  std::vector<std::pair<std::string, std::optional<double>>> aggregates;
  bool operator==(const group_info&) const = default;
};

/// A change of a group (fired, resolved) or, for Alertmanager, a firing group re-sent.
struct group_event {
  const config::rule_config* rule = nullptr;
  const fetch::row_schema* schema = nullptr;
  group_info group;
  // The offending sessions sent with a group that fires (at most rule.evidence); none on a
  // re-send or a resolve.
  std::span<const fetch::session_row* const> evidence;
  incident_info incident;  // the group's incident (offending: the group's)
  context ctx;
  double now = 0;
};

/// The bodies `sink` gets for a group event, in order:
///   webhook:      Alertmanager webhook shape, groupKey "qoewatch/<rule>/<group>": first the
///                 group alert (labels alertname, severity, the rule's labels, one per group_by
///                 dimension, incident; annotations: summary, sessions, offending, ratio, the
///                 aggregates), then the evidence alerts (labels as for a session, with
///                 sessionid and the dimensions); "qoewatch" adds "group" and "aggregates".
///   alertmanager: the group alert and the evidence as postable alerts.
///   slack:        one message with the numbers and the evidence.
///   pagerduty:    trigger/resolve, dedup_key = the group's incident key, figures and evidence
///                 in custom_details.
std::vector<rendered> render_group(const config::sink_config& sink, const group_event& e);

}  // namespace qoewatch::notify
