// The simulator's own reading of the two row-selecting parameters of listsessions. It is
// written from the grammar, not from the daemon's parser, and shares no code with it: the
// simulator is the oracle the daemon's end-to-end tests trust, and an oracle that shares a
// bug with what it checks cannot see it (tests/sim/filter_agreement_test.cpp compares the two).
//
// qoefilter: a condition over numeric session metrics.
//   condition   := conjunction { OR conjunction }
//   conjunction := factor { AND factor }
//   factor      := NOT factor | "(" condition ")" | name relation number
//   relation    := ">" | ">=" | "<" | "<=" | "=" | "==" | "!="
//   name        := [A-Za-z_][A-Za-z0-9_]*, but not a keyword
//   number      := [+-] ( digits [ "." [digits] ] | "." digits ) [ (e|E) [+-] digits ], finite
// Keywords (AND, OR, NOT) in any case; blanks (space, tab, CR, LF) between tokens are
// optional. At most 100 NOT and "(" may be open at once. A row that lacks any metric the
// condition names (or holds no number there) cannot be judged, whatever the rest of the
// condition says: the simulator leaves such a row out.
//
// filter: dimension groups, `[country=US|Canada][platform=Android]`. Groups are AND-ed, `|`
// OR-s the values of a group; a dimension is a name as above, a value any text without `[`,
// `]` or `|`, with surrounding spaces and tabs dropped (and not empty). Spaces and tabs may
// stand before and after groups and around the dimension name. A row lacking the dimension
// fails its group; values compare as exact text.
//
// Both compile once per request into a flat form whose names are numbered "slots": the caller
// looks each slot up once per row and passes the values in. Errors name the 1-based column (in
// characters) and say what is wrong. Pure code; never throws but std::bad_alloc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace qoewatch::sim {

/// True when `s` is a field, metric or dimension name: [A-Za-z_][A-Za-z0-9_]*.
bool is_field_name(std::string_view s);

/// Why a filter text was refused: where (1-based, counted in characters) and what.
struct filter_error {
  std::size_t column = 1;
  std::string message;
};

/// A compiled qoefilter condition.
class qoe_condition {
 public:
  enum class verdict { match, no_match, unjudged };

  /// Compiles `text`; a filter_error when it is not a condition (empty text included).
  static std::variant<qoe_condition, filter_error> compile(std::string_view text);

  /// The metric names the condition reads, each once, in order of first appearance.
  const std::vector<std::string>& names() const { return names_; }

  /// Judges one row. `values[i]` is the row's number for names()[i], std::nullopt when the
  /// row lacks it. unjudged when any is std::nullopt (or values is too short).
  verdict judge(std::span<const std::optional<double>> values) const;

 private:
  enum class relation : std::uint8_t { above, at_least, below, at_most, equal, differs };
  // Postfix code: `test` pushes one truth value, `invert` replaces the top one, `both` and
  // `either` replace the top two with one.
  enum class opcode : std::uint8_t { test, invert, both, either };
  struct instruction {
    opcode code = opcode::test;
    relation rel = relation::above;
    std::uint32_t slot = 0;
    double bound = 0;
  };
  // Binary operators folded left keep the stack small: two pending values per open "(" plus
  // three, and at most 100 are open (see compile).
  static constexpr std::size_t stack_capacity = 256;

  friend class condition_reader;

  std::vector<std::string> names_;
  std::vector<instruction> code_;
};

/// A compiled dimension filter; the empty text gives one that accepts every row.
class dimension_match {
 public:
  /// Compiles `text`; a filter_error when it is not a filter.
  static std::variant<dimension_match, filter_error> compile(std::string_view text);

  /// The dimensions the filter reads, each once, in order of first appearance.
  const std::vector<std::string>& names() const { return names_; }

  /// True when the filter has no groups (accepts everything).
  bool empty() const { return groups_.empty(); }

  /// True when every group holds the row's value of its dimension. `values[i]` is the row's
  /// text for names()[i], std::nullopt when the row lacks it.
  bool accepts(std::span<const std::optional<std::string_view>> values) const;

 private:
  struct group {
    std::size_t slot = 0;
    std::vector<std::string> allowed;
  };
  std::vector<std::string> names_;
  std::vector<group> groups_;
};

}  // namespace qoewatch::sim
