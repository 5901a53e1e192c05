#include "notify/render_parts.hpp"

#include <algorithm>

#include "rules/expr.hpp"

namespace qoewatch::notify::parts {

namespace json = boost::json;

namespace {

// Slack's mrkdwn escaping: only these three are control characters.
std::string slack_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '&')
      out += "&amp;";
    else if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else
      out += c;
  }
  return out;
}

}  // namespace

// At most `limit` bytes (bytes >= characters, so also at most `limit` characters), cut on a
// UTF-8 boundary so the JSON stays valid, and marked with an ellipsis when cut.
std::string truncate(std::string s, std::size_t limit) {
  if (s.size() <= limit) return s;
  std::size_t cut = limit >= ellipsis.size() ? limit - ellipsis.size() : 0;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  s.resize(cut);
  s += ellipsis;
  return s;
}

// Escaped and truncated for a Slack text; a cut never leaves half an entity ("&am…").
std::string slack_text(std::string_view s, std::size_t limit) {
  std::string out = slack_escape(s);
  if (out.size() <= limit) return out;
  out = truncate(std::move(out), limit);
  std::size_t body = out.size() - ellipsis.size();
  std::size_t amp = out.rfind('&', body == 0 ? 0 : body - 1);
  if (amp != std::string::npos && out.find(';', amp) > body) out.replace(amp, body - amp, "");
  return out;
}

std::string_view pagerduty_severity(config::severity s) {
  switch (s) {
    case config::severity::critical:
      return "critical";
    case config::severity::error:
      return "error";
    case config::severity::warning:
      return "warning";
    case config::severity::info:
      return "info";
  }
  return "warning";
}

double seconds(duration d) {
  return static_cast<double>(d.count()) / 1000.0;
}

// The labels every alert of a rule carries: alertname, severity, then the rule's labels.
// `drop_empty`: Alertmanager treats an empty label value as an absent label.
label_list rule_labels(const config::rule_config& rule, bool drop_empty) {
  label_list out = {{"alertname", rule.name},
                    {"severity", std::string(config::to_string(rule.severity))}};
  for (const auto& [k, v] : rule.labels)
    if (!drop_empty || !v.empty()) out.emplace_back(k, v);
  return out;
}

// Adds or replaces one label (a rule label may share the name qoewatch sets).
void set_label(label_list& labels, const std::string& name, const std::string& value) {
  std::erase_if(labels, [&](const auto& l) { return l.first == name; });
  labels.emplace_back(name, value);
}

json::object to_object(const label_list& labels) {
  json::object o;
  for (const auto& [k, v] : labels) o[k] = v;
  return o;
}

json::object mrkdwn_section(std::string text) {
  return {{"type", "section"},
          {"text", json::object{{"type", "mrkdwn"},
                                {"text", truncate(std::move(text), slack_text_limit)}}}};
}

void add_evidence(json::object& o, const fetch::row_schema& schema, const fetch::session_row& row) {
  for (std::size_t m = 0; m < schema.metrics.size() && m < row.metrics.size(); ++m)
    o[schema.metrics[m]] = rules::format_number(row.metrics[m]);
  for (std::size_t f = 0; f < schema.fields.size() && f < row.fields.size(); ++f)
    if (!row.fields[f].empty()) o[schema.fields[f]] = row.fields[f];
}

}  // namespace qoewatch::notify::parts
