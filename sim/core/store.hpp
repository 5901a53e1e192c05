// The simulator's sessions: generated ones (live per-minute buckets plus an optional
// backlog, incidents applied) and control ones added by tests. Pure code; the caller passes
// the clock. Not thread-safe (the server uses it from one thread).
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "core/scenario.hpp"
#include "core/session.hpp"

namespace qoewatch::sim {

struct generator_config {
  std::uint64_t seed = 1;
  double rate_per_min = 60;               // live sessions ending per minute; 0: none
  std::int64_t backlog = 0;               // sessions that ended before the simulator started
  std::int64_t backlog_window = 3600;     // seconds before the start the backlog spreads over
  std::int64_t retention = 24 * 3600;     // generated sessions that ended longer ago are dropped
  std::size_t max_generated = 2'000'000;  // hard memory bound; the oldest are dropped first
  scenario incidents;
};

class session_store {
 public:
  /// A store whose live sessions are those with endtime >= `sim_start` (epoch seconds), plus
  /// the backlog ending before it. Nothing is generated until advance().
  session_store(generator_config config, std::int64_t sim_start);

  /// Generates every minute bucket up to (now + max watch time) not generated yet, so
  /// running sessions exist, and drops generated sessions that ended before now - retention.
  /// Does nothing after clear().
  void advance(std::int64_t now);

  /// Adds control sessions; one with the sessionid of an existing control session replaces it.
  void add_control(std::vector<control_session> sessions);

  /// Removes every session and stops generation for the rest of the process's life, so only
  /// control sessions exist from now on.
  void clear();

  const std::deque<generated_session>& generated() const { return generated_; }
  /// Whether generated() is in endtime order (it is unless a bucket ended out of order), so
  /// a period of end times is found by binary search.
  bool generated_by_end() const { return by_end_; }
  const std::vector<control_session>& control() const { return control_; }
  bool generating() const { return generating_; }
  std::int64_t sim_start() const { return sim_start_; }
  const generator_config& config() const { return config_; }

  /// Changes whenever a session is added or removed (generation, retention, control
  /// sessions, clear()), so a cache of query answers knows when it is stale.
  std::uint64_t version() const { return version_; }

 private:
  generator_config config_;
  std::int64_t sim_start_;
  std::int64_t next_minute_;  // the first minute bucket not generated yet
  bool backlog_done_ = false;
  bool generating_ = true;
  std::uint64_t version_ = 0;
  std::deque<generated_session> generated_;  // in bucket order (endtime order within a minute)
  bool by_end_ = true;
  std::vector<control_session> control_;
};

}  // namespace qoewatch::sim
