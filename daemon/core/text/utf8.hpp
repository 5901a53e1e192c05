// Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF), for
// the places that must not pass on anything else: JSON log lines, PostgreSQL text columns,
// silence matcher values. Pure code.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace qoewatch::text {

/// The length of the well-formed character starting at s[i] (1 to 4), or 0 when the bytes
/// there begin none (cut short, a stray continuation byte, an invalid lead byte).
std::size_t utf8_char_length(std::string_view s, std::size_t i);

/// Whether the whole of `s` is well-formed UTF-8 (NUL is a character like any other).
bool is_utf8(std::string_view s);

/// `s` with every byte that is not part of a well-formed character replaced by U+FFFD; with
/// `replace_nul`, NUL too (PostgreSQL's text holds none).
std::string valid_utf8(std::string_view s, bool replace_nul = false);

}  // namespace qoewatch::text
