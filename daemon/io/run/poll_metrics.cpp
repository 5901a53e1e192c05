#include "run/poll_metrics.hpp"

#include "export/metrics.hpp"

namespace qoewatch::run {

void report_poll(metrics::registry& m, const config::rule_config& rule,
                 const evaluate::poll_outcome& out, const evaluate::step_effects& fx,
                 double finished_at, double seconds) {
  for (const auto& [sink, count] : fx.silenced) m.record_silenced(rule.name, sink, count);
  metrics::poll_report report;
  report.success = out.what == evaluate::poll_outcome::kind::polled;
  report.duration_seconds = seconds;
  report.finished_at = finished_at;
  if (report.success) report.facts = fx.facts;
  m.record_poll(rule.name, report);
  if (!report.success) return;
  m.set_firing(rule.name, evaluate::firing(fx.next));
  if (out.catchup_skipped > 0) m.record_catchup_skipped(rule.name, out.catchup_skipped);
}

}  // namespace qoewatch::run
