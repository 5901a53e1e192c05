// Joining texts with a separator: "a, b, c". Pure code.
#pragma once

#include <string>
#include <string_view>

namespace qoewatch::text {

/// The items of `range` (strings or string views) in order, `sep` between two of them.
template <class Range>
std::string join(const Range& range, std::string_view sep) {
  std::string out;
  bool first = true;
  for (const auto& item : range) {
    if (!first) out += sep;
    out += item;
    first = false;
  }
  return out;
}

}  // namespace qoewatch::text
