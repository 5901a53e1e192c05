#include "rules/aggregate.hpp"

#include <algorithm>

namespace qoewatch::rules {

bool of_metric(aggregate_fn fn) {
  return fn != aggregate_fn::sessions && fn != aggregate_fn::offending &&
         fn != aggregate_fn::ratio;
}

int percentile(aggregate_fn fn) {
  switch (fn) {
    case aggregate_fn::p50:
      return 50;
    case aggregate_fn::p75:
      return 75;
    case aggregate_fn::p90:
      return 90;
    case aggregate_fn::p95:
      return 95;
    case aggregate_fn::p99:
      return 99;
    default:
      return 0;
  }
}

namespace {

std::optional<aggregate_fn> fn_named(std::string_view name) {
  for (const auto& [fn, spelled] : aggregate_fns)
    if (spelled == name) return fn;
  return std::nullopt;
}

constexpr std::string_view what_is_right =
    "use sessions, offending, ratio, or avg, min, max, sum, p50, p75, p90, p95, p99 of a "
    "metric: p95(latency)";

}  // namespace

aggregate_result read_aggregate(std::string_view operand,
                                const std::vector<std::string_view>& metrics) {
  aggregate_result r;
  const std::size_t open = operand.find('(');
  const std::string_view name = operand.substr(0, open);
  const bool known_metric = [&](std::string_view m) {
    return std::find(metrics.begin(), metrics.end(), m) != metrics.end();
  }(name);
  std::optional<aggregate_fn> fn = fn_named(name);
  if (!fn) {
    r.error = known_metric && open == std::string_view::npos
                  ? "'" + std::string(name) +
                        "' is a session metric; a population condition judges the group: "
                        "write p95(" + std::string(name) + "), avg(" + std::string(name) +
                        ") ... or sessions, offending, ratio"
                  : "unknown aggregate '" + std::string(name) + "' (" +
                        std::string(what_is_right) + ")";
    return r;
  }
  aggregate a;
  a.fn = *fn;
  a.text = std::string(operand);
  if (!of_metric(*fn)) {
    if (open != std::string_view::npos) {
      r.error = "'" + std::string(name) + "' takes no metric (write " + std::string(name) + ")";
      return r;
    }
    r.value = std::move(a);
    return r;
  }
  if (open == std::string_view::npos) {
    r.error = "'" + std::string(name) + "' needs a metric (write " + std::string(name) +
              "(latency))";
    return r;
  }
  a.metric = std::string(operand.substr(open + 1, operand.size() - open - 2));
  if (std::find(metrics.begin(), metrics.end(), a.metric) == metrics.end()) {
    r.error = "unknown metric '" + a.metric + "'";
    r.offset = open + 1;
    return r;
  }
  r.value = std::move(a);
  return r;
}

}  // namespace qoewatch::rules
