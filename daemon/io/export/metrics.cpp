#include "export/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <algorithm>
#include <chrono>
#include <map>
#include <sstream>

#include "duration.hpp"

namespace qoewatch::metrics {

namespace {
using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

double epoch_now() {
  return epoch_seconds(std::chrono::system_clock::now());
}

constexpr const char* stats[] = {"max", "p95", "mean"};
}  // namespace

struct registry::impl {
  prometheus::Registry reg;
  Family<Gauge>& build_info;
  Family<Gauge>& offending;
  Family<Gauge>& fetched;
  Family<Gauge>& startup;
  Family<Gauge>& rebuffering;
  Family<Gauge>& last_success;
  Family<Gauge>& poll_duration;
  Family<Gauge>& source_up;
  Family<Counter>& polls;
  Family<Counter>& new_sessions;
  Family<Counter>& notifications;
  Family<Counter>& rows_skipped;
  Family<Gauge>& reload_ok;
  Family<Gauge>& reload_time;
  Family<Gauge>& state_up;
  Family<Gauge>& rules_owned;
  Family<Gauge>& rules_configured;
  Family<Gauge>& sink_owned;
  Family<Counter>& lease_changes;
  Family<Gauge>& notified;
  Family<Gauge>& firing;
  Family<Counter>& catchup_skipped;
  Family<Gauge>& outbox_pending;
  Family<Gauge>& outbox_age;
  Family<Counter>& dead_letters;
  Family<Histogram>& delivery_latency;
  Family<Gauge>& group_sessions;
  Family<Gauge>& group_offending;
  Family<Gauge>& group_ratio;
  Family<Gauge>& group_aggregate;
  Family<Gauge>& group_firing;
  Family<Gauge>& rule_groups;
  Family<Counter>& silenced;
  Family<Gauge>& silences;
  std::map<std::pair<std::string, std::string>, Counter*> silenced_series;  // (rule, sink)

  struct rule_series {
    Gauge* offending;
    Gauge* fetched;
    Gauge* last_success;
    Gauge* poll_duration;
    Gauge* source_up;
    Counter* polls_success;
    Counter* polls_failure;
    Counter* polls_skipped;
    Counter* new_sessions;
    Gauge* firing;
    Counter* catchup_skipped;
    std::array<Counter*, fetch::skip_reason_count> skipped{};
    std::array<Gauge*, 3> startup{};  // present only while the window has values
    std::array<Gauge*, 3> rebuffering{};
    // A population rule: its exported groups by label, and how many groups the window had.
    struct group_series {
      Gauge* sessions;
      Gauge* offending;
      Gauge* ratio;
      Gauge* firing;
      std::map<std::string, Gauge*> aggregates;
    };
    std::map<std::string, group_series> groups;
    Gauge* group_count = nullptr;
  };
  std::map<std::string, rule_series> rules;
  struct sink_series {
    Counter* success;
    Counter* failure;
    Counter* dead;
    Gauge* pending;
    Gauge* oldest_age;
    Gauge* owned;
    Histogram* latency;
    std::size_t pending_count = 0;
    double oldest_created_at = 0;
  };
  std::map<std::string, sink_series> sinks;

  impl()
      : build_info(prometheus::BuildGauge()
                       .Name("qoewatch_build_info")
                       .Help("Always 1; the version label says which qoewatch runs.")
                       .Register(reg)),
        offending(prometheus::BuildGauge()
                      .Name("qoewatch_rule_offending_sessions")
                      .Help("Offending sessions in the rule's last successfully polled window.")
                      .Register(reg)),
        fetched(prometheus::BuildGauge()
                    .Name("qoewatch_rule_sessions_fetched")
                    .Help("Session rows fetched by the rule's last successful poll.")
                    .Register(reg)),
        startup(prometheus::BuildGauge()
                    .Name("qoewatch_rule_startup_time_seconds")
                    .Help("Startup time over the offending sessions of the rule's last window.")
                    .Register(reg)),
        rebuffering(prometheus::BuildGauge()
                        .Name("qoewatch_rule_rebuffering_ratio")
                        .Help("Rebuffering ratio (0-1) over the offending sessions of the rule's "
                              "last window.")
                        .Register(reg)),
        last_success(prometheus::BuildGauge()
                         .Name("qoewatch_rule_last_success_timestamp_seconds")
                         .Help("When the rule's last successful poll finished.")
                         .Register(reg)),
        poll_duration(prometheus::BuildGauge()
                          .Name("qoewatch_rule_poll_duration_seconds")
                          .Help("How long the rule's last poll took, every page included.")
                          .Register(reg)),
        source_up(prometheus::BuildGauge()
                      .Name("qoewatch_source_up")
                      .Help("1 when the rule's last poll of SmartSight succeeded, else 0.")
                      .Register(reg)),
        polls(prometheus::BuildCounter()
                  .Name("qoewatch_polls_total")
                  .Help("Polls by outcome: success, failure, or skipped (due while the previous "
                        "poll still ran).")
                  .Register(reg)),
        new_sessions(prometheus::BuildCounter()
                         .Name("qoewatch_rule_new_offending_sessions_total")
                         .Help("Offending sessions seen for the first time by the rule.")
                         .Register(reg)),
        notifications(prometheus::BuildCounter()
                          .Name("qoewatch_notifications_total")
                          .Help("Webhook POSTs by sink and outcome.")
                          .Register(reg)),
        rows_skipped(prometheus::BuildCounter()
                         .Name("qoewatch_rows_skipped_total")
                         .Help("Rows the rule could not judge, by reason.")
                         .Register(reg)),
        reload_ok(prometheus::BuildGauge()
                      .Name("qoewatch_config_last_reload_successful")
                      .Help("1 when the last configuration load or reload succeeded, else 0.")
                      .Register(reg)),
        reload_time(prometheus::BuildGauge()
                        .Name("qoewatch_config_last_reload_success_timestamp_seconds")
                        .Help("When the configuration was last loaded successfully.")
                        .Register(reg)),
        state_up(prometheus::BuildGauge()
                     .Name("qoewatch_state_up")
                     .Help("1 while the state database answers, 0 while its calls fail "
                           "(commits and polls wait; nothing is lost).")
                     .Register(reg)),
        rules_owned(prometheus::BuildGauge()
                        .Name("qoewatch_rules_owned")
                        .Help("Rules this qoewatchd holds the lease of and polls (replicas on "
                              "PostgreSQL share the rules; alone, all of them).")
                        .Register(reg)),
        rules_configured(prometheus::BuildGauge()
                             .Name("qoewatch_rules_configured")
                             .Help("Rules in this qoewatchd's configuration.")
                             .Register(reg)),
        sink_owned(prometheus::BuildGauge()
                       .Name("qoewatch_sink_owned")
                       .Help("1 while this qoewatchd delivers the sink's notifications: it "
                             "holds the sink's lease (replicas on PostgreSQL), or is alone.")
                       .Register(reg)),
        lease_changes(prometheus::BuildCounter()
                          .Name("qoewatch_lease_changes_total")
                          .Help("Rule leases gained or lost, by reason: acquired, rebalanced "
                                "(handed to another replica), expired (not renewed in time: "
                                "database unreachable or process paused), fenced (a commit "
                                "refused: another replica took the rule), stopped.")
                          .Register(reg)),
        notified(prometheus::BuildGauge()
                     .Name("qoewatch_notified_sessions")
                     .Help("(rule, session) pairs remembered as already notified.")
                     .Register(reg)),
        firing(prometheus::BuildGauge()
                   .Name("qoewatch_rule_firing")
                   .Help("1 while the rule's incident fires, else 0.")
                   .Register(reg)),
        catchup_skipped(prometheus::BuildCounter()
                            .Name("qoewatch_catchup_skipped_seconds_total")
                            .Help("Seconds of windows never polled because a catch-up after "
                                  "downtime reached back no further than max_catchup.")
                            .Register(reg)),
        outbox_pending(prometheus::BuildGauge()
                           .Name("qoewatch_outbox_pending")
                           .Help("Notifications written to the outbox and not yet delivered.")
                           .Register(reg)),
        outbox_age(prometheus::BuildGauge()
                       .Name("qoewatch_outbox_oldest_age_seconds")
                       .Help("Age of the oldest undelivered notification (0 when none waits).")
                       .Register(reg)),
        dead_letters(prometheus::BuildCounter()
                         .Name("qoewatch_dead_letters_total")
                         .Help("Notifications given up on: rejected by the receiver or older "
                               "than the sink's max_age.")
                         .Register(reg)),
        delivery_latency(prometheus::BuildHistogram()
                             .Name("qoewatch_notification_delivery_seconds")
                             .Help("From writing a notification to the outbox until the "
                                   "receiver accepted it.")
                             .Register(reg)),
        group_sessions(prometheus::BuildGauge()
                           .Name("qoewatch_group_sessions")
                           .Help("Sessions judged in a population rule's group in its last "
                                 "window.")
                           .Register(reg)),
        group_offending(prometheus::BuildGauge()
                            .Name("qoewatch_group_offending")
                            .Help("Sessions of the group matching the rule's qoefilter.")
                            .Register(reg)),
        group_ratio(prometheus::BuildGauge()
                        .Name("qoewatch_group_ratio")
                        .Help("Offending / sessions of the group (0-1).")
                        .Register(reg)),
        group_aggregate(prometheus::BuildGauge()
                            .Name("qoewatch_group_aggregate")
                            .Help("An aggregate the rule's conditions read, as written "
                                  "(p95(latency)), over the group's sessions.")
                            .Register(reg)),
        group_firing(prometheus::BuildGauge()
                         .Name("qoewatch_group_firing")
                         .Help("1 while the group's incident fires, else 0.")
                         .Register(reg)),
        rule_groups(prometheus::BuildGauge()
                        .Name("qoewatch_rule_groups")
                        .Help("Groups in the population rule's last window (all of them, "
                              "exported or not).")
                        .Register(reg)),
        silenced(prometheus::BuildCounter()
                     .Name("qoewatch_notifications_silenced_total")
                     .Help("Notifications a silence or a maintenance window (mute) held back, "
                           "wholly or in part, by rule and sink.")
                     .Register(reg)),
        silences(prometheus::BuildGauge()
                     .Name("qoewatch_silences")
                     .Help("Silences by state: active, pending (starts later), expired (kept "
                           "for the retention period).")
                     .Register(reg)) {}

  void remove(rule_series::group_series& g) {
    group_sessions.Remove(g.sessions);
    group_offending.Remove(g.offending);
    group_ratio.Remove(g.ratio);
    group_firing.Remove(g.firing);
    for (auto& [name, gauge] : g.aggregates) group_aggregate.Remove(gauge);
  }

  // The exported groups of the last window, and no others: a group that left the window (or
  // the top max_groups) leaves the exposition.
  void set_groups(rule_series& s, const std::string& rule, const evaluate::poll_facts& f) {
    if (!s.group_count) s.group_count = &rule_groups.Add({{"rule", rule}});
    s.group_count->Set(static_cast<double>(f.groups));
    std::map<std::string, rule_series::group_series> next;
    for (const evaluate::poll_facts::group& g : f.exported) {
      auto old = s.groups.find(g.label);
      rule_series::group_series gs{};
      if (old != s.groups.end()) {
        gs = std::move(old->second);
        s.groups.erase(old);
      } else {
        const prometheus::Labels l{{"rule", rule}, {"group", g.label}};
        gs.sessions = &group_sessions.Add(l);
        gs.offending = &group_offending.Add(l);
        gs.ratio = &group_ratio.Add(l);
        gs.firing = &group_firing.Add(l);
      }
      gs.sessions->Set(static_cast<double>(g.info.sessions));
      gs.offending->Set(static_cast<double>(g.info.offending));
      gs.ratio->Set(g.info.ratio);
      gs.firing->Set(g.firing ? 1 : 0);
      std::map<std::string, Gauge*> aggregates;
      for (const auto& [name, value] : g.info.aggregates) {
        auto a = gs.aggregates.find(name);
        Gauge* gauge = nullptr;
        if (a != gs.aggregates.end()) {
          gauge = a->second;
          gs.aggregates.erase(a);
        }
        if (!value) {  // no session carried the metric: no value to show
          if (gauge) group_aggregate.Remove(gauge);
          continue;
        }
        if (!gauge)
          gauge = &group_aggregate.Add({{"rule", rule}, {"group", g.label}, {"aggregate", name}});
        gauge->Set(*value);
        aggregates[name] = gauge;
      }
      for (auto& [name, gauge] : gs.aggregates) group_aggregate.Remove(gauge);
      gs.aggregates = std::move(aggregates);
      next.emplace(g.label, std::move(gs));
    }
    for (auto& [label, gs] : s.groups) remove(gs);
    s.groups = std::move(next);
  }

  template <class Gone>
  void drop_silenced(Gone gone) {
    for (auto it = silenced_series.begin(); it != silenced_series.end();) {
      if (!gone(it->first)) {
        ++it;
        continue;
      }
      silenced.Remove(it->second);
      it = silenced_series.erase(it);
    }
  }

  sink_series& sink(const std::string& name) {
    auto it = sinks.find(name);
    if (it != sinks.end()) return it->second;
    const prometheus::Labels l{{"sink", name}};
    sink_series s{};
    s.success = &notifications.Add({{"sink", name}, {"outcome", "success"}});
    s.failure = &notifications.Add({{"sink", name}, {"outcome", "failure"}});
    s.dead = &dead_letters.Add(l);
    s.pending = &outbox_pending.Add(l);
    s.oldest_age = &outbox_age.Add(l);
    s.owned = &sink_owned.Add(l);
    s.owned->Set(1);
    s.latency =
        &delivery_latency.Add(l, Histogram::BucketBoundaries{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
                                                             30, 60, 300, 900, 3600, 14400, 86400});
    return sinks.emplace(name, s).first->second;
  }

  rule_series& series(const std::string& rule) {
    auto it = rules.find(rule);
    if (it != rules.end()) return it->second;
    const prometheus::Labels l{{"rule", rule}};
    rule_series s{};
    s.offending = &offending.Add(l);
    s.fetched = &fetched.Add(l);
    s.last_success = &last_success.Add(l);
    s.poll_duration = &poll_duration.Add(l);
    s.source_up = &source_up.Add(l);
    s.polls_success = &polls.Add({{"rule", rule}, {"outcome", "success"}});
    s.polls_failure = &polls.Add({{"rule", rule}, {"outcome", "failure"}});
    s.polls_skipped = &polls.Add({{"rule", rule}, {"outcome", "skipped"}});
    s.new_sessions = &new_sessions.Add(l);
    s.firing = &firing.Add(l);
    s.catchup_skipped = &catchup_skipped.Add(l);
    for (std::size_t i = 0; i < fetch::skip_reason_count; ++i)
      s.skipped[i] = &rows_skipped.Add(
          {{"rule", rule},
           {"reason", std::string(fetch::to_string(static_cast<fetch::skip_reason>(i)))}});
    return rules.emplace(rule, s).first->second;
  }

  // Shows a summary while the window has values; removes the series when it has none, so a
  // dashboard never shows a stale worst case as current.
  void set_summary(Family<Gauge>& family, std::array<Gauge*, 3>& gauges, const std::string& rule,
                   const std::optional<evaluate::summary>& s) {
    if (!s) {
      for (Gauge*& g : gauges)
        if (g) family.Remove(std::exchange(g, nullptr));
      return;
    }
    const double values[] = {s->max, s->p95, s->mean};
    for (std::size_t i = 0; i < 3; ++i) {
      if (!gauges[i]) gauges[i] = &family.Add({{"rule", rule}, {"stat", stats[i]}});
      gauges[i]->Set(values[i]);
    }
  }

  void remove(rule_series& s) {
    offending.Remove(s.offending);
    fetched.Remove(s.fetched);
    last_success.Remove(s.last_success);
    poll_duration.Remove(s.poll_duration);
    source_up.Remove(s.source_up);
    polls.Remove(s.polls_success);
    polls.Remove(s.polls_failure);
    polls.Remove(s.polls_skipped);
    new_sessions.Remove(s.new_sessions);
    firing.Remove(s.firing);
    catchup_skipped.Remove(s.catchup_skipped);
    for (Counter* c : s.skipped) rows_skipped.Remove(c);
    for (Gauge* g : s.startup)
      if (g) startup.Remove(g);
    for (Gauge* g : s.rebuffering)
      if (g) rebuffering.Remove(g);
    for (auto& [label, g] : s.groups) remove(g);
    if (s.group_count) rule_groups.Remove(s.group_count);
  }
};

registry::registry(std::string_view version) : impl_(std::make_unique<impl>()) {
  impl_->build_info.Add({{"version", std::string(version)}}).Set(1);
}

registry::~registry() = default;

void registry::add_rule(const std::string& rule) {
  impl_->series(rule);
}

void registry::retain_rules(const std::vector<std::string>& keep) {
  for (auto it = impl_->rules.begin(); it != impl_->rules.end();) {
    if (std::find(keep.begin(), keep.end(), it->first) != keep.end()) {
      ++it;
      continue;
    }
    impl_->remove(it->second);
    it = impl_->rules.erase(it);
  }
  impl_->drop_silenced([&](const auto& key) {
    return std::find(keep.begin(), keep.end(), key.first) == keep.end();
  });
}

void registry::record_poll(const std::string& rule, const poll_report& report) {
  impl::rule_series& s = impl_->series(rule);
  s.poll_duration->Set(report.duration_seconds);
  if (!report.success) {
    s.source_up->Set(0);
    s.polls_failure->Increment();
    return;
  }
  s.source_up->Set(1);
  s.polls_success->Increment();
  s.last_success->Set(report.finished_at);
  const evaluate::poll_facts& r = report.facts;
  s.offending->Set(static_cast<double>(r.offending));
  s.fetched->Set(static_cast<double>(r.rows_fetched));
  s.new_sessions->Increment(static_cast<double>(r.new_sessions));
  for (std::size_t i = 0; i < r.skipped.size(); ++i)
    s.skipped[i]->Increment(static_cast<double>(r.skipped[i]));
  impl_->set_summary(impl_->startup, s.startup, rule, r.startup_seconds);
  impl_->set_summary(impl_->rebuffering, s.rebuffering, rule, r.rebuffering_ratio);
  if (r.population) impl_->set_groups(s, rule, r);
}

void registry::record_skipped_polls(const std::string& rule, std::uint64_t count) {
  impl_->series(rule).polls_skipped->Increment(static_cast<double>(count));
}

void registry::set_firing(const std::string& rule, bool on) {
  impl_->series(rule).firing->Set(on ? 1 : 0);
}

void registry::record_catchup_skipped(const std::string& rule, std::int64_t seconds) {
  if (seconds > 0) impl_->series(rule).catchup_skipped->Increment(static_cast<double>(seconds));
}

void registry::record_silenced(const std::string& rule, const std::string& sink,
                               std::size_t count) {
  if (count == 0) return;
  Counter*& c = impl_->silenced_series[{rule, sink}];
  if (!c) c = &impl_->silenced.Add({{"rule", rule}, {"sink", sink}});
  c->Increment(static_cast<double>(count));
}

void registry::set_silences(std::size_t active, std::size_t pending, std::size_t expired) {
  impl_->silences.Add({{"state", "active"}}).Set(static_cast<double>(active));
  impl_->silences.Add({{"state", "pending"}}).Set(static_cast<double>(pending));
  impl_->silences.Add({{"state", "expired"}}).Set(static_cast<double>(expired));
}

void registry::add_sink(const std::string& sink) {
  impl_->sink(sink);
}

void registry::retain_sinks(const std::vector<std::string>& keep) {
  for (auto it = impl_->sinks.begin(); it != impl_->sinks.end();) {
    if (std::find(keep.begin(), keep.end(), it->first) != keep.end()) {
      ++it;
      continue;
    }
    impl::sink_series& s = it->second;
    impl_->notifications.Remove(s.success);
    impl_->notifications.Remove(s.failure);
    impl_->dead_letters.Remove(s.dead);
    impl_->outbox_pending.Remove(s.pending);
    impl_->outbox_age.Remove(s.oldest_age);
    impl_->sink_owned.Remove(s.owned);
    impl_->delivery_latency.Remove(s.latency);
    it = impl_->sinks.erase(it);
  }
  impl_->drop_silenced([&](const auto& key) {
    return std::find(keep.begin(), keep.end(), key.second) == keep.end();
  });
}

// Sinks not added (or removed since) have no series: what a retired delivery still reports
// about a removed sink must not bring its series back.
void registry::record_notification(const std::string& sink, bool success) {
  if (auto it = impl_->sinks.find(sink); it != impl_->sinks.end())
    (success ? it->second.success : it->second.failure)->Increment();
}

void registry::record_delivered(const std::string& sink, double seconds) {
  if (auto it = impl_->sinks.find(sink); it != impl_->sinks.end())
    it->second.latency->Observe(std::max(seconds, 0.0));
}

void registry::record_dead_letter(const std::string& sink) {
  if (auto it = impl_->sinks.find(sink); it != impl_->sinks.end()) it->second.dead->Increment();
}

void registry::set_outbox(const std::string& sink, std::size_t pending, double oldest_created_at) {
  auto it = impl_->sinks.find(sink);
  if (it == impl_->sinks.end()) return;
  impl::sink_series& s = it->second;
  s.pending_count = pending;
  s.oldest_created_at = oldest_created_at;
  s.pending->Set(static_cast<double>(pending));
}

void registry::set_sink_owned(const std::string& sink, bool owned) {
  if (auto it = impl_->sinks.find(sink); it != impl_->sinks.end())
    it->second.owned->Set(owned ? 1 : 0);
}

void registry::record_config_load(bool success, double when) {
  impl_->reload_ok.Add({}).Set(success ? 1 : 0);
  Gauge& t = impl_->reload_time.Add({});
  if (success) t.Set(when);
}

void registry::set_notified_sessions(std::size_t count) {
  impl_->notified.Add({}).Set(static_cast<double>(count));
}

void registry::set_state_up(bool up) {
  impl_->state_up.Add({}).Set(up ? 1 : 0);
}

void registry::set_rules_owned(std::size_t owned, std::size_t configured) {
  impl_->rules_owned.Add({}).Set(static_cast<double>(owned));
  impl_->rules_configured.Add({}).Set(static_cast<double>(configured));
}

void registry::record_lease_change(const std::string& reason, std::size_t count) {
  impl_->lease_changes.Add({{"reason", reason}}).Increment(static_cast<double>(count));
}

std::string registry::serialize() const {
  double now = epoch_now();
  for (auto& [name, s] : impl_->sinks)
    s.oldest_age->Set(s.pending_count == 0 ? 0.0 : std::max(0.0, now - s.oldest_created_at));
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, impl_->reg.Collect());
  return out.str();
}

}  // namespace qoewatch::metrics
