#include "run/poll_log.hpp"

#include <spdlog/spdlog.h>

#include "rules/expr.hpp"

namespace qoewatch::run {

namespace {

// A population poll: the window, each change of a group, and (at debug, or at info when
// asked) the figures of every exported group.
void log_groups(const config::rule_config& rule, const evaluate::poll_outcome& out,
                const evaluate::step_effects& fx, const evaluate::rule_state& state,
                bool figures_at_info) {
  const evaluate::poll_facts& f = fx.facts;
  std::size_t sessions = 0, firing_groups = 0;
  if (out.figures) sessions = out.figures->sessions;
  for (const auto& [values, g] : state.groups) firing_groups += g.firing ? 1 : 0;
  spdlog::info(
      "rule {}: {}window {}..{}: {} rows in {} page(s), {} sessions in {} group(s), "
      "{} offending, {} group(s) firing{}",
      rule.name, out.behind ? "catching up, " : "", out.window.start, out.window.end,
      f.rows_fetched, out.pages, sessions, f.groups, f.offending, firing_groups,
      f.skipped_total ? fmt::format(", {} row(s) skipped", f.skipped_total) : std::string{});
  const auto level = figures_at_info ? spdlog::level::info : spdlog::level::debug;
  for (const evaluate::poll_facts::group& g : f.exported) {
    std::string figures = rule.has_qoefilter()
                              ? fmt::format("{} sessions, {} offending, ratio {}", g.info.sessions,
                                            g.info.offending, rules::format_number(g.info.ratio))
                              : fmt::format("{} sessions", g.info.sessions);
    for (const auto& [name, value] : g.info.aggregates)
      figures += fmt::format(", {}={}", name, value ? rules::format_number(*value) : "n/a");
    spdlog::log(level, "rule {}: group {}: {}{}", rule.name, g.label.empty() ? "(all)" : g.label,
                figures,
                g.firing        ? ", firing"
                : g.pending > 0 ? fmt::format(", pending {}/{}", g.pending, rule.for_polls)
                                : std::string{});
  }
  for (const evaluate::group_change& c : fx.group_changes) {
    const std::string group = c.label.empty() ? "(all)" : c.label;
    if (c.change == incident::transition::fired)
      spdlog::warn("rule {}: group {} firing, incident {}: {} of {} sessions offending ({})",
                   rule.name, group, c.incident_key, c.figures.offending, c.figures.sessions,
                   rule.when_text);
    else
      spdlog::info("rule {}: group {} resolved, incident {}, after {} quiet poll(s)", rule.name,
                   group, c.incident_key, rule.resolve_after);
  }
}

}  // namespace

void log_poll(const config::rule_config& rule, const evaluate::poll_outcome& out,
              const evaluate::step_effects& fx, const evaluate::rule_state& state,
              bool figures_at_info) {
  if (rule.population()) {
    log_groups(rule, out, fx, state, figures_at_info);
    return;
  }
  const evaluate::poll_facts& f = fx.facts;
  spdlog::info(
      "rule {}: {}window {}..{}: {} rows in {} page(s), {} offending, {} new{}", rule.name,
      out.behind ? "catching up, " : "", out.window.start, out.window.end, f.rows_fetched,
      out.pages, f.offending, f.new_sessions,
      f.skipped_total ? fmt::format(", {} row(s) skipped", f.skipped_total) : std::string{});
  if (fx.change == incident::transition::fired)
    spdlog::warn("rule {}: incident {} firing: {} offending session(s) in the window (min {})",
                 rule.name, fx.incident_key, f.offending, rule.min_sessions);
  else if (fx.change == incident::transition::resolved)
    spdlog::info("rule {}: incident {} resolved after {} quiet poll(s)", rule.name, fx.incident_key,
                 rule.resolve_after);
}

}  // namespace qoewatch::run
