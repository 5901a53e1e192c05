#include "core/store.hpp"

#include <algorithm>

#include "core/generator.hpp"

namespace qoewatch::sim {

namespace {
std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}
}  // namespace

session_store::session_store(generator_config config, std::int64_t sim_start)
    : config_(std::move(config)), sim_start_(sim_start), next_minute_(floor_div(sim_start, 60)) {}

void session_store::advance(std::int64_t now) {
  if (!generating_) return;
  bool changed = false;
  if (!backlog_done_) {
    backlog_done_ = true;
    for (generated_session& s :
         generate_backlog(config_.seed, config_.backlog, config_.backlog_window, sim_start_)) {
      apply_scenario(config_.incidents, sim_start_, s);
      if (!generated_.empty() && s.endtime < generated_.back().endtime) by_end_ = false;
      generated_.push_back(s);
      changed = true;
    }
  }
  const std::int64_t last_minute = floor_div(now + max_watchtime_seconds, 60);
  for (; next_minute_ <= last_minute; ++next_minute_) {
    std::vector<generated_session> bucket =
        generate_bucket(config_.seed, config_.rate_per_min, next_minute_);
    std::sort(bucket.begin(), bucket.end(), [](const auto& a, const auto& b) {
      return a.endtime != b.endtime ? a.endtime < b.endtime : a.id < b.id;
    });
    for (generated_session& s : bucket) {
      if (s.endtime < sim_start_) continue;  // the first minute: only what ends after start
      apply_scenario(config_.incidents, sim_start_, s);
      if (!generated_.empty() && s.endtime < generated_.back().endtime) by_end_ = false;
      generated_.push_back(s);
      changed = true;
    }
  }
  const std::int64_t cutoff = now - config_.retention;
  while (!generated_.empty() &&
         (generated_.front().endtime < cutoff || generated_.size() > config_.max_generated)) {
    generated_.pop_front();
    changed = true;
  }
  if (changed) ++version_;
}

void session_store::add_control(std::vector<control_session> sessions) {
  ++version_;
  for (control_session& s : sessions) {
    auto same = std::find_if(control_.begin(), control_.end(),
                             [&s](const control_session& c) { return c.sessionid == s.sessionid; });
    if (same != control_.end())
      *same = std::move(s);
    else
      control_.push_back(std::move(s));
  }
}

void session_store::clear() {
  ++version_;
  generating_ = false;
  generated_.clear();
  generated_.shrink_to_fit();
  control_.clear();
}

}  // namespace qoewatch::sim
