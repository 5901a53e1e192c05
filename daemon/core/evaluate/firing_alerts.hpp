// The incidents and groups firing now as the Alertmanager API lists them (GET /api/v2/alerts,
// `amtool alert query`): one alert each, with the labels silences match (notify/alert_labels)
// and the fingerprint the sinks' alerts carry, muted when the rule's maintenance windows hold.
// Made from the firing rows of the state database, so every replica lists the same. Pure code.
#pragma once

#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "silence/api.hpp"
#include "state/records.hpp"

namespace qoewatch::evaluate {

/// `incidents`: per-session rules' firing incidents; `groups`: population rules' firing
/// groups. Rows of rules the config no longer has are left out. `now` is epoch seconds.
std::vector<silence::alert> firing_alerts(const std::vector<state::incident_row>& incidents,
                                          const std::vector<state::incident_row>& groups,
                                          const config::daemon_config& cfg, double now,
                                          std::string_view external_url);

}  // namespace qoewatch::evaluate
