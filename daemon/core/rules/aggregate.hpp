// What a population rule's `when` and `resolve_when` judge: aggregates of one group's sessions
// in a window. `sessions` (rows judged), `offending` (rows matching the qoefilter), `ratio`
// (offending / sessions, 0-1), and avg/min/max/sum and the percentiles p50..p99 of a metric.
// Pure code: reading an operand's text, no numbers are computed here (evaluate/population).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qoewatch::rules {

enum class aggregate_fn { sessions, offending, ratio, avg, min, max, sum, p50, p75, p90, p95, p99 };

/// Every aggregate with its name as written, counts first.
inline constexpr std::array<std::pair<aggregate_fn, std::string_view>, 12> aggregate_fns{{
    {aggregate_fn::sessions, "sessions"},
    {aggregate_fn::offending, "offending"},
    {aggregate_fn::ratio, "ratio"},
    {aggregate_fn::avg, "avg"},
    {aggregate_fn::min, "min"},
    {aggregate_fn::max, "max"},
    {aggregate_fn::sum, "sum"},
    {aggregate_fn::p50, "p50"},
    {aggregate_fn::p75, "p75"},
    {aggregate_fn::p90, "p90"},
    {aggregate_fn::p95, "p95"},
    {aggregate_fn::p99, "p99"},
}};

struct aggregate {
  aggregate_fn fn = aggregate_fn::sessions;
  std::string metric;  // "" for sessions, offending, ratio
  std::string text;    // as the condition holds it: "ratio", "p95(latency)"
  bool operator==(const aggregate&) const = default;
};

/// Whether `fn` reads a metric (avg(m) ... p99(m)) or counts (sessions, offending, ratio).
bool of_metric(aggregate_fn fn);

/// The percentile of a pNN aggregate (95 for p95); 0 for any other.
int percentile(aggregate_fn fn);

struct aggregate_result {
  std::optional<aggregate> value;
  std::string error;  // when !value: what is wrong and what would be right
  std::size_t offset = 0;  // 0-based offset in the operand's text the error points at
};

/// Reads an operand of a population condition ("ratio", "p95(latency)"). `metrics` are the
/// names a metric aggregate may read (the dictionary and extra_metrics).
aggregate_result read_aggregate(std::string_view operand,
                                const std::vector<std::string_view>& metrics);

}  // namespace qoewatch::rules
