// Inside the notify module: what the renderers of per-session events (render.cpp) and of
// population groups (render_group.cpp) share: label sets, Slack's and PagerDuty's limits and
// escaping. Pure code.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "fetch/page.hpp"

namespace qoewatch::notify::parts {

using label_list = std::vector<std::pair<std::string, std::string>>;

// Slack rejects section texts over 3000 characters; PagerDuty truncates summaries at 1024.
constexpr std::size_t slack_text_limit = 3000;
constexpr std::size_t slack_max_sessions = 40;
constexpr std::size_t slack_line_limit = 400;  // one session's line in the list
constexpr std::size_t pagerduty_summary_limit = 1024;
constexpr std::string_view ellipsis = "\xe2\x80\xa6";  // U+2026

/// At most `limit` bytes (bytes >= characters, so also at most `limit` characters), cut on a
/// UTF-8 boundary so the JSON stays valid, and marked with an ellipsis when cut.
std::string truncate(std::string s, std::size_t limit);

/// Escaped for Slack's mrkdwn and truncated; a cut never leaves half an entity ("&am…").
std::string slack_text(std::string_view s, std::size_t limit = slack_text_limit);

/// A Slack section block of mrkdwn text.
boost::json::object mrkdwn_section(std::string text);

std::string_view pagerduty_severity(config::severity s);

double seconds(duration d);

/// The labels every alert of a rule carries: alertname, severity, then the rule's labels.
/// `drop_empty`: Alertmanager treats an empty label value as an absent label.
label_list rule_labels(const config::rule_config& rule, bool drop_empty);

/// Adds or replaces one label (a rule label may share the name qoewatch sets).
void set_label(label_list& labels, const std::string& name, const std::string& value);

boost::json::object to_object(const label_list& labels);

/// The evidence of one session: the row's metrics, then its non-empty fields.
void add_evidence(boost::json::object& o, const fetch::row_schema& schema,
                  const fetch::session_row& row);

}  // namespace qoewatch::notify::parts
