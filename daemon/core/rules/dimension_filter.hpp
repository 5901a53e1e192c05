// SmartSight's dimension filter: `[country=US|Canada][platform=Android]`.
// Groups are AND-ed; `|` OR-s the values within a group. The daemon sends the text as is;
// parsing it here lets the config loader reject malformed filters up front and lets the
// simulator apply them. Pure code.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qoewatch::rules {

struct dimension_group {
  std::string dimension;
  std::vector<std::string> values;  // the group matches when the dimension equals any of them
  bool operator==(const dimension_group&) const = default;
};

struct dimension_filter {
  std::vector<dimension_group> groups;  // empty: matches everything
  bool operator==(const dimension_filter&) const = default;
};

struct dimension_filter_result {
  std::optional<dimension_filter> value;
  std::size_t column = 1;  // 1-based column of the error when !value
  std::string message;
  explicit operator bool() const { return value.has_value(); }
};

/// Parses a filter. Empty text (or only spaces) is the empty filter. Dimension names are
/// identifiers; values are any text without `[`, `]`, `|`, with surrounding spaces trimmed.
dimension_filter_result parse_dimension_filter(std::string_view text);

/// True when every group has a value equal to `lookup(dimension)`; `lookup` returns
/// std::nullopt for a dimension the session does not carry, which fails the group.
template <class Lookup>
bool matches(const dimension_filter& f, Lookup&& lookup) {
  for (const dimension_group& g : f.groups) {
    std::optional<std::string_view> v = lookup(std::string_view{g.dimension});
    if (!v) return false;
    bool any = false;
    for (const std::string& want : g.values) {
      if (*v == want) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  return true;
}

}  // namespace qoewatch::rules
