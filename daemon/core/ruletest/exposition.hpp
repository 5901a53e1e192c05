// Prometheus series as rule tests name and read them: a selector `name{label="value",...}`
// written in a test (the metric an expectation reads), and the text exposition format that
// qoewatchd serves on /metrics, read back into samples. Pure code; never throws.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qoewatch::ruletest {

/// A series: its name and labels, sorted by label name.
struct series_id {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;
  bool operator==(const series_id&) const = default;
};

struct series_result {
  std::optional<series_id> value;
  std::size_t offset = 0;  // when !value: 0-based offset of the problem in the text
  std::string error;       // when !value: what is wrong
};

/// Reads `name` or `name{label="value", ...}` (values escaped as in the exposition format:
/// \\, \" and \n; a trailing comma allowed), and nothing after it.
series_result parse_series(std::string_view text);

/// "name{a=\"x\",b=\"y\"}" (labels in their order), or "name" without labels.
std::string to_string(const series_id& s);

struct sample {
  series_id series;
  double value = 0;
};

/// The samples of a text exposition (comments and blank lines skipped, timestamps ignored).
/// Lines that cannot be read are skipped.
std::vector<sample> parse_exposition(std::string_view text);

}  // namespace qoewatch::ruletest
