#include "config/config.hpp"

namespace qoewatch::config {

namespace {

// The name of `value` in `table`; empty for a value outside the enum (a cast gone wrong).
template <class Enum, std::size_t N>
std::string_view name_of(const std::array<std::pair<Enum, std::string_view>, N>& table,
                         Enum value) {
  for (const auto& [v, spelled] : table)
    if (v == value) return spelled;
  return {};
}

}  // namespace

// Outside the enum: the default's name, as the loader would have chosen.
std::string_view to_string(sink_type t) {
  std::string_view name = name_of(sink_types, t);
  return name.empty() ? name_of(sink_types, sink_config{}.type) : name;
}

std::string_view to_string(severity s) {
  std::string_view name = name_of(severities, s);
  return name.empty() ? name_of(severities, rule_config{}.severity) : name;
}

std::string_view to_string(state_backend b) {
  std::string_view name = name_of(state_backends, b);
  return name.empty() ? name_of(state_backends, state_config{}.backend) : name;
}

std::string describe_state(const daemon_config& cfg) {
  const state_config& s = cfg.state;
  if (s.backend != state_backend::postgresql) return "SQLite at " + cfg.state_dir;
  return "PostgreSQL (URL from " + s.url_file + "; leases of " + format_duration(s.lease_ttl) +
         " renewed every " + format_duration(s.lease_renew) + ")";
}

double effective_rate_limit(const sink_config& s) {
  if (s.rate_limit > 0) return s.rate_limit;
  return s.type == sink_type::slack ? 1.0 : 10.0;
}

int effective_burst(const sink_config& s) {
  if (s.burst > 0) return s.burst;
  return s.type == sink_type::slack ? 1 : 20;
}

}  // namespace qoewatch::config
