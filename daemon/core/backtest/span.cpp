#include "backtest/span.hpp"

#include <algorithm>
#include <chrono>
#include <map>

#include "duration.hpp"
#include "schedule/schedule.hpp"

namespace qoewatch::backtest {

namespace {

// "-7d", "-1d12h", "-36h": a whole number of days, then any duration parse_duration reads.
std::optional<std::int64_t> relative_seconds(std::string_view text) {
  if (text.size() < 2 || text[0] != '-') return std::nullopt;
  text.remove_prefix(1);
  std::int64_t days = 0;
  if (std::size_t d = text.find('d'); d != std::string_view::npos) {
    if (d == 0 || d > 6) return std::nullopt;
    for (char c : text.substr(0, d)) {
      if (c < '0' || c > '9') return std::nullopt;
      days = days * 10 + (c - '0');
    }
    text.remove_prefix(d + 1);
  }
  std::int64_t rest = 0;
  if (!text.empty()) {
    std::optional<duration> parsed = parse_duration(text);
    if (!parsed) return std::nullopt;
    rest = whole_seconds(*parsed);
  }
  return days * 86'400 + rest;
}

}  // namespace

time_result parse_time(std::string_view text, std::int64_t now) {
  time_result r;
  if (text == "now") {
    r.value = now;
    return r;
  }
  if (std::optional<std::int64_t> back = relative_seconds(text)) {
    r.value = now - *back;
    return r;
  }
  if (std::optional<std::int64_t> ms = parse_rfc3339_ms(text); ms && !text.starts_with('-')) {
    r.value = *ms >= 0 ? *ms / 1000 : (*ms - 999) / 1000;
    return r;
  }
  r.error = "'" + std::string(text) +
            "' is not a time (RFC 3339 like 2026-11-29T00:00:00Z, now, or relative like -7d, "
            "-36h, -90m)";
  return r;
}

double poll_time(const config::rule_config& rule, std::int64_t end) {
  return epoch_seconds(schedule::due_for(rule, end));
}

rule_span span_of(const config::rule_config& rule, std::size_t index, std::int64_t from,
                  std::optional<std::int64_t> to, std::int64_t now) {
  rule_span s;
  s.rule = index;
  s.window = whole_seconds(rule.window);
  // The grid of window ends, in milliseconds (schedule::on_grid): points k * step.
  const std::int64_t step = std::max<std::int64_t>(1, rule.interval.count());
  const std::int64_t last =
      to ? *to : schedule::aligned_end(rule, from_epoch_seconds(static_cast<double>(now)));
  auto floor_div = [](std::int64_t a, std::int64_t b) { return a >= 0 ? a / b : (a - b + 1) / b; };
  // The first point whose window starts at or after `from`, the last at or before `last`.
  const std::int64_t k_first = -floor_div(-(from + s.window) * 1000, step);
  const std::int64_t k_last = floor_div(last * 1000, step);
  for (std::int64_t k = k_first; k <= k_last; ++k) {
    const std::int64_t end = floor_div(k * step, 1000);
    if (s.ends.empty() || end != s.ends.back()) s.ends.push_back(end);
  }
  return s;
}

std::vector<fetch_group> group_fetches(const config::daemon_config& cfg,
                                       const std::vector<rule_span>& spans) {
  std::vector<fetch_group> groups;
  std::map<std::string, std::size_t> by_query;
  for (const rule_span& s : spans) {
    if (s.ends.empty()) continue;
    const config::rule_config& rule = cfg.rules.at(s.rule);
    // The query but for its period and offset: one fixed window stands in for every one.
    const std::string key = fetch::listsessions_query(cfg.smartsight, rule).target({0, 0}, 0);
    auto [it, added] = by_query.emplace(key, groups.size());
    if (added) groups.push_back({{}, s.ends.front() - s.window, s.ends.back()});
    fetch_group& g = groups[it->second];
    g.rules.push_back(s.rule);
    g.start = std::min(g.start, s.ends.front() - s.window);
    g.end = std::max(g.end, s.ends.back());
  }
  return groups;
}

std::int64_t next_chunk(std::int64_t length, std::size_t rows, std::size_t target_rows,
                        std::int64_t shortest) {
  constexpr std::int64_t day = 86'400;
  shortest = std::max<std::int64_t>(1, shortest);
  const double wanted = rows == 0 ? 2.0 * static_cast<double>(length)
                                  : static_cast<double>(length) * static_cast<double>(target_rows) /
                                        static_cast<double>(rows);
  const double most = std::min<double>(2.0 * static_cast<double>(length), day);
  return std::max<std::int64_t>(shortest, static_cast<std::int64_t>(std::min(wanted, most)));
}

}  // namespace qoewatch::backtest
