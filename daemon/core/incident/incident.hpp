// A rule's incident: firing while its windows hold at least min_sessions offending sessions,
// resolved after resolve_after consecutive successful polls below that. A failed poll neither
// fires nor resolves. Pure code: the state is a value the caller keeps (and persists).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace qoewatch::incident {

struct state {
  bool firing = false;
  std::string key;        // stable while firing: "<rule>/<started_at>"
  double started_at = 0;  // epoch seconds: the end of the window that fired it
  int polls_below = 0;    // consecutive successful polls below min_sessions while firing
  // The sinks told of the firing (a silence or a mute can hold it back): only they hear the
  // resolve. Kept as the incident's row's sinks.
  std::vector<std::string> told;
  bool operator==(const state&) const = default;
};

enum class transition { none, fired, resolved };

struct step_result {
  state next;
  transition change = transition::none;
};

/// The incident key of a rule whose incident fired at `started_at`.
std::string key_for(std::string_view rule, double started_at);

/// Folds one successful poll that found `offending` sessions in its window, which ends at
/// `window_end`: an incident it fires is named after that window, so every process judging
/// the same data names it alike.
step_result step(const config::rule_config& rule, const state& current, std::size_t offending,
                 double window_end);

}  // namespace qoewatch::incident
