#include "backtest/tally.hpp"

#include <date/tz.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "evaluate/population.hpp"

namespace qoewatch::backtest {

rule_tally::rule_tally(const config::rule_config& rule, const date::time_zone* zone)
    : rule_(rule), zone_(zone) {}

std::pair<std::string, bool> rule_tally::local(double t) const {
  using namespace std::chrono;
  const sys_seconds at{seconds(static_cast<std::int64_t>(std::floor(t)))};
  const local_seconds wall = zone_ ? local_seconds{zone_->to_local(at).time_since_epoch()}
                                   : local_seconds{at.time_since_epoch()};
  const local_days d = floor<std::chrono::days>(wall);
  const year_month_day ymd{sys_days{d.time_since_epoch()}};
  char text[16];
  std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return {text, wall - d < hours(6)};
}

day_record& rule_tally::day(double now) {
  std::string date = local(now).first;
  if (days_.empty() || days_.back().date != date) {
    day_record d;
    d.date = std::move(date);
    days_.push_back(std::move(d));
  }
  return days_.back();
}

incident_record& rule_tally::open(const std::string& key) {
  auto it = firing_.find(key);
  if (it == firing_.end()) {
    it = firing_.emplace(key, incidents_.size()).first;
    incident_record r;
    r.key = key;
    incidents_.push_back(std::move(r));
  }
  return incidents_[it->second];
}

void rule_tally::close(const std::string& key, double now) {
  auto it = firing_.find(key);
  if (it == firing_.end()) return;
  incidents_[it->second].resolved_at = now;
  firing_.erase(it);
}

void rule_tally::peak(incident_record& r, const notify::group_info& g) {
  r.peak_sessions = std::max(r.peak_sessions, g.sessions);
  r.peak_offending = std::max(r.peak_offending, g.offending);
  r.peak_ratio = std::max(r.peak_ratio, g.ratio);
  if (r.peak_aggregates.empty()) r.peak_aggregates = g.aggregates;
  for (std::size_t i = 0; i < g.aggregates.size() && i < r.peak_aggregates.size(); ++i) {
    std::optional<double>& best = r.peak_aggregates[i].second;
    const std::optional<double>& v = g.aggregates[i].second;
    if (v && (!best || *v > *best)) best = v;
  }
}

void rule_tally::record(double now, const evaluate::poll_outcome& out,
                        const evaluate::step_effects& fx) {
  day_record& d = day(now);
  ++d.polls;
  ++totals_.polls;
  const bool polled = out.what == evaluate::poll_outcome::kind::polled;
  if (!polled) {
    ++d.polls_failed;
    ++totals_.polls_failed;
  }
  totals_.rows_judged += fx.facts.rows_fetched;
  std::size_t notified = 0;
  for (bool n : fx.notified) notified += n ? 1 : 0;
  d.sessions_notified += notified;
  totals_.sessions_notified += notified;
  d.notifications += fx.outbox_rows;
  totals_.notifications += fx.outbox_rows;
  std::size_t held = 0;
  for (const auto& [sink, count] : fx.silenced) held += count;
  d.held += held;
  totals_.held += held;

  auto fired = [&](incident_record& r) {
    r.fired_at = now;
    r.at_night = local(now).second;
    ++d.incidents;
    ++totals_.incidents;
    if (r.at_night) ++totals_.incidents_at_night;
  };
  if (!rule_.population()) {
    if (fx.change == incident::transition::fired) fired(open(fx.incident_key));
    if (fx.next.incident.firing) {
      incident_record& r = open(fx.next.incident.key);
      ++r.polls;
      r.peak_offending = std::max(r.peak_offending, fx.facts.offending);
      r.sessions_notified += notified;
    }
    if (fx.change == incident::transition::resolved) close(fx.incident_key, now);
    return;
  }
  for (const evaluate::group_change& c : fx.group_changes) {
    if (c.change == incident::transition::fired) {
      incident_record& r = open(c.incident_key);
      for (std::size_t i = 0; i < rule_.group_by.size() && i < c.figures.values.size(); ++i)
        r.group.emplace_back(rule_.group_by[i], c.figures.values[i]);
      fired(r);
    }
  }
  // Peaks from the window's figures of each firing group (always among the exported ones).
  for (const auto& [values, g] : fx.next.groups) {
    if (!g.firing) continue;
    incident_record& r = open(g.key);
    ++r.polls;
    if (r.group.empty())
      for (std::size_t i = 0; i < rule_.group_by.size() && i < values.size(); ++i)
        r.group.emplace_back(rule_.group_by[i], values[i]);
    const std::string label = evaluate::group_label(rule_, values);
    for (const evaluate::poll_facts::group& e : fx.facts.exported)
      if (e.label == label && e.info.measured) peak(r, e.info);
  }
  for (const evaluate::group_change& c : fx.group_changes)
    if (c.change == incident::transition::resolved) close(c.incident_key, now);
}

void rule_tally::unfetched(double now, fetch::window w, const std::string& error) {
  day_record& d = day(now);
  ++d.polls;
  ++d.polls_failed;
  ++totals_.polls;
  ++totals_.polls_failed;
  if (!gaps_.empty() && gaps_.back().error == error && gaps_.back().span.end >= w.start) {
    gaps_.back().span.end = std::max(gaps_.back().span.end, w.end);
    return;
  }
  gaps_.push_back({w, error});
}

}  // namespace qoewatch::backtest
