// Table tests of the qoefilter rule language: parsing, canonical printing, errors,
// metrics_of, server_side_filter and evaluate.
#include "rules/expr.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace qoewatch::rules {

// Lets GoogleTest print an AST in failure messages (found by argument-dependent lookup).
static void PrintTo(const expr& e, std::ostream* os) {
  *os << "expr{" << to_string(e) << "}";
}

namespace {

expr cmp(const char* metric, cmp_op op, double value) {
  return expr::make_compare(metric, op, value);
}
expr gt(const char* metric, double value) {
  return cmp(metric, cmp_op::gt, value);
}
expr and_(std::vector<expr> children) {
  return expr::make_and(std::move(children));
}
expr or_(std::vector<expr> children) {
  return expr::make_or(std::move(children));
}
expr not_(expr child) {
  return expr::make_not(std::move(child));
}

expr parse_ok(std::string_view text) {
  parse_result r = parse(text);
  EXPECT_TRUE(r) << "text: \"" << text << "\" failed at column " << r.error.column << ": "
                 << r.error.message;
  return r ? *r.value : expr{};
}

using row = std::map<std::string, double, std::less<>>;

std::optional<bool> eval(const expr& e, const row& values) {
  return evaluate(e, [&values](std::string_view metric) -> std::optional<double> {
    auto it = values.find(metric);
    if (it == values.end()) return std::nullopt;
    return it->second;
  });
}

std::optional<bool> eval(std::string_view text, const row& values) {
  return eval(parse_ok(text), values);
}

// ---- structure: precedence, grouping, keywords, spacing ----

struct structure_case {
  const char* text;
  expr expected;
};

void PrintTo(const structure_case& c, std::ostream* os) {
  *os << "\"" << c.text << "\"";
}

class ParseStructure : public ::testing::TestWithParam<structure_case> {};

TEST_P(ParseStructure, BuildsExpectedTree) {
  const structure_case& c = GetParam();
  EXPECT_EQ(parse_ok(c.text), c.expected) << "text: \"" << c.text << "\"";
}

INSTANTIATE_TEST_SUITE_P(
    Precedence, ParseStructure,
    ::testing::Values(
        // AND binds tighter than OR, on either side.
        structure_case{"a > 1 OR b > 2 AND c > 3",
                       or_({gt("a", 1), and_({gt("b", 2), gt("c", 3)})})},
        structure_case{"a > 1 AND b > 2 OR c > 3",
                       or_({and_({gt("a", 1), gt("b", 2)}), gt("c", 3)})},
        // NOT binds tighter than AND and OR: it takes only the next comparison.
        structure_case{"NOT a > 1 AND b > 2", and_({not_(gt("a", 1)), gt("b", 2)})},
        structure_case{"NOT a > 1 OR b > 2", or_({not_(gt("a", 1)), gt("b", 2)})},
        structure_case{"a > 1 AND NOT b > 2", and_({gt("a", 1), not_(gt("b", 2))})},
        structure_case{"NOT (a > 1 OR b > 2)", not_(or_({gt("a", 1), gt("b", 2)}))},
        structure_case{"NOT NOT a > 1", not_(not_(gt("a", 1)))},
        // Parentheses override precedence.
        structure_case{"(a > 1 OR b > 2) AND c > 3",
                       and_({or_({gt("a", 1), gt("b", 2)}), gt("c", 3)})},
        // A chain of one operator is one node; explicit grouping nests.
        structure_case{"a > 1 AND b > 2 AND c > 3", and_({gt("a", 1), gt("b", 2), gt("c", 3)})},
        structure_case{"a > 1 OR b > 2 OR c > 3 OR d > 4",
                       or_({gt("a", 1), gt("b", 2), gt("c", 3), gt("d", 4)})},
        structure_case{"a > 1 AND (b > 2 AND c > 3)",
                       and_({gt("a", 1), and_({gt("b", 2), gt("c", 3)})})},
        structure_case{"(a > 1 AND b > 2) AND c > 3",
                       and_({and_({gt("a", 1), gt("b", 2)}), gt("c", 3)})},
        // Redundant parentheses around a comparison or a whole expression vanish.
        structure_case{"(a > 1)", gt("a", 1)}, structure_case{"(((a > 1)))", gt("a", 1)},
        structure_case{"((a > 1 AND b > 2))", and_({gt("a", 1), gt("b", 2)})},
        structure_case{"NOT (a > 1)", not_(gt("a", 1))}));

INSTANTIATE_TEST_SUITE_P(
    KeywordsAndSpacing, ParseStructure,
    ::testing::Values(
        structure_case{"a > 1 and b > 2", and_({gt("a", 1), gt("b", 2)})},
        structure_case{"a > 1 Or b > 2", or_({gt("a", 1), gt("b", 2)})},
        structure_case{"nOt a > 1", not_(gt("a", 1))},
        structure_case{"a > 1 aNd NoT b > 2 oR c > 3",
                       or_({and_({gt("a", 1), not_(gt("b", 2))}), gt("c", 3)})},
        structure_case{"latency>5AND errors>=1",
                       and_({gt("latency", 5), cmp("errors", cmp_op::ge, 1)})},
        structure_case{"(latency>5)or(errors!=0)",
                       or_({gt("latency", 5), cmp("errors", cmp_op::ne, 0)})},
        structure_case{"NOT(a>1)AND(b<2)", and_({not_(gt("a", 1)), cmp("b", cmp_op::lt, 2)})},
        structure_case{"a>1e5AND b>2", and_({gt("a", 1e5), gt("b", 2)})},
        structure_case{"a>-1OR b<=-2", or_({gt("a", -1), cmp("b", cmp_op::le, -2)})},
        structure_case{"  \ta\n>\r\n1  ", gt("a", 1)},
        // Keywords are only whole words: these are metric names.
        structure_case{"android > 1 AND order > 2 AND notice > 3 AND ANDx > 4",
                       and_({gt("android", 1), gt("order", 2), gt("notice", 3), gt("ANDx", 4)})},
        structure_case{"_m1 > 1 AND m_2_ > 2", and_({gt("_m1", 1), gt("m_2_", 2)})},
        // Metric names keep their case.
        structure_case{"BufferingRatio > 1", gt("BufferingRatio", 1)}));

struct op_case {
  const char* text;
  cmp_op op;
};

void PrintTo(const op_case& c, std::ostream* os) {
  *os << "\"" << c.text << "\"";
}

class ParseOperator : public ::testing::TestWithParam<op_case> {};

TEST_P(ParseOperator, ReadsOperator) {
  expr e = parse_ok(GetParam().text);
  EXPECT_EQ(e, cmp("x", GetParam().op, 3)) << "text: \"" << GetParam().text << "\"";
}

INSTANTIATE_TEST_SUITE_P(
    All, ParseOperator,
    ::testing::Values(op_case{"x > 3", cmp_op::gt}, op_case{"x >= 3", cmp_op::ge},
                      op_case{"x < 3", cmp_op::lt}, op_case{"x <= 3", cmp_op::le},
                      op_case{"x = 3", cmp_op::eq}, op_case{"x == 3", cmp_op::eq},
                      op_case{"x != 3", cmp_op::ne}, op_case{"x>3", cmp_op::gt},
                      op_case{"x>=3", cmp_op::ge}, op_case{"x<3", cmp_op::lt},
                      op_case{"x<=3", cmp_op::le}, op_case{"x=3", cmp_op::eq},
                      op_case{"x==3", cmp_op::eq}, op_case{"x!=3", cmp_op::ne}));

struct number_case {
  const char* literal;
  double value;
  const char* canonical;  // how to_string prints it back
};

void PrintTo(const number_case& c, std::ostream* os) {
  *os << "\"" << c.literal << "\"";
}

class ParseNumber : public ::testing::TestWithParam<number_case> {};

TEST_P(ParseNumber, ReadsValueAndPrintsShortest) {
  const number_case& c = GetParam();
  std::string text = std::string("x > ") + c.literal;
  expr e = parse_ok(text);
  ASSERT_EQ(e.k, expr::kind::compare) << text;
  EXPECT_EQ(e.cmp.value, c.value) << text;
  EXPECT_EQ(to_string(e), std::string("x > ") + c.canonical) << text;
  EXPECT_EQ(format_number(c.value), c.canonical);
}

INSTANTIATE_TEST_SUITE_P(
    Literals, ParseNumber,
    ::testing::Values(number_case{"5", 5, "5"}, number_case{"0", 0, "0"},
                      number_case{"-5", -5, "-5"}, number_case{"+5", 5, "5"},
                      number_case{"-0", 0, "0"}, number_case{"007", 7, "7"},
                      number_case{"2.5", 2.5, "2.5"}, number_case{"2.50", 2.5, "2.5"},
                      number_case{"-0.25", -0.25, "-0.25"}, number_case{".5", 0.5, "0.5"},
                      number_case{"-.5", -0.5, "-0.5"}, number_case{"5.", 5, "5"},
                      number_case{"0.1", 0.1, "0.1"}, number_case{"1e3", 1000, "1000"},
                      number_case{"1E3", 1000, "1000"}, number_case{"1e+3", 1000, "1000"},
                      number_case{"2.5e-3", 0.0025, "0.0025"}, number_case{"1e-7", 1e-7, "1e-07"},
                      number_case{"-1.5E-7", -1.5e-7, "-1.5e-07"},
                      number_case{"1e21", 1e21, "1e+21"},
                      number_case{"123456789.125", 123456789.125, "123456789.125"},
                      number_case{"1.7976931348623157e308", std::numeric_limits<double>::max(),
                                  "1.7976931348623157e+308"},
                      number_case{"5e-324", std::numeric_limits<double>::denorm_min(), "5e-324"},
                      number_case{"0.30000000000000004", 0.1 + 0.2, "0.30000000000000004"}));

// ---- canonical printing ----

struct print_case {
  const char* text;
  const char* canonical;
};

void PrintTo(const print_case& c, std::ostream* os) {
  *os << "\"" << c.text << "\"";
}

class CanonicalPrint : public ::testing::TestWithParam<print_case> {};

TEST_P(CanonicalPrint, PrintsExactlyAndReparsesToSameTree) {
  const print_case& c = GetParam();
  expr e = parse_ok(c.text);
  std::string printed = to_string(e);
  EXPECT_EQ(printed, c.canonical) << "text: \"" << c.text << "\"";
  EXPECT_EQ(parse_ok(printed), e) << "printed: \"" << printed << "\"";
  EXPECT_EQ(to_string(parse_ok(printed)), printed);  // canonical form is a fixed point
}

INSTANTIATE_TEST_SUITE_P(
    Forms, CanonicalPrint,
    ::testing::Values(print_case{"latency>5 and (bufferingratio>=2 or not errors=0)",
                                 "latency > 5 AND (bufferingratio >= 2 OR NOT errors = 0)"},
                      print_case{"latency > 5 and (bufferingratio >= 2 or not errors = 0)",
                                 "latency > 5 AND (bufferingratio >= 2 OR NOT errors = 0)"},
                      print_case{"latency>5AND errors>=1", "latency > 5 AND errors >= 1"},
                      print_case{"(latency>5)or(errors!=0)", "latency > 5 OR errors != 0"},
                      print_case{"a>1 or b>2 and c>3", "a > 1 OR (b > 2 AND c > 3)"},
                      print_case{"a>1 and b>2 or c>3", "(a > 1 AND b > 2) OR c > 3"},
                      print_case{"a>1 and (b>2 and c>3)", "a > 1 AND (b > 2 AND c > 3)"},
                      print_case{"x == 3", "x = 3"}, print_case{"x<=-3.50", "x <= -3.5"},
                      print_case{"not(a>1)", "NOT a > 1"},
                      print_case{"not not a>1", "NOT NOT a > 1"},
                      print_case{"not (a>1 or b>1)", "NOT (a > 1 OR b > 1)"},
                      print_case{"not (not (a>1 and b<1))", "NOT NOT (a > 1 AND b < 1)"},
                      print_case{"((a>1))", "a > 1"},
                      print_case{"not a>1 and not (b>1 or c>1) or d!=0",
                                 "(NOT a > 1 AND NOT (b > 1 OR c > 1)) OR d != 0"}));

TEST(ToString, PrintsEveryOperator) {
  EXPECT_EQ(to_string(cmp_op::gt), ">");
  EXPECT_EQ(to_string(cmp_op::ge), ">=");
  EXPECT_EQ(to_string(cmp_op::lt), "<");
  EXPECT_EQ(to_string(cmp_op::le), "<=");
  EXPECT_EQ(to_string(cmp_op::eq), "=");
  EXPECT_EQ(to_string(cmp_op::ne), "!=");
}

TEST(ToString, PrintsHandBuiltTree) {
  expr e = or_({and_({gt("a", 1), not_(cmp("b", cmp_op::le, -0.5))}), not_(or_({gt("c", 1e-7)}))});
  // A one-child OR is not something parse() produces, but it still prints grouped.
  EXPECT_EQ(to_string(e), "(a > 1 AND NOT b <= -0.5) OR NOT (c > 1e-07)");
}

TEST(FormatNumber, NegativeZeroPrintsAsZero) {
  EXPECT_EQ(format_number(-0.0), "0");
}

// ---- errors ----

struct error_case {
  const char* text;
  std::size_t column;
  const char* message;
};

void PrintTo(const error_case& c, std::ostream* os) {
  *os << "\"" << c.text << "\"";
}

class ParseError : public ::testing::TestWithParam<error_case> {};

TEST_P(ParseError, ReportsColumnAndMessage) {
  const error_case& c = GetParam();
  parse_result r = parse(c.text);
  ASSERT_FALSE(r) << "text: \"" << c.text << "\" parsed as \"" << to_string(*r.value) << "\"";
  EXPECT_FALSE(r.value.has_value());
  EXPECT_EQ(r.error.message, c.message) << "text: \"" << c.text << "\"";
  EXPECT_EQ(r.error.column, c.column) << "text: \"" << c.text << "\"";
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, ParseError,
    ::testing::Values(
        error_case{"", 1, "empty condition (write e.g. latency > 5)"},
        error_case{"   ", 4, "empty condition (write e.g. latency > 5)"},
        error_case{"latency >", 10, "expected a number after '>', found end of text"},
        error_case{"latency >=", 11, "expected a number after '>=', found end of text"},
        error_case{"> 5", 1, "expected a metric name, found '>'"},
        error_case{"latency", 8,
                   "expected one of > >= < <= = != after 'latency', found end of text"},
        error_case{"latency 5", 9, "expected one of > >= < <= = != after 'latency', found '5'"},
        error_case{"latency > abc", 11, "expected a number after '>', found 'abc'"},
        error_case{"latency > inf", 11, "expected a number after '>', found 'inf'"},
        error_case{"latency > -", 11, "expected a number after '>', found '-'"},
        error_case{"latency > - 5", 11, "expected a number after '>', found '-'"},
        error_case{"latency > .", 11, "expected a number after '>', found '.'"},
        error_case{"latency >> 5", 10, "expected a number after '>', found '>'"},
        error_case{"latency => 5", 10, "expected a number after '=', found '>'"},
        error_case{"latency = = 5", 11, "expected a number after '=', found '='"},
        error_case{"(latency > 5", 1, "'(' is never closed"},
        error_case{"((latency > 5)", 1, "'(' is never closed"},
        error_case{"latency > 5 AND (errors > 1", 17, "'(' is never closed"},
        error_case{"(", 2, "expected a metric name, found end of text"},
        error_case{"()", 2, "expected a metric name, found ')'"},
        error_case{")", 1, "expected a metric name, found ')'"},
        error_case{"latency > 5)", 12, "unmatched ')'"},
        error_case{"(latency > 5))", 14, "unmatched ')'"},
        error_case{"latency > 5 AND", 16, "expected a metric name, found end of text"},
        error_case{"latency > 5 and", 16, "expected a metric name, found end of text"},
        error_case{"latency > 5 OR NOT", 19, "expected a metric name, found end of text"},
        error_case{"NOT", 4, "expected a metric name, found end of text"},
        error_case{"AND latency > 5", 1, "expected a metric name, found 'AND'"},
        error_case{"latency > 5 OR OR errors > 1", 16, "expected a metric name, found 'OR'"},
        error_case{"latency ! 5", 9, "expected one of > >= < <= = != after 'latency', found '!'"},
        error_case{"5 > latency", 1,
                   "expected a metric name before '5' (the metric comes first: latency > 5)"},
        error_case{"latency > 5 AND -2 < errors", 17,
                   "expected a metric name before '-2' (the metric comes first: latency > 5)"},
        error_case{"latency > 5 errors > 1", 13,
                   "expected AND, OR or end of condition, found 'errors'"},
        error_case{"latency > 5 6", 13, "expected AND, OR or end of condition, found '6'"},
        error_case{"latency > 5 NOT errors > 1", 13,
                   "expected AND, OR or end of condition, found 'NOT'"},
        error_case{"latency > 5 (errors > 1)", 13,
                   "expected AND, OR or end of condition, found '('"},
        error_case{"latency > 5 && errors > 1", 13,
                   "expected AND, OR or end of condition, found '&'"},
        error_case{"latency > 5ms", 12, "expected AND, OR or end of condition, found 'ms'"},
        error_case{"latency > 1.2.3", 14, "expected AND, OR or end of condition, found '.3'"},
        error_case{"latency > 5e", 12, "expected AND, OR or end of condition, found 'e'"},
        // Keywords must be separated from a following metric name.
        error_case{"latency>5ORerrors>1", 10,
                   "expected AND, OR or end of condition, found 'ORerrors'"},
        // Inside parentheses the alternatives are AND, OR or ')'.
        error_case{"(latency > 5 errors > 1)", 14, "expected AND, OR or ')', found 'errors'"},
        // Numbers that look like numbers but do not fit a double.
        error_case{"latency > 1e999", 11, "number '1e999' is out of range"},
        error_case{"latency > -1e999", 11, "number '-1e999' is out of range"},
        error_case{"latency > 1e-400", 11, "number '1e-400' is out of range"},
        // Non-ASCII text: the whole character is quoted, with a hint for look-alikes.
        error_case{"latency > 5 AND \xC3\xA9rrors > 1", 17,
                   "unexpected character '\xC3\xA9' (metric names use ASCII letters, digits "
                   "and '_')"},
        error_case{"caf\xC3\xA9 > 1", 4,
                   "unexpected character '\xC3\xA9' (metric names use ASCII letters, digits "
                   "and '_')"},
        error_case{"latency > \xF0\x9F\x98\x80", 11,
                   "unexpected character '\xF0\x9F\x98\x80' (metric names use ASCII letters, "
                   "digits and '_')"},
        error_case{"latency \xE2\x89\xA5 5", 9, "unexpected character '\xE2\x89\xA5' (write >=)"},
        error_case{"latency \xE2\x89\xA4 5", 9, "unexpected character '\xE2\x89\xA4' (write <=)"},
        error_case{"latency \xE2\x89\xA0 5", 9, "unexpected character '\xE2\x89\xA0' (write !=)"},
        error_case{"latency\xC2\xA0> 5", 8,
                   "unexpected no-break space (U+00A0); use an ordinary space"},
        // A stray continuation byte is quoted as the single byte it is.
        error_case{"latency > 5 \x80", 13,
                   "unexpected character '\x80' (metric names use ASCII letters, digits and "
                   "'_')"}));

TEST(ParseError, ValueIsEmptyAndOperatorBoolIsFalse) {
  parse_result r = parse("latency >");
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_FALSE(r.value.has_value());
  parse_result ok = parse("latency > 1");
  EXPECT_TRUE(static_cast<bool>(ok));
}

TEST(ParseError, TextWithEmbeddedNulIsNotTruncated) {
  std::string text("latency > 5", 11);
  text += '\0';
  text += " OR x > 1";
  parse_result r = parse(text);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error.column, 12u);
}

// ---- metrics_of ----

TEST(MetricsOf, ListsEachMetricOnceInOrderOfFirstAppearance) {
  expr e = parse_ok("b > 1 AND (a > 2 OR b < 3) AND NOT c = 1 OR a != 0");
  EXPECT_EQ(metrics_of(e), (std::vector<std::string>{"b", "a", "c"}));
  EXPECT_EQ(metrics_of(parse_ok("latency > 5")), (std::vector<std::string>{"latency"}));
  EXPECT_EQ(metrics_of(parse_ok("NOT x > 1 AND NOT x < 0")), (std::vector<std::string>{"x"}));
}

// ---- server_side_filter ----

struct server_case {
  const char* text;
  const char* filter;
};

void PrintTo(const server_case& c, std::ostream* os) {
  *os << "\"" << c.text << "\"";
}

class ServerSideFilter : public ::testing::TestWithParam<server_case> {};

TEST_P(ServerSideFilter, KeepsTopLevelGreaterThanConjuncts) {
  const server_case& c = GetParam();
  EXPECT_EQ(server_side_filter(parse_ok(c.text)), c.filter) << "text: \"" << c.text << "\"";
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ServerSideFilter,
    ::testing::Values(server_case{"latency > 5 AND bufferingratio > 2",
                                  "latency>5 AND bufferingratio>2"},
                      server_case{"latency > 5", "latency>5"},
                      server_case{"(latency > 5)", "latency>5"}, server_case{"latency >= 5", ""},
                      server_case{"latency < 5", ""}, server_case{"latency = 5", ""},
                      server_case{"latency != 5", ""}, server_case{"latency > 5 OR errors > 1", ""},
                      server_case{"latency > 5 AND (errors > 1 OR x > 2)", "latency>5"},
                      server_case{"NOT latency > 5", ""},
                      server_case{"NOT latency > 5 AND errors > 1", "errors>1"},
                      server_case{"latency > 2.5", "latency>2.5"},
                      server_case{"latency > 2.50 AND x > 0.1", "latency>2.5 AND x>0.1"},
                      server_case{"latency > -5 AND x > 1e3", "latency>-5 AND x>1000"},
                      server_case{"latency>=5 AND errors>1 AND x<2 AND y>3", "errors>1 AND y>3"},
                      server_case{"latency > 5 AND latency < 10", "latency>5"},
                      server_case{"(latency > 5 AND errors > 1) OR x > 2", ""},
                      server_case{"(a > 1 AND b > 2) AND c > 3", "a>1 AND b>2 AND c>3"},
                      server_case{"(a > 1 AND (b > 2 OR d > 4)) AND c > 3", "a>1 AND c>3"}));

TEST(ParseError, DeepNestingIsAnErrorNotACrash) {
  std::string deep(100, '(');
  deep += "latency > 5" + std::string(100, ')');
  EXPECT_TRUE(parse(deep));
  std::string too_deep(101, '(');
  too_deep += "latency > 5" + std::string(101, ')');
  parse_result r = parse(too_deep);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error.column, 101u);
  EXPECT_EQ(r.error.message, "nested too deeply (at most 100 levels of NOT and parentheses)");
  std::string nots;
  for (int i = 0; i < 100000; ++i) nots += "NOT ";
  EXPECT_FALSE(parse(nots + "latency > 5"));
}

// ---- compare / evaluate ----

struct compare_case {
  double lhs;
  cmp_op op;
  double rhs;
  bool expected;
};

void PrintTo(const compare_case& c, std::ostream* os) {
  *os << format_number(c.lhs) << " " << to_string(c.op) << " " << format_number(c.rhs);
}

class Compare : public ::testing::TestWithParam<compare_case> {};

TEST_P(Compare, MatchesMathematicalRelation) {
  const compare_case& c = GetParam();
  EXPECT_EQ(compare(c.lhs, c.op, c.rhs), c.expected)
      << c.lhs << " " << to_string(c.op) << " " << c.rhs;
  // Through the whole pipeline: parse the comparison and evaluate it on a row.
  expr e = cmp("m", c.op, c.rhs);
  EXPECT_EQ(eval(e, row{{"m", c.lhs}}), std::optional<bool>(c.expected))
      << c.lhs << " " << to_string(c.op) << " " << c.rhs;
  EXPECT_EQ(eval(parse_ok(to_string(e)), row{{"m", c.lhs}}), std::optional<bool>(c.expected))
      << to_string(e) << " with m=" << c.lhs;
}

const double kAbove5 = std::nextafter(5.0, 10.0);
const double kBelow5 = std::nextafter(5.0, 0.0);

INSTANTIATE_TEST_SUITE_P(
    Boundaries, Compare,
    ::testing::Values(
        compare_case{5, cmp_op::gt, 5, false}, compare_case{kAbove5, cmp_op::gt, 5, true},
        compare_case{kBelow5, cmp_op::gt, 5, false}, compare_case{5, cmp_op::ge, 5, true},
        compare_case{kAbove5, cmp_op::ge, 5, true}, compare_case{kBelow5, cmp_op::ge, 5, false},
        compare_case{5, cmp_op::lt, 5, false}, compare_case{kBelow5, cmp_op::lt, 5, true},
        compare_case{kAbove5, cmp_op::lt, 5, false}, compare_case{5, cmp_op::le, 5, true},
        compare_case{kBelow5, cmp_op::le, 5, true}, compare_case{kAbove5, cmp_op::le, 5, false},
        compare_case{5, cmp_op::eq, 5, true}, compare_case{kAbove5, cmp_op::eq, 5, false},
        compare_case{kBelow5, cmp_op::eq, 5, false}, compare_case{5, cmp_op::ne, 5, false},
        compare_case{kAbove5, cmp_op::ne, 5, true}, compare_case{kBelow5, cmp_op::ne, 5, true},
        compare_case{-1, cmp_op::gt, -2, true}, compare_case{-2, cmp_op::gt, -1, false},
        compare_case{0.1 + 0.2, cmp_op::eq, 0.3, false},
        compare_case{0.1 + 0.2, cmp_op::gt, 0.3, true}, compare_case{-0.0, cmp_op::eq, 0, true},
        compare_case{-0.0, cmp_op::lt, 0, false}));

TEST(Evaluate, NaNValueComparesUnequalToEverything) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(eval("x > 1", {{"x", nan}}), false);
  EXPECT_EQ(eval("x <= 1", {{"x", nan}}), false);
  EXPECT_EQ(eval("x = 1", {{"x", nan}}), false);
  EXPECT_EQ(eval("x != 1", {{"x", nan}}), true);
}

TEST(Evaluate, CombinesWithAndOrNot) {
  const row r{{"a", 1}, {"b", 2}, {"c", 3}};
  EXPECT_EQ(eval("a = 1 AND b = 2", r), true);
  EXPECT_EQ(eval("a = 1 AND b = 3", r), false);
  EXPECT_EQ(eval("a = 0 AND b = 2", r), false);
  EXPECT_EQ(eval("a = 0 OR b = 2", r), true);
  EXPECT_EQ(eval("a = 1 OR b = 0", r), true);
  EXPECT_EQ(eval("a = 0 OR b = 0", r), false);
  EXPECT_EQ(eval("NOT a = 1", r), false);
  EXPECT_EQ(eval("NOT a = 0", r), true);
  EXPECT_EQ(eval("NOT NOT a = 1", r), true);
  // Precedence shows in results: NOT applies to the first comparison only...
  EXPECT_EQ(eval("NOT a = 1 AND b = 5", r), false);
  EXPECT_EQ(eval("NOT a = 1 OR b = 2", r), true);
  EXPECT_EQ(eval("NOT (a = 1 AND b = 5)", r), true);
  // ...and AND binds tighter than OR.
  EXPECT_EQ(eval("a = 1 OR b = 0 AND c = 0", r), true);  // a=1 OR (false)
  EXPECT_EQ(eval("(a = 1 OR b = 0) AND c = 0", r), false);
  EXPECT_EQ(eval("a = 0 AND b = 0 OR c = 3", r), true);  // (false) OR c=3
  EXPECT_EQ(eval("a = 0 AND (b = 0 OR c = 3)", r), false);
  EXPECT_EQ(eval("a < 2 AND b >= 2 AND c != 4 AND NOT c <= 2", r), true);
}

TEST(Evaluate, MissingMetricIsUnknown) {
  const row r{{"a", 1}};
  EXPECT_EQ(eval("b > 0", r), std::nullopt);
  EXPECT_EQ(eval("NOT b > 0", r), std::nullopt);
  // Even when the known part already decides the answer, the row cannot be judged.
  EXPECT_EQ(eval("a = 1 OR b > 0", r), std::nullopt);
  EXPECT_EQ(eval("b > 0 OR a = 1", r), std::nullopt);
  EXPECT_EQ(eval("a = 0 AND b > 0", r), std::nullopt);
  EXPECT_EQ(eval("b > 0 AND a = 0", r), std::nullopt);
  EXPECT_EQ(eval("a = 1 OR (a = 1 AND NOT (a = 1 OR b = 0))", r), std::nullopt);
  EXPECT_EQ(eval("a = 1", row{}), std::nullopt);
  // The metric name match is exact (case-sensitive).
  EXPECT_EQ(eval("A = 1", r), std::nullopt);
}

TEST(Evaluate, LooksUpEveryMetricItReads) {
  expr e = parse_ok("a = 1 OR (b > 2 AND NOT c < 3)");
  std::vector<std::string> asked;
  std::optional<bool> result = evaluate(e, [&asked](std::string_view m) -> std::optional<double> {
    asked.emplace_back(m);
    return 1.0;
  });
  EXPECT_EQ(result, true);
  EXPECT_EQ(asked, (std::vector<std::string>{"a", "b", "c"}));
}

}  // namespace
}  // namespace qoewatch::rules
