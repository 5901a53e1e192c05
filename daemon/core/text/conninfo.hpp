// PostgreSQL connection strings in the two forms libpq reads: a URI starting postgresql:// or
// postgres://, or keyword=value settings ("host=db port=5432 password='a b'"). Only their
// shape is judged here (libpq judges the rest when it connects); the config checks a state
// URL with it, and redact_url takes the password out of one. Pure code; never throws.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

namespace qoewatch::text {

/// Whether libpq reads `s` as a URI: it starts with "postgresql://" or "postgres://" (the
/// prefixes are case-sensitive, as libpq's are).
bool is_connection_uri(std::string_view s);

/// One keyword=value setting of a connection string: its keyword, and where the whole
/// setting (keyword, '=', value and any quotes) is in the text, [begin, end).
struct conninfo_setting {
  std::string_view keyword;
  std::size_t begin = 0;
  std::size_t end = 0;
};

/// The settings of keyword=value text, in order, by libpq's rules: settings are separated by
/// white space, which is allowed around '='; a value is a run of non-space characters or
/// 'single quoted', and a backslash escapes the next character in either. std::nullopt when
/// the text is not that: a keyword without '=', a keyword that is not lowercase letters,
/// digits and '_' (libpq knows no other), an unterminated quote. Text that is only white
/// space holds no settings.
std::optional<std::vector<conninfo_setting>> parse_conninfo(std::string_view s);

}  // namespace qoewatch::text
