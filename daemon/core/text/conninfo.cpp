#include "text/conninfo.hpp"

namespace qoewatch::text {

namespace {

// libpq's isspace(), in the C locale.
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// Every keyword libpq knows is spelled so; anything else (a URL read as one) is refused.
bool is_keyword(std::string_view k) {
  if (k.empty()) return false;
  for (char c : k)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

}  // namespace

bool is_connection_uri(std::string_view s) {
  return s.starts_with("postgresql://") || s.starts_with("postgres://");
}

std::optional<std::vector<conninfo_setting>> parse_conninfo(std::string_view s) {
  std::vector<conninfo_setting> out;
  std::size_t i = 0;
  auto skip_spaces = [&] {
    while (i < s.size() && is_space(s[i])) ++i;
  };
  while (true) {
    skip_spaces();
    if (i == s.size()) return out;
    conninfo_setting setting;
    setting.begin = i;
    while (i < s.size() && s[i] != '=' && !is_space(s[i])) ++i;
    setting.keyword = s.substr(setting.begin, i - setting.begin);
    skip_spaces();
    if (i == s.size() || s[i] != '=' || !is_keyword(setting.keyword)) return std::nullopt;
    ++i;
    skip_spaces();
    if (i < s.size() && s[i] == '\'') {
      for (++i;; ++i) {
        if (i == s.size()) return std::nullopt;
        if (s[i] == '\\' && i + 1 < s.size()) {
          ++i;
        } else if (s[i] == '\'') {
          ++i;
          break;
        }
      }
    } else {
      for (; i < s.size() && !is_space(s[i]); ++i)
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
    }
    setting.end = i;
    out.push_back(setting);
  }
}

}  // namespace qoewatch::text
