#include "notify/alert_labels.hpp"

#include "notify/render_parts.hpp"

namespace qoewatch::notify {

namespace {

void set(silence::label_set& labels, std::string_view name, std::string_view value) {
  if (value.empty())
    labels.erase(std::string(name));
  else
    labels.insert_or_assign(std::string(name), std::string(value));
}

}  // namespace

silence::label_set incident_labels(const config::rule_config& rule, std::string_view incident) {
  silence::label_set labels;
  for (auto& [name, value] : parts::rule_labels(rule, true)) set(labels, name, value);
  set(labels, "incident", incident);
  return labels;
}

silence::label_set session_labels(const config::rule_config& rule, std::string_view incident,
                                  std::string_view sessionid) {
  silence::label_set labels = incident_labels(rule, incident);
  set(labels, "sessionid", sessionid);
  return labels;
}

silence::label_set group_labels(const config::rule_config& rule,
                                const std::vector<std::string>& values, std::string_view incident) {
  silence::label_set labels;
  for (auto& [name, value] : parts::rule_labels(rule, true)) set(labels, name, value);
  // As the renderers do: a dimension replaces a rule label of its name, incident replaces both.
  for (std::size_t i = 0; i < rule.group_by.size() && i < values.size(); ++i)
    set(labels, rule.group_by[i], values[i]);
  set(labels, "incident", incident);
  return labels;
}

}  // namespace qoewatch::notify
