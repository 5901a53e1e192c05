// Property tests of the qoefilter rule language, driven by fixed-seed std::mt19937_64 so any
// failure reproduces. Each failure message carries the offending text.
#include "rules/expr.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace qoewatch::rules {

// Lets GoogleTest print an AST in failure messages (found by argument-dependent lookup).
static void PrintTo(const expr& e, std::ostream* os) {
  *os << "expr{" << to_string(e) << "}";
}

namespace {

using rng_t = std::mt19937_64;

constexpr int kCases = 2000;

// Metric names: none is a keyword, none starts with a keyword and none could be read as part
// of a number.
constexpr std::array<const char*, 6> kMetrics = {"latency", "bufferingratio", "errors", "bitrate",
                                                 "x",       "startup_ms2"};

constexpr std::array<cmp_op, 6> kOps = {cmp_op::gt, cmp_op::ge, cmp_op::lt,
                                        cmp_op::le, cmp_op::eq, cmp_op::ne};

int uniform(rng_t& rng, int lo, int hi) {
  return std::uniform_int_distribution<int>(lo, hi)(rng);
}
std::size_t pick_index(rng_t& rng, std::size_t size) {
  return std::uniform_int_distribution<std::size_t>(0, size - 1)(rng);
}
bool chance(rng_t& rng, double p) {
  return std::bernoulli_distribution(p)(rng);
}

double random_value(rng_t& rng) {
  constexpr double smallest_normal = std::numeric_limits<double>::min();
  constexpr double largest = std::numeric_limits<double>::max();
  // clang-format off
  static const std::array<double, 18> special = {
      0.0, -0.0, 0.1, 1e-7, 123456789.125, 2.5, -2.5, 0.30000000000000004, 1e21, 1e22, 1e-300,
      5e-324, smallest_normal, largest, -largest, 9007199254740992.0, 4503599627370495.5,
      1.0 / 3.0};
  // clang-format on
  switch (uniform(rng, 0, 6)) {
    case 0:
      return uniform(rng, -100, 100);
    case 1:
      return static_cast<double>(std::uniform_int_distribution<std::int64_t>(
          -(std::int64_t{1} << 53), std::int64_t{1} << 53)(rng));
    case 2:
      return std::uniform_real_distribution<double>(-1000, 1000)(rng);
    case 3:
      return special[pick_index(rng, special.size())];
    case 4: {
      // Any finite double, straight from random bits: tiny, huge, subnormal, negative.
      for (;;) {
        double v = std::bit_cast<double>(rng());
        if (std::isfinite(v)) return v;
      }
    }
    case 5: {
      // A short decimal with a random exponent, such as 4.25e-17.
      double mantissa = uniform(rng, -9999, 9999) / 100.0;
      return mantissa * std::pow(10.0, uniform(rng, -30, 30));
    }
    default:
      return uniform(rng, 0, 1000) / 8.0;  // exact binary fractions
  }
}

expr random_compare(rng_t& rng) {
  return expr::make_compare(kMetrics[pick_index(rng, kMetrics.size())],
                            kOps[pick_index(rng, kOps.size())], random_value(rng));
}

// A tree the parser can produce: AND/OR nodes have two or more children, NOT has one.
expr random_expr(rng_t& rng, int depth) {
  if (depth == 0 || chance(rng, 0.3)) return random_compare(rng);
  int which = uniform(rng, 0, 2);
  if (which == 0) return expr::make_not(random_expr(rng, depth - 1));
  std::vector<expr> children;
  int n = uniform(rng, 2, 4);
  for (int i = 0; i < n; ++i) children.push_back(random_expr(rng, depth - 1));
  return which == 1 ? expr::make_and(std::move(children)) : expr::make_or(std::move(children));
}

expr random_expr(rng_t& rng) {
  return random_expr(rng, uniform(rng, 0, 5));
}

// ---- text variations ----

enum class piece { lparen, rparen, keyword, metric, op, number };

struct token {
  piece kind;
  std::string text;
};

// Splits canonical text into tokens: it separates tokens by single spaces, with parentheses
// glued to their neighbours.
std::vector<token> tokenize_canonical(const std::string& text) {
  std::vector<token> out;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t end = text.find(' ', i);
    if (end == std::string::npos) end = text.size();
    std::string word = text.substr(i, end - i);
    i = end + 1;
    std::size_t closing = 0;
    while (!word.empty() && word.front() == '(') {
      out.push_back({piece::lparen, "("});
      word.erase(0, 1);
    }
    while (!word.empty() && word.back() == ')') {
      ++closing;
      word.pop_back();
    }
    piece kind = piece::metric;
    if (word == "AND" || word == "OR" || word == "NOT")
      kind = piece::keyword;
    else if (word.find_first_of("<>=!") == 0)
      kind = piece::op;
    else if (std::isdigit(static_cast<unsigned char>(word.front())) || word.front() == '-')
      kind = piece::number;
    out.push_back({kind, word});
    for (std::size_t k = 0; k < closing; ++k) out.push_back({piece::rparen, ")"});
  }
  return out;
}

bool is_word(piece p) {
  return p == piece::keyword || p == piece::metric;
}

// The same expression written differently: random keyword case, random exponent-letter case,
// random (possibly no) whitespace between tokens where the language allows it.
std::string vary(const std::string& canonical, rng_t& rng) {
  static const std::array<const char*, 8> separators = {"",   "",     " ",    "  ",
                                                        "\t", "\r\n", " \n ", " \t  "};
  auto separator = [&rng] { return std::string(separators[pick_index(rng, separators.size())]); };
  std::vector<token> tokens = tokenize_canonical(canonical);
  std::string out = separator();
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    std::string text = tokens[i].text;
    if (tokens[i].kind == piece::keyword || tokens[i].kind == piece::number) {
      for (char& c : text) {
        if (std::isalpha(static_cast<unsigned char>(c)) && chance(rng, 0.5))
          c = static_cast<char>(std::islower(static_cast<unsigned char>(c))
                                    ? std::toupper(static_cast<unsigned char>(c))
                                    : std::tolower(static_cast<unsigned char>(c)));
      }
    }
    if (tokens[i].kind == piece::op && text == "=" && chance(rng, 0.3)) text = "==";
    if (i > 0) {
      std::string sep = separator();
      // Two words (or a word and a number) must not run together; `5AND` is fine.
      bool needs_space = is_word(tokens[i - 1].kind) &&
                         (is_word(tokens[i].kind) || tokens[i].kind == piece::number);
      if (needs_space && sep.empty()) sep = " ";
      out += sep;
    }
    out += text;
  }
  out += separator();
  return out;
}

// ---- reference evaluator, independent of evaluate() and compare() ----

using row = std::map<std::string, double, std::less<>>;

void reference_metrics(const expr& e, std::set<std::string>& out) {
  if (e.k == expr::kind::compare) out.insert(e.cmp.metric);
  for (const expr& c : e.children) reference_metrics(c, out);
}

bool reference_value(const expr& e, const row& r) {
  switch (e.k) {
    case expr::kind::compare: {
      double v = r.at(e.cmp.metric);
      double c = e.cmp.value;
      switch (e.cmp.op) {
        case cmp_op::gt:
          return v > c;
        case cmp_op::ge:
          return v >= c;
        case cmp_op::lt:
          return v < c;
        case cmp_op::le:
          return v <= c;
        case cmp_op::eq:
          return v == c;
        case cmp_op::ne:
          return v != c;
      }
      ADD_FAILURE() << "unknown operator";
      return false;
    }
    case expr::kind::not_:
      return !reference_value(e.children.at(0), r);
    case expr::kind::and_:
      return std::all_of(e.children.begin(), e.children.end(),
                         [&r](const expr& c) { return reference_value(c, r); });
    case expr::kind::or_:
      return std::any_of(e.children.begin(), e.children.end(),
                         [&r](const expr& c) { return reference_value(c, r); });
  }
  ADD_FAILURE() << "unknown node kind";
  return false;
}

std::optional<bool> reference_evaluate(const expr& e, const row& r) {
  std::set<std::string> needed;
  reference_metrics(e, needed);
  for (const std::string& m : needed)
    if (r.find(m) == r.end()) return std::nullopt;
  return reference_value(e, r);
}

std::optional<bool> evaluate_on(const expr& e, const row& r) {
  return evaluate(e, [&r](std::string_view metric) -> std::optional<double> {
    auto it = r.find(metric);
    if (it == r.end()) return std::nullopt;
    return it->second;
  });
}

void collect_values(const expr& e, std::vector<double>& out) {
  if (e.k == expr::kind::compare) out.push_back(e.cmp.value);
  for (const expr& c : e.children) collect_values(c, out);
}

// A row that often sits on the expression's boundaries: values equal to, or one ulp either
// side of, the constants the expression compares against.
row random_row(const expr& e, rng_t& rng, double missing_probability) {
  std::vector<double> constants;
  collect_values(e, constants);
  row r;
  for (const char* m : kMetrics) {
    if (chance(rng, missing_probability)) continue;
    double v = 0;
    int how = uniform(rng, 0, 9);
    double c = constants[pick_index(rng, constants.size())];
    if (how <= 3)
      v = c;
    else if (how <= 5)
      v = std::nextafter(c, std::numeric_limits<double>::infinity());
    else if (how <= 7)
      v = std::nextafter(c, -std::numeric_limits<double>::infinity());
    else
      v = random_value(rng);
    if (!std::isfinite(v)) v = c;
    r[m] = v;
  }
  return r;
}

std::string describe(const row& r) {
  std::string out = "{";
  for (const auto& [k, v] : r) out += " " + k + "=" + format_number(v);
  return out + " }";
}

// ---- (a) print -> parse round trip ----

TEST(ExprProperty, PrintThenParseGivesTheSameTree) {
  rng_t rng(0x5eed0001);
  for (int i = 0; i < kCases; ++i) {
    expr e = random_expr(rng);
    std::string text = to_string(e);
    parse_result r = parse(text);
    ASSERT_TRUE(r) << "case " << i << ": \"" << text << "\" failed at column " << r.error.column
                   << ": " << r.error.message;
    ASSERT_EQ(*r.value, e) << "case " << i << ": \"" << text << "\" reparsed as \""
                           << to_string(*r.value) << "\"";
    ASSERT_EQ(to_string(*r.value), text) << "case " << i;
  }
}

TEST(ExprProperty, CaseAndWhitespaceVariationsParseToTheSameTree) {
  rng_t rng(0x5eed0002);
  for (int i = 0; i < kCases; ++i) {
    expr e = random_expr(rng);
    std::string canonical = to_string(e);
    for (int v = 0; v < 3; ++v) {
      std::string text = vary(canonical, rng);
      parse_result r = parse(text);
      ASSERT_TRUE(r) << "case " << i << ": \"" << text << "\" (a variation of \"" << canonical
                     << "\") failed at column " << r.error.column << ": " << r.error.message;
      ASSERT_EQ(*r.value, e) << "case " << i << ": \"" << text << "\" (a variation of \""
                             << canonical << "\") parsed as \"" << to_string(*r.value) << "\"";
    }
  }
}

TEST(ExprProperty, VariationsReallyVary) {
  // Guards the generator itself: variations must sometimes drop spaces and change case.
  rng_t rng(0x5eed0003);
  std::string canonical = "latency > 5 AND (errors >= 1e-07 OR NOT x != 2)";
  bool dropped_space = false, changed_case = false, added_other_space = false;
  for (int i = 0; i < 200; ++i) {
    std::string text = vary(canonical, rng);
    dropped_space |= text.find("5AND") != std::string::npos ||
                     text.find("5and") != std::string::npos || text.find("latency>") == 0;
    changed_case |= text.find("and") != std::string::npos || text.find("E-07") != std::string::npos;
    added_other_space |= text.find_first_of("\t\n\r") != std::string::npos;
  }
  EXPECT_TRUE(dropped_space);
  EXPECT_TRUE(changed_case);
  EXPECT_TRUE(added_other_space);
}

TEST(ExprProperty, MetricsOfListsEachMetricOnceInFirstAppearanceOrder) {
  rng_t rng(0x5eed0004);
  for (int i = 0; i < kCases; ++i) {
    expr e = random_expr(rng);
    // Reference: the metric names in the printed text, left to right, first occurrences.
    std::vector<std::string> expected;
    for (const token& t : tokenize_canonical(to_string(e)))
      if (t.kind == piece::metric &&
          std::find(expected.begin(), expected.end(), t.text) == expected.end())
        expected.push_back(t.text);
    ASSERT_EQ(metrics_of(e), expected) << "case " << i << ": \"" << to_string(e) << "\"";
  }
}

// ---- (b) evaluate agrees with the reference ----

TEST(ExprProperty, EvaluateAgreesWithReferenceEvaluator) {
  rng_t rng(0x5eed0005);
  int outcomes_true = 0, outcomes_false = 0, outcomes_unknown = 0;
  for (int i = 0; i < kCases; ++i) {
    expr e = random_expr(rng);
    for (int k = 0; k < 10; ++k) {
      // Half the rows are complete; the rest lack each metric with some probability.
      row r = random_row(e, rng, chance(rng, 0.5) ? 0.0 : 0.15);
      std::optional<bool> expected = reference_evaluate(e, r);
      std::optional<bool> actual = evaluate_on(e, r);
      ASSERT_EQ(actual, expected) << "case " << i << ": \"" << to_string(e) << "\" on row "
                                  << describe(r);
      if (!expected)
        ++outcomes_unknown;
      else if (*expected)
        ++outcomes_true;
      else
        ++outcomes_false;
    }
  }
  // The rows must exercise every outcome substantially, or the comparison proves little.
  EXPECT_GT(outcomes_true, kCases);
  EXPECT_GT(outcomes_false, kCases);
  EXPECT_GT(outcomes_unknown, kCases);
}

// ---- (c) server_side_filter is sound ----

expr random_filterable_expr(rng_t& rng) {
  if (chance(rng, 0.2)) return random_expr(rng);
  if (chance(rng, 0.1)) {
    expr c = random_compare(rng);
    c.cmp.op = cmp_op::gt;
    return c;
  }
  std::vector<expr> children;
  int n = uniform(rng, 2, 5);
  for (int i = 0; i < n; ++i) {
    if (chance(rng, 0.5)) {
      expr c = random_compare(rng);
      c.cmp.op = cmp_op::gt;
      children.push_back(std::move(c));
    } else {
      children.push_back(random_expr(rng, uniform(rng, 0, 3)));
    }
  }
  return expr::make_and(std::move(children));
}

// True when `term` is `e` itself or a conjunct of e's AND nodes reached through ANDs only.
bool is_top_level_conjunct(const expr& e, const expr& term) {
  if (e == term) return true;
  if (e.k != expr::kind::and_) return false;
  return std::any_of(e.children.begin(), e.children.end(),
                     [&](const expr& c) { return is_top_level_conjunct(c, term); });
}

TEST(ExprProperty, ServerSideFilterKeepsEveryMatchingRow) {
  rng_t rng(0x5eed0006);
  int checked = 0;
  for (int i = 0; i < kCases; ++i) {
    expr e = random_filterable_expr(rng);
    std::string filter = server_side_filter(e);
    std::optional<expr> server;
    if (!filter.empty()) {
      parse_result r = parse(filter);
      ASSERT_TRUE(r) << "case " << i << ": filter \"" << filter << "\" of \"" << to_string(e)
                     << "\" failed at column " << r.error.column << ": " << r.error.message;
      server = *r.value;
      // Only `metric>number` terms joined by AND, each a top-level conjunct of e.
      std::vector<expr> terms =
          server->k == expr::kind::and_ ? server->children : std::vector<expr>{*server};
      for (const expr& t : terms) {
        ASSERT_EQ(t.k, expr::kind::compare) << "case " << i << ": \"" << filter << "\"";
        ASSERT_EQ(t.cmp.op, cmp_op::gt) << "case " << i << ": \"" << filter << "\"";
        bool is_conjunct = is_top_level_conjunct(e, t);
        ASSERT_TRUE(is_conjunct) << "case " << i << ": \"" << filter << "\" of \"" << to_string(e)
                                 << "\"";
      }
      ASSERT_EQ(filter.find(' '), filter.find(" AND ")) << "case " << i << ": \"" << filter << "\"";
    }
    for (int k = 0; k < 20; ++k) {
      row r = random_row(e, rng, 0.0);
      if (evaluate_on(e, r) != std::optional<bool>(true)) continue;
      if (!server) continue;
      ++checked;
      ASSERT_EQ(evaluate_on(*server, r), std::optional<bool>(true))
          << "case " << i << ": \"" << to_string(e) << "\" holds on row " << describe(r)
          << " but its server-side filter \"" << filter << "\" rejects it";
    }
  }
  EXPECT_GT(checked, kCases) << "too few matching rows with a non-empty filter";
}

// ---- robustness: damaged text never crashes and errors point inside it ----

TEST(ExprProperty, DamagedTextGivesAnErrorInsideTheTextOrAValidTree) {
  rng_t rng(0x5eed0007);
  static const std::string alphabet = "()<>=!-+.eE0123456789 aAnNdDoOrRtTx_\t#&|\xC3\xA9";
  int errors = 0;
  for (int i = 0; i < kCases; ++i) {
    std::string text = to_string(random_expr(rng));
    int edits = uniform(rng, 1, 3);
    for (int k = 0; k < edits; ++k) {
      std::size_t at = static_cast<std::size_t>(uniform(rng, 0, static_cast<int>(text.size())));
      char c = alphabet[pick_index(rng, alphabet.size())];
      switch (uniform(rng, 0, 2)) {
        case 0:
          text.insert(at, 1, c);
          break;
        case 1:
          if (at < text.size()) text.erase(at, 1);
          break;
        default:
          if (at < text.size()) text[at] = c;
          break;
      }
    }
    parse_result r = parse(text);
    if (r) {
      std::string printed = to_string(*r.value);
      parse_result again = parse(printed);
      ASSERT_TRUE(again) << "case " << i << ": \"" << text << "\" printed as \"" << printed
                         << "\" which fails: " << again.error.message;
      ASSERT_EQ(*again.value, *r.value) << "case " << i << ": \"" << text << "\"";
    } else {
      ++errors;
      ASSERT_GE(r.error.column, 1u) << "case " << i << ": \"" << text << "\"";
      ASSERT_LE(r.error.column, text.size() + 1) << "case " << i << ": \"" << text << "\"";
      ASSERT_FALSE(r.error.message.empty()) << "case " << i << ": \"" << text << "\"";
    }
  }
  EXPECT_GT(errors, kCases / 4);
}

}  // namespace
}  // namespace qoewatch::rules
