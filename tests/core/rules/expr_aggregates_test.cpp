// The qoefilter grammar in aggregates mode (a population rule's when/resolve_when): operands
// `name(metric)`, numbers written as percentages, where each operand stands, and the errors
// of both; and that outside that mode neither is accepted. expr_test.cpp covers the rest of
// the language.
#include "rules/expr.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qoewatch::rules {

static void PrintTo(const expr& e, std::ostream* os) {
  *os << "expr{" << to_string(e) << "}";
}

namespace {

constexpr parse_options aggregates{.aggregates = true};

expr parse_ok(std::string_view text) {
  parse_result r = parse(text, aggregates);
  EXPECT_TRUE(r) << "text: \"" << text << "\" failed at column " << r.error.column << ": "
                 << r.error.message;
  return r ? *r.value : expr{};
}

std::string operands_of(std::string_view text) {
  parse_result r = parse(text, aggregates);
  std::string out;
  for (const operand_use& u : r.operands)
    out += u.operand + "@" + std::to_string(u.column) + ":" + std::to_string(u.value_column) +
           (u.percent ? "%" : "") + " ";
  return out;
}

}  // namespace

TEST(ParseAggregates, ReadsNameOfMetricAsOneOperand) {
  EXPECT_EQ(parse_ok("p95(latency) > 4"), expr::make_compare("p95(latency)", cmp_op::gt, 4));
  EXPECT_EQ(parse_ok("p95( latency ) >= 4"), expr::make_compare("p95(latency)", cmp_op::ge, 4))
      << "spaces inside the parentheses are not part of the operand";
  EXPECT_EQ(parse_ok("sessions >= 200"), expr::make_compare("sessions", cmp_op::ge, 200));
  EXPECT_EQ(
      parse_ok("ratio > 10% AND (avg(latency) > 3 OR NOT max(errors) = 0)"),
      expr::make_and(
          {expr::make_compare("ratio", cmp_op::gt, 0.1),
           expr::make_or({expr::make_compare("avg(latency)", cmp_op::gt, 3),
                          expr::make_not(expr::make_compare("max(errors)", cmp_op::eq, 0))})}));
  EXPECT_EQ(metrics_of(parse_ok("p95(latency) > 4 AND ratio > 1% AND p95(latency) < 9")),
            (std::vector<std::string>{"p95(latency)", "ratio"}));
}

TEST(ParseAggregates, APercentageIsAHundredthOfItsNumber) {
  struct row {
    const char* text;
    double value;
  };
  const row rows[] = {{"ratio > 10%", 0.1},  {"ratio > 10 %", 0.1}, {"ratio > 2.5%", 0.025},
                      {"ratio >= 0%", 0},    {"ratio <= 100%", 1},  {"ratio > 0.5%", 0.005},
                      {"ratio < 1e1%", 0.1}, {"ratio > 0.1", 0.1}};
  for (const row& r : rows) EXPECT_EQ(parse_ok(r.text).cmp.value, r.value) << r.text;
  // Printed as the fraction it means, which reads back the same.
  const expr e = parse_ok("ratio > 10% AND ratio < 2.5%");
  EXPECT_EQ(to_string(e), "ratio > 0.1 AND ratio < 0.025");
  EXPECT_EQ(parse_ok(to_string(e)), e);
}

TEST(ParseAggregates, ListsWhereEachComparisonStandsInTextOrder) {
  EXPECT_EQ(operands_of("ratio > 10% AND p95(latency) > 4"), "ratio@1:9% p95(latency)@17:32 ");
  EXPECT_EQ(operands_of("(sessions>=200)OR NOT p95( latency )<3"),
            "sessions@2:12 p95(latency)@23:38 ");
  EXPECT_EQ(operands_of("ratio > 10% AND"), "") << "none when the text does not parse";
}

TEST(ParseAggregates, ErrorsNameTheColumnAndWhatIsRight) {
  struct row {
    const char* text;
    std::size_t column;
    const char* message;
  };
  const row rows[] = {
      {"p95(latency > 4", 13, "expected ')' after p95(latency, found '>'"},
      {"p95(latency", 4, "expected ')' after p95(latency, found end of text"},
      {"p95() > 4", 5, "expected a metric name inside p95( ), found ')'"},
      {"p95(4) > 4", 5, "expected a metric name inside p95( ), found '4'"},
      {"10% < ratio", 1,
       "expected an aggregate (sessions, offending, ratio, p95(latency), ...) before '10' (the "
       "operand comes first: ratio > 10%)"},
      {"ratio > 10% AND", 16,
       "expected an aggregate (sessions, offending, ratio, p95(latency), ...), found end of "
       "text"},
      {"ratio > %", 9, "expected a number after '>', found '%'"},
      {"ratio > 10%%", 12, "expected AND, OR or end of condition, found '%'"},
      {"ratio % > 1", 7, "expected one of > >= < <= = != after 'ratio', found '%'"},
      {"p95(latency)(x) > 1", 13, "expected one of > >= < <= = != after 'p95(latency)', found '('"},
  };
  for (const row& r : rows) {
    parse_result got = parse(r.text, aggregates);
    EXPECT_FALSE(got) << r.text;
    EXPECT_EQ(got.error.column, r.column) << r.text;
    EXPECT_EQ(got.error.message, r.message) << r.text;
  }
}

TEST(ParseAggregates, OutsideAggregatesModeNeitherIsAccepted) {
  parse_result percent = parse("latency > 10%");
  EXPECT_FALSE(percent);
  EXPECT_EQ(percent.error.column, 13u);
  EXPECT_EQ(percent.error.message,
            "a percentage is understood only in a population rule's when/resolve_when; here "
            "write the metric's own number");
  parse_result call = parse("p95(latency) > 4");
  EXPECT_FALSE(call);
  EXPECT_EQ(call.error.column, 4u);
  EXPECT_EQ(call.error.message, "expected one of > >= < <= = != after 'p95', found '('");
  // Per-session messages still speak of metrics.
  EXPECT_EQ(parse("5 < latency").error.message,
            "expected a metric name before '5' (the metric comes first: latency > 5)");
}

TEST(ParseAggregates, EvaluatesOnAGroupsFigures) {
  const expr when = parse_ok("ratio > 10% AND p95(latency) > 4");
  auto lookup = [](double ratio, std::optional<double> p95) {
    return [=](std::string_view operand) -> std::optional<double> {
      if (operand == "ratio") return ratio;
      if (operand == "p95(latency)") return p95;
      return std::nullopt;
    };
  };
  EXPECT_EQ(evaluate(when, lookup(0.31, 4.7)), true);
  EXPECT_EQ(evaluate(when, lookup(0.1, 4.7)), false) << "10% is not over 10%";
  EXPECT_EQ(evaluate(when, lookup(0.31, 4)), false);
  EXPECT_EQ(evaluate(when, lookup(0.31, std::nullopt)), std::nullopt)
      << "no session carried the metric: the condition cannot be judged";
}

}  // namespace qoewatch::rules
