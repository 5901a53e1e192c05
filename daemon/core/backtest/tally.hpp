// What a backtest found for one rule, poll by poll: the incidents (or a population rule's
// groups) that would have fired, when they would have resolved and their peak figures, the
// sessions and notifications that would have been sent, per day of a time zone, and the spans
// that could not be fetched (never counted as quiet). Pure code: every time is passed in.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "evaluate/step.hpp"
#include "fetch/query.hpp"

namespace date {
class time_zone;
}

namespace qoewatch::backtest {

struct incident_record {
  std::string key;
  std::vector<std::pair<std::string, std::string>> group;  // dimension, value; none: the rule's
  double fired_at = 0;                                     // the poll that fired it (epoch seconds)
  std::optional<double> resolved_at;                       // none: still firing when the span ended
  bool at_night = false;  // fired between 00:00 and 06:00 in the report's zone
  std::size_t polls = 0;  // polls while it fired, the firing one included
  // Peaks over those polls: a per-session rule's offending sessions in a window; a group's
  // sessions, offending, ratio and aggregates (each its own peak).
  std::size_t peak_offending = 0;
  std::size_t peak_sessions = 0;
  double peak_ratio = 0;
  std::vector<std::pair<std::string, std::optional<double>>> peak_aggregates;
  std::size_t sessions_notified = 0;  // a per-session rule: sessions sent while it fired
};

struct day_record {
  std::string date;  // YYYY-MM-DD in the report's zone
  std::size_t polls = 0;
  std::size_t polls_failed = 0;  // the daemon's poll would have failed (e.g. max_pages)
  std::size_t incidents = 0;     // fired that day
  std::size_t sessions_notified = 0;
  std::size_t notifications = 0;  // bodies rendered for sinks
  std::size_t held = 0;           // notifications a maintenance window held back
};

struct gap_record {
  fetch::window span;  // could not be fetched: its windows were not judged
  std::string error;
};

struct rule_totals {
  std::size_t polls = 0, polls_failed = 0, incidents = 0, incidents_at_night = 0;
  std::size_t sessions_notified = 0, notifications = 0, held = 0;
  std::size_t rows_judged = 0;  // rows of every window (a row counts once per window)
};

class rule_tally {
 public:
  /// `zone`: the report's days and night hours (nullptr: UTC).
  rule_tally(const config::rule_config& rule, const date::time_zone* zone);

  /// A poll at `now` whose step had these effects.
  void record(double now, const evaluate::poll_outcome& out, const evaluate::step_effects& fx);
  /// A window that could not be judged because part of its span could not be fetched.
  void unfetched(double now, fetch::window w, const std::string& error);

  const std::vector<incident_record>& incidents() const { return incidents_; }
  const std::vector<day_record>& days() const { return days_; }
  const std::vector<gap_record>& gaps() const { return gaps_; }
  const rule_totals& totals() const { return totals_; }
  const config::rule_config& rule() const { return rule_; }

  /// The day (YYYY-MM-DD) and whether it is between 00:00 and 06:00, at `t` in the zone.
  std::pair<std::string, bool> local(double t) const;

 private:
  day_record& day(double now);
  incident_record& open(const std::string& key);
  void close(const std::string& key, double now);
  void peak(incident_record& r, const notify::group_info& g);

  const config::rule_config& rule_;
  const date::time_zone* zone_;
  std::vector<incident_record> incidents_;
  std::map<std::string, std::size_t> firing_;  // incident key -> index in incidents_
  std::vector<day_record> days_;
  std::vector<gap_record> gaps_;
  rule_totals totals_;
};

}  // namespace qoewatch::backtest
