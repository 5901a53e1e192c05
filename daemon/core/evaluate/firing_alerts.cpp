#include "evaluate/firing_alerts.hpp"

#include "duration.hpp"
#include "notify/alert_labels.hpp"
#include "notify/payload.hpp"
#include "notify/render.hpp"
#include "schedule/time_interval.hpp"

namespace qoewatch::evaluate {

namespace {

silence::alert alert_of(const config::rule_config& rule, const state::incident_row& row,
                        silence::label_set labels, const config::daemon_config& cfg, double now,
                        std::string_view external_url) {
  silence::alert a;
  std::string group;
  for (const auto& [dim, value] : row.group)
    group += (group.empty() ? "" : ",") + dim + "=" + value;
  a.annotations["summary"] = rule.name + " firing" + (group.empty() ? "" : " for " + group) +
                             " (incident " + row.key + ")";
  if (!rule.description.empty()) a.annotations["description"] = rule.description;
  a.fingerprint = notify::fingerprint({labels.begin(), labels.end()});
  a.labels = std::move(labels);
  a.starts_at = epoch_ms(row.started_at);
  a.updated_at = epoch_ms(now);
  a.ends_at = epoch_ms(notify::alert_ends_at(rule, now));  // as the Alertmanager sink says it
  a.generator_url = std::string(external_url);
  a.receivers = rule.sinks;
  a.muted = schedule::muted(rule, cfg.time_intervals, from_epoch_seconds(now));
  return a;
}

}  // namespace

std::vector<silence::alert> firing_alerts(const std::vector<state::incident_row>& incidents,
                                          const std::vector<state::incident_row>& groups,
                                          const config::daemon_config& cfg, double now,
                                          std::string_view external_url) {
  std::vector<silence::alert> out;
  for (const state::incident_row& row : incidents)
    if (const config::rule_config* rule = config::named(cfg.rules, row.rule);
        rule && !rule->population())
      out.push_back(
          alert_of(*rule, row, notify::incident_labels(*rule, row.key), cfg, now, external_url));
  for (const state::incident_row& row : groups) {
    const config::rule_config* rule = config::named(cfg.rules, row.rule);
    if (!rule || !rule->population()) continue;
    std::vector<std::string> values;
    for (const auto& [dim, value] : row.group) values.push_back(value);
    out.push_back(
        alert_of(*rule, row, notify::group_labels(*rule, values, row.key), cfg, now, external_url));
  }
  return out;
}

}  // namespace qoewatch::evaluate
