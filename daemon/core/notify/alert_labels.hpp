// The labels of the alerts a notification carries, as silences match them (and as the
// Alertmanager API lists firing incidents and groups): alertname, severity, the rule's labels,
// a group's dimensions, incident, and sessionid on a session's alert. A session's alert is
// matched with its incident's label too, so a silence of one incident holds its sessions with
// it. A label with an empty value is absent, as in Alertmanager. Pure code.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "silence/matcher.hpp"

namespace qoewatch::notify {

/// A per-session rule's incident alert.
silence::label_set incident_labels(const config::rule_config& rule, std::string_view incident);

/// One session's alert in a per-session rule's incident.
silence::label_set session_labels(const config::rule_config& rule, std::string_view incident,
                                  std::string_view sessionid);

/// A population rule's group alert: `values` are aligned with rule.group_by.
silence::label_set group_labels(const config::rule_config& rule,
                                const std::vector<std::string>& values, std::string_view incident);

}  // namespace qoewatch::notify
