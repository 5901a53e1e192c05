// Label matchers as Alertmanager has them (`=`, `!=`, `=~`, `!~`), so that a silence made with
// amtool means here what it means there. A regex is RE2, Go's dialect, anchored by wrapping it
// as `^(?:value)$`; a label an alert does not carry is matched as the empty string. Matchers
// come from the API's JSON (make_matcher) or from the text amtool puts in a `filter` query
// parameter (parse_matcher). Errors are returned as values, worded as Alertmanager words them
// where amtool prints them. Pure code; RE2 stays in matcher.cpp.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace re2 {
class RE2;
}

namespace qoewatch::silence {

/// What matchers look at: an alert's labels, by name.
using label_set = std::map<std::string, std::string, std::less<>>;

enum class match_type { equal, not_equal, regex, not_regex };

/// "=", "!=", "=~", "!~".
std::string_view to_string(match_type t);

/// The type the API's two flags name (isEqual, isRegex), and the flags of a type.
match_type type_of(bool is_equal, bool is_regex);
bool is_equal(match_type t);
bool is_regex(match_type t);

class matcher {
 public:
  std::string name;
  match_type type = match_type::equal;
  std::string value;

  /// Whether `label_value` (the empty string for a label the alert lacks) matches.
  bool matches(std::string_view label_value) const;
  /// Whether the alert whose labels are `labels` matches.
  bool matches(const label_set& labels) const;
  /// As Alertmanager prints it: name, operator, value in double quotes (escaped).
  std::string text() const;
  /// Same name, type and value (Alertmanager's silence filter compares matchers so).
  bool same_as(const matcher& other) const;

 private:
  friend struct matcher_builder;
  std::shared_ptr<const re2::RE2> anchored_;  // regex types only
};

struct matcher_result {
  std::optional<matcher> ok;
  std::string error;  // when !ok
};

/// A matcher from its parts, as the API's JSON gives them. `name` must be a label name
/// ([a-zA-Z_][a-zA-Z0-9_]*; with `allow_colon`, also ':', as filters allow); a regex must
/// compile on its own. The error names the problem, e.g. `invalid label name "a-b"`.
matcher_result make_matcher(std::string name, match_type type, std::string value,
                            bool allow_colon = false);

/// One matcher in Alertmanager's text form, as amtool sends it in a `filter`: `name op value`,
/// spaces allowed around the operator, the value unquoted or in double quotes with `\"`, `\\`
/// and `\n` escapes. Errors: `bad matcher format: <text>`, `matcher value contains unescaped
/// double quote: <value>`, or a regex's error.
matcher_result parse_matcher(std::string_view text);

/// Whether every matcher matches the alert (an empty list matches every alert).
bool all_match(const std::vector<matcher>& matchers, const label_set& labels);

/// Whether `m` would match an alert lacking its label: `=` with an empty value, or a regex
/// that matches the empty string; never `!=` or `!~` (Alertmanager's rule for silences).
bool matches_empty(const matcher& m);

}  // namespace qoewatch::silence
