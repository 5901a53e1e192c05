// The session metrics SmartSight documents (../shared/docs/smartsight-api.md), with units.
// A qoefilter may only name these or names the config declares in smartsight.extra_metrics,
// so a typo is an error instead of a rule that silently never fires. Pure code.
#pragma once

#include <span>
#include <string_view>

namespace qoewatch::rules {

struct metric_info {
  std::string_view name;  // the API value, e.g. "latency"
  std::string_view unit;  // "seconds", "percent", "count", ...
  std::string_view meaning;
};

/// Every documented metric, in the order of the vendor's dictionary.
std::span<const metric_info> known_metrics();

/// The entry for `name`, or nullptr.
const metric_info* find_metric(std::string_view name);

}  // namespace qoewatch::rules
