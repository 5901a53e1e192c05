// What the loader and the secret reader say about a config: one diagnostic per problem, printed
// as "file:line:column: key.path: what is wrong (what would be right)", and the nearest-name
// suggestion behind every "did you mean". Pure code; never throws.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace qoewatch::config {

struct diagnostic {
  std::string file;
  int line = 0;         // 1-based; 0 when the problem is the file as a whole
  int column = 0;       // 1-based
  std::string path;     // key path, e.g. "rules[2].window"; may be empty
  std::string message;  // what is wrong, with the fix in parentheses where there is one

  /// "file:line:column: path: message" (parts that are unknown are left out).
  std::string to_string() const;
};

/// The closest of `candidates` to `word` by edit distance, or empty when none is close.
std::string nearest(std::string_view word, const std::vector<std::string_view>& candidates);

}  // namespace qoewatch::config
