// The Prometheus metrics qoewatch exports, built once here; the rest of the daemon reports
// plain facts (a poll's outcome, a delivery's outcome) and never touches prometheus-cpp.
// Names follow Prometheus conventions; no session, subscriber or asset ids in labels.
// Not thread-safe: use from the event loop's thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "evaluate/step.hpp"
#include "fetch/page.hpp"

namespace qoewatch::metrics {

/// What one finished poll of a rule found.
struct poll_report {
  bool success = false;
  double duration_seconds = 0;
  double finished_at = 0;     // epoch seconds
  evaluate::poll_facts facts;  // only meaningful when success
};

class registry {
 public:
  explicit registry(std::string_view version);
  ~registry();
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  /// Creates the rule's series (source_up 0, counters at 0) so dashboards see the rule before
  /// its first poll ends. Idempotent.
  void add_rule(const std::string& rule);

  /// Drops every series of rules not in `keep` (after a reload removed them).
  void retain_rules(const std::vector<std::string>& keep);

  /// Records a finished poll: on success the window's gauges, source_up 1, the last success
  /// time; on failure source_up 0 and a failure count, leaving the window's gauges as they were.
  void record_poll(const std::string& rule, const poll_report& report);

  /// Counts a poll that was due while the previous one still ran.
  void record_skipped_polls(const std::string& rule, std::uint64_t count);

  /// Sets qoewatch_rule_firing: 1 while the rule's incident fires.
  void set_firing(const std::string& rule, bool firing);

  /// Counts window seconds a catch-up poll left out because they were older than max_catchup.
  void record_catchup_skipped(const std::string& rule, std::int64_t seconds);

  /// Counts notifications of `rule` to `sink` that a silence or a mute held back.
  void record_silenced(const std::string& rule, const std::string& sink, std::size_t count);

  /// qoewatch_silences{state}: how many silences are active, pending and expired.
  void set_silences(std::size_t active, std::size_t pending, std::size_t expired);

  /// Creates the sink's series (outbox empty, counters at 0). Idempotent.
  void add_sink(const std::string& sink);

  /// Drops every series of sinks not in `keep`. The record_* and set_outbox calls below do
  /// nothing for a sink that was not added (or was dropped).
  void retain_sinks(const std::vector<std::string>& keep);

  /// Counts one POST to a sink: outcome "success" or "failure".
  void record_notification(const std::string& sink, bool success);

  /// A notification delivered `seconds` after it was written to the outbox.
  void record_delivered(const std::string& sink, double seconds);

  /// Counts a notification moved to the dead letters.
  void record_dead_letter(const std::string& sink);

  /// The sink's outbox: how many notifications wait and when the oldest was written (epoch
  /// seconds; ignored when pending is 0). The age is computed at each scrape.
  void set_outbox(const std::string& sink, std::size_t pending, double oldest_created_at);

  /// Records a configuration (re)load attempt at `when` (epoch seconds).
  void record_config_load(bool success, double when);

  /// Sets how many (rule, session) pairs are remembered as notified.
  void set_notified_sessions(std::size_t count);

  /// Whether the state database answers (0 while its calls fail: commits wait, polls too).
  void set_state_up(bool up);
  /// How many rules this replica owns (polls), out of `configured`.
  void set_rules_owned(std::size_t owned, std::size_t configured);
  /// Whether this qoewatchd delivers `sink` now (a sink not configured is ignored).
  void set_sink_owned(const std::string& sink, bool owned);
  /// A rule lease changed hands: "acquired", "rebalanced", "expired", "fenced", "stopped".
  void record_lease_change(const std::string& reason, std::size_t count = 1);

  /// The Prometheus text exposition format of everything above.
  std::string serialize() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace qoewatch::metrics
