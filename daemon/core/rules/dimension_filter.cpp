#include "rules/dimension_filter.hpp"

#include "rules/identifier.hpp"

namespace qoewatch::rules {

namespace {
bool is_space(char c) {
  return c == ' ' || c == '\t';
}
bool is_utf8_continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

// The whole UTF-8 character starting at text[pos], so an error quotes it intact.
std::string_view char_at(std::string_view text, std::size_t pos) {
  std::size_t end = pos + 1;
  while (end < text.size() && is_utf8_continuation(text[end])) ++end;
  return text.substr(pos, end - pos);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}
}  // namespace

dimension_filter_result parse_dimension_filter(std::string_view text) {
  dimension_filter_result r;
  dimension_filter f;
  std::size_t i = 0;
  auto fail = [&r, text](std::size_t pos, std::string message) {
    // Values may hold any UTF-8 text, so count characters, not bytes.
    r.column = 1;
    for (std::size_t k = 0; k < pos && k < text.size(); ++k)
      if (!is_utf8_continuation(text[k])) ++r.column;
    r.message = std::move(message);
    return r;
  };
  auto skip_spaces = [&] {
    while (i < text.size() && is_space(text[i])) ++i;
  };
  skip_spaces();
  while (i < text.size()) {
    if (text[i] != '[')
      return fail(i, "expected '[' to open a group, found '" + std::string(char_at(text, i)) +
                         "' (write [dimension=value|value])");
    std::size_t open = i++;
    skip_spaces();
    std::size_t name_start = i;
    if (i >= text.size() || !is_identifier_start(text[i]))
      return fail(i, "expected a dimension name after '['");
    while (i < text.size() && is_identifier_char(text[i])) ++i;
    dimension_group g;
    g.dimension = std::string(text.substr(name_start, i - name_start));
    skip_spaces();
    if (i >= text.size() || text[i] != '=')
      return fail(i, "expected '=' after dimension '" + g.dimension + "'");
    ++i;
    for (;;) {
      std::size_t value_start = i;
      while (i < text.size() && text[i] != '|' && text[i] != ']' && text[i] != '[') ++i;
      if (i >= text.size()) return fail(open, "'[' is never closed");
      if (text[i] == '[') return fail(i, "'[' inside a group (close the group with ']' first)");
      std::string_view value = trim(text.substr(value_start, i - value_start));
      if (value.empty())
        return fail(value_start, "empty value for dimension '" + g.dimension + "'");
      g.values.emplace_back(value);
      if (text[i] == ']') {
        ++i;
        break;
      }
      ++i;  // '|'
    }
    f.groups.push_back(std::move(g));
    skip_spaces();
  }
  r.value = std::move(f);
  return r;
}

}  // namespace qoewatch::rules
