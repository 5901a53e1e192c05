// The qoefilter rule language: a small boolean expression over session metrics.
//
//   expr       := or
//   or         := and { OR and }
//   and        := unary { AND unary }
//   unary      := NOT unary | '(' expr ')' | comparison
//   comparison := metric op number        op: > >= < <= = !=
//
// The same grammar judges populations (a population rule's `when`): with
// parse_options::aggregates an operand may also be `name(metric)` (p95(latency)) and a number
// may be written as a percentage (10% reads 0.1). Which operands mean something there is the
// config's business (rules/aggregate.hpp); the parser lists where each one stands.
//
// Keywords are case-insensitive, spaces optional. The AST keeps the grouping the text
// wrote: `a AND b AND c` is one AND node with three children, `a AND (b AND c)` nests.
// Pure code: no I/O, no logging; errors are values.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qoewatch::rules {

enum class cmp_op { gt, ge, lt, le, eq, ne };

/// The operator's text as written by `to_string(expr)`: ">", ">=", "<", "<=", "=", "!=".
std::string_view to_string(cmp_op op);

/// True when `lhs op rhs` holds.
bool compare(double lhs, cmp_op op, double rhs);

struct comparison {
  std::string metric;
  cmp_op op = cmp_op::gt;
  double value = 0;
  bool operator==(const comparison&) const = default;
};

struct expr {
  enum class kind { compare, not_, and_, or_ };
  kind k = kind::compare;
  comparison cmp;              // k == compare
  std::vector<expr> children;  // not_: exactly one; and_/or_: two or more
  bool operator==(const expr&) const = default;

  static expr make_compare(std::string metric, cmp_op op, double value);
  static expr make_not(expr child);
  static expr make_and(std::vector<expr> children);
  static expr make_or(std::vector<expr> children);
};

struct parse_error {
  std::size_t column = 1;  // 1-based column in the parsed text
  std::string message;     // "expected a number after '>'"
};

struct parse_options {
  bool aggregates = false;  // operands `name(metric)` and numbers `10%` (see above)
};

/// Where one comparison of the text stands, in text order: for messages about its operand.
struct operand_use {
  std::string operand;          // as the comparison holds it: "ratio", "p95(latency)"
  std::size_t column = 1;       // 1-based column of the operand
  std::size_t value_column = 1;  // 1-based column of the number
  bool percent = false;         // the number was written as a percentage
};

struct parse_result {
  std::optional<expr> value;
  parse_error error;                  // meaningful only when !value
  std::vector<operand_use> operands;  // when value: every comparison, in text order
  explicit operator bool() const { return value.has_value(); }
};

/// Parses `text`. Never throws; on failure the error names the 1-based column.
parse_result parse(std::string_view text, const parse_options& options = {});

/// Prints canonically: single spaces, upper-case keywords, shortest round-trip numbers,
/// parentheses around every AND/OR operand that is itself AND/OR. parse(to_string(e)) == e.
std::string to_string(const expr& e);

/// Formats a number the way to_string(expr) does: shortest text that reads back exactly.
std::string format_number(double v);

/// Metric names the expression reads, each once, in order of first appearance.
std::vector<std::string> metrics_of(const expr& e);

/// The part SmartSight is documented to accept: the top-level conjuncts of the form
/// `metric > number`, printed as `metric>number` joined by " AND ". Empty when there are
/// none. Every row satisfying `e` satisfies this, so server-side filtering loses nothing.
std::string server_side_filter(const expr& e);

/// Evaluates on one row. `lookup(metric)` returns the metric's value or std::nullopt when the
/// row lacks it (or it is not a number). Returns std::nullopt when any metric the expression
/// reads is missing: such a row cannot be judged and must be skipped, not treated as false.
template <class Lookup>
std::optional<bool> evaluate(const expr& e, Lookup&& lookup);

// ---- implementation of the template ----

namespace detail {
template <class Lookup>
bool evaluate_known(const expr& e, Lookup& lookup, bool& missing) {
  switch (e.k) {
    case expr::kind::compare: {
      std::optional<double> v = lookup(std::string_view{e.cmp.metric});
      if (!v) {
        missing = true;
        return false;
      }
      return compare(*v, e.cmp.op, e.cmp.value);
    }
    case expr::kind::not_:
      return !evaluate_known(e.children.front(), lookup, missing);
    case expr::kind::and_: {
      // Every child is evaluated (no short circuit) so a missing metric anywhere is seen.
      bool all = true;
      for (const expr& c : e.children) all = evaluate_known(c, lookup, missing) && all;
      return all;
    }
    case expr::kind::or_: {
      bool any = false;
      for (const expr& c : e.children) any = evaluate_known(c, lookup, missing) || any;
      return any;
    }
  }
  return false;
}
}  // namespace detail

template <class Lookup>
std::optional<bool> evaluate(const expr& e, Lookup&& lookup) {
  bool missing = false;
  bool result = detail::evaluate_known(e, lookup, missing);
  if (missing) return std::nullopt;
  return result;
}

}  // namespace qoewatch::rules
