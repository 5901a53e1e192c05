// Names in rules and configs (metrics, fields, dimensions, rules, labels):
// [a-zA-Z_][a-zA-Z0-9_]*. One definition for the parsers, the loader and the simulator.
#pragma once

#include <algorithm>
#include <string_view>

namespace qoewatch::rules {

constexpr bool is_identifier_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

constexpr bool is_identifier_char(char c) {
  return is_identifier_start(c) || (c >= '0' && c <= '9');
}

constexpr bool is_identifier(std::string_view s) {
  return !s.empty() && is_identifier_start(s.front()) &&
         std::all_of(s.begin(), s.end(), is_identifier_char);
}

}  // namespace qoewatch::rules
