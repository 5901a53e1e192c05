// The simulator's own qoefilter and filter evaluator: what it accepts, what it answers on a
// row, and the exact message and column for each kind of mistake. (Its agreement with the
// daemon's parser is tests/sim/filter_agreement_test.cpp.)
#include "core/filter_eval.hpp"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace qoewatch::sim;
using verdict = qoe_condition::verdict;

qoe_condition condition(std::string_view text) {
  auto c = qoe_condition::compile(text);
  if (const filter_error* e = std::get_if<filter_error>(&c)) {
    ADD_FAILURE() << "\"" << text << "\": column " << e->column << ": " << e->message;
    return std::get<qoe_condition>(qoe_condition::compile("never_used > 0"));
  }
  return std::get<qoe_condition>(std::move(c));
}

// The verdict on a row given as name -> value; names the row lacks are missing.
verdict judge(std::string_view text, const std::map<std::string, double>& row) {
  qoe_condition c = condition(text);
  std::vector<std::optional<double>> values;
  for (const std::string& name : c.names()) {
    auto it = row.find(name);
    values.push_back(it == row.end() ? std::nullopt : std::optional<double>(it->second));
  }
  return c.judge(values);
}

std::string condition_error(std::string_view text) {
  auto c = qoe_condition::compile(text);
  const filter_error* e = std::get_if<filter_error>(&c);
  if (!e) return "<accepted>";
  return std::to_string(e->column) + ": " + e->message;
}

std::string filter_error_of(std::string_view text) {
  auto f = dimension_match::compile(text);
  const filter_error* e = std::get_if<filter_error>(&f);
  if (!e) return "<accepted>";
  return std::to_string(e->column) + ": " + e->message;
}

bool accepts(std::string_view text, const std::map<std::string, std::string>& row) {
  auto f = dimension_match::compile(text);
  if (std::holds_alternative<filter_error>(f)) {
    ADD_FAILURE() << "\"" << text << "\" refused: " << std::get<filter_error>(f).message;
    return false;
  }
  const dimension_match& m = std::get<dimension_match>(f);
  std::vector<std::optional<std::string_view>> values;
  for (const std::string& name : m.names()) {
    auto it = row.find(name);
    values.push_back(it == row.end() ? std::nullopt : std::optional<std::string_view>(it->second));
  }
  return m.accepts(values);
}

TEST(FilterEval, FieldNames) {
  EXPECT_TRUE(is_field_name("latency"));
  EXPECT_TRUE(is_field_name("_x9"));
  EXPECT_TRUE(is_field_name("A"));
  EXPECT_FALSE(is_field_name(""));
  EXPECT_FALSE(is_field_name("9x"));
  EXPECT_FALSE(is_field_name("a-b"));
  EXPECT_FALSE(is_field_name("a b"));
}

TEST(FilterEval, ConditionVerdicts) {
  const std::map<std::string, double> row = {{"a", 1}, {"b", 0}, {"c", 0}};
  // AND binds tighter than OR; NOT tighter than both.
  EXPECT_EQ(judge("a>0 OR b>0 AND c>0", row), verdict::match);
  EXPECT_EQ(judge("(a>0 OR b>0) AND c>0", row), verdict::no_match);
  EXPECT_EQ(judge("NOT a>0 OR c=0", row), verdict::match);
  EXPECT_EQ(judge("NOT (a>0 OR c=0)", row), verdict::no_match);
  EXPECT_EQ(judge("NOT b>0 AND c>0", row), verdict::no_match);
  EXPECT_EQ(judge("not not a>0", row), verdict::match);
  EXPECT_EQ(judge("a>0 aNd b=0 Or c>5", row), verdict::match);
  // Each relation at its boundary.
  EXPECT_EQ(judge("a>1", row), verdict::no_match);
  EXPECT_EQ(judge("a>=1", row), verdict::match);
  EXPECT_EQ(judge("a<1", row), verdict::no_match);
  EXPECT_EQ(judge("a<=1", row), verdict::match);
  EXPECT_EQ(judge("a=1", row), verdict::match);
  EXPECT_EQ(judge("a==1.0", row), verdict::match);
  EXPECT_EQ(judge("a!=1", row), verdict::no_match);
  EXPECT_EQ(judge("a=+1e0", row), verdict::match);
  EXPECT_EQ(judge("b=-0", row), verdict::match);
  EXPECT_EQ(judge("a>.5 AND a<1.5 AND a>-5.", row), verdict::match);
  // A missing metric anywhere leaves the row unjudged, even where the rest decides.
  EXPECT_EQ(judge("a>0 OR z>0", row), verdict::unjudged);
  EXPECT_EQ(judge("NOT z>0", row), verdict::unjudged);
  EXPECT_EQ(judge("b>0 AND z>0", row), verdict::unjudged);
  EXPECT_EQ(judge("A>0", row), verdict::unjudged);  // names are case-sensitive
  // Names that start like keywords are names.
  EXPECT_EQ(judge("ANDROID>1 OR NOTE>1 OR ORx>1 OR NOT5>1",
                  {{"ANDROID", 0}, {"NOTE", 0}, {"ORx", 2}, {"NOT5", 0}}),
            verdict::match);
  // Blanks are optional between tokens that cannot run together.
  EXPECT_EQ(judge("(a>=1)AND(b<1)", row), verdict::match);
  EXPECT_EQ(judge("a>0AND\tb=0\r\nOR\nc>9", row), verdict::match);
}

TEST(FilterEval, ConditionNamesAreListedOnceInFirstAppearanceOrder) {
  EXPECT_EQ(condition("b>1 AND (a>2 OR b<0) AND NOT c=1 OR a>3").names(),
            (std::vector<std::string>{"b", "a", "c"}));
  // Too few values: unjudged, never out of bounds.
  EXPECT_EQ(condition("a>1 AND b>1").judge(std::vector<std::optional<double>>{1.5}),
            verdict::unjudged);
}

TEST(FilterEval, DeepAndLongConditions) {
  std::string deep = std::string(100, '(') + "a>1" + std::string(100, ')');
  EXPECT_EQ(judge(deep, {{"a", 2}}), verdict::match);
  std::string nots;
  for (int i = 0; i < 99; ++i) nots += "NOT ";
  EXPECT_EQ(judge(nots + "a>1", {{"a", 2}}), verdict::no_match);  // 99 NOTs
  EXPECT_EQ(condition_error("(" + deep + ")"),
            "101: more than 100 NOT and '(' open at once (simplify the condition)");
  // Pending values at every level of the deepest allowed nesting still fit the stack.
  std::string wide = "a>0";
  for (int i = 0; i < 100; ++i) wide = "a>0 OR a>0 AND (" + wide + ")";
  EXPECT_EQ(judge(wide, {{"a", 1}}), verdict::match);
  std::string chain = "a>0";
  for (int i = 0; i < 5000; ++i) chain += i % 2 ? " AND a>0" : " OR a<0";
  EXPECT_EQ(judge(chain, {{"a", 1}}), verdict::match);
}

TEST(FilterEval, ConditionMistakesNameTheColumn) {
  struct bad {
    std::string text;
    std::string error;
  };
  const std::vector<bad> cases = {
      {"", "1: no condition (write one such as latency > 5)"},
      {" \t\r\n", "5: no condition (write one such as latency > 5)"},
      {"latency",
       "8: expected a comparison (> >= < <= = !=) after 'latency', found the end of "
       "the text"},
      {"latency >", "10: '>' must be followed by a number, found the end of the text"},
      {"latency>>x", "9: '>' must be followed by a number, found '>'"},
      {"latency >= x", "12: '>=' must be followed by a number, found 'x'"},
      {"latency ! 3", "9: expected a comparison (> >= < <= = !=) after 'latency', found '!'"},
      {"latency \u2265 3",
       "9: expected a comparison (> >= < <= = !=) after 'latency', found '\u2265' (write >=)"},
      {"3 < latency",
       "1: a condition starts with the metric, then the number (latency > 5); found '3'"},
      {"latency > 3 AND", "16: expected a metric name, found the end of the text"},
      {"AND latency > 3", "1: expected a metric name, found 'AND'"},
      {"latency > 3 latency < 9",
       "13: expected AND, OR or the end of the condition, found 'latency'"},
      {"latency > 3x", "12: expected AND, OR or the end of the condition, found 'x'"},
      {"latency > 1.5.5", "14: expected AND, OR or the end of the condition, found '.5'"},
      {"(latency > 3", "1: '(' has no matching ')'"},
      {"(latency > 3 x", "14: expected AND, OR or ')', found 'x'"},
      {"latency > 3)", "12: ')' closes nothing"},
      {"()", "2: expected a metric name, found ')'"},
      {"latency > 1e999", "11: the number '1e999' is too large or too small for a double"},
      {"latency > -", "11: '>' must be followed by a number, found '-'"},
      {"latency > inf", "11: '>' must be followed by a number, found 'inf'"},
      {"pays\u00e9 > 3", "5: expected a comparison (> >= < <= = !=) after 'pays', found '\u00e9'"},
      {"\u00e9t\u00e9 > 3 OR", "1: expected a metric name, found '\u00e9'"},
      {"latency > 3 OR \u00e9", "16: expected a metric name, found '\u00e9'"},
  };
  for (const bad& c : cases) EXPECT_EQ(condition_error(c.text), c.error) << "\"" << c.text << "\"";
}

TEST(FilterEval, DimensionFilters) {
  const std::map<std::string, std::string> us = {
      {"country", "US"}, {"cdn", "edgeB"}, {"city", "San Jose"}, {"assetid", "123"}};
  EXPECT_TRUE(accepts("", us));
  EXPECT_TRUE(accepts(" \t", us));
  EXPECT_TRUE(accepts("[country=US|Canada]", us));
  EXPECT_TRUE(accepts("[country=Canada|US][cdn=edgeB]", us));
  EXPECT_FALSE(accepts("[country=Canada|US][cdn=edgeA]", us));
  EXPECT_FALSE(accepts("[country=us]", us));  // case-sensitive
  EXPECT_TRUE(accepts(" [ city = San Jose |Dallas ]\t[assetid=123] ", us));
  EXPECT_FALSE(accepts("[city=SanJose]", us));
  EXPECT_FALSE(accepts("[platform=Android]", us));  // the row lacks it
  EXPECT_FALSE(accepts("[country=US][country=Canada]", us));
  EXPECT_TRUE(accepts("[country=US][country=US|UK]", us));
  EXPECT_TRUE(accepts("[formula=a=b]", {{"formula", "a=b"}}));

  auto f = dimension_match::compile("[b=1][a=2][b=3]");
  ASSERT_TRUE(std::holds_alternative<dimension_match>(f));
  EXPECT_EQ(std::get<dimension_match>(f).names(), (std::vector<std::string>{"b", "a"}));
  EXPECT_FALSE(std::get<dimension_match>(f).empty());
}

TEST(FilterEval, DimensionFilterMistakesNameTheColumn) {
  struct bad {
    std::string text;
    std::string error;
  };
  const std::vector<bad> cases = {
      {"country=US", "1: a group starts with '[' (as in [country=US|Canada]), found 'c'"},
      {"[country=US] x", "14: a group starts with '[' (as in [country=US|Canada]), found 'x'"},
      {"[country=US", "1: '[' has no matching ']'"},
      {"[a=1][country=US", "6: '[' has no matching ']'"},
      {"[=US]", "2: a dimension name must follow '['"},
      {"[9x=US]", "2: a dimension name must follow '['"},
      {"[country US]", "10: '=' must follow the dimension name 'country'"},
      {"[country]", "9: '=' must follow the dimension name 'country'"},
      {"[country=]", "10: a value for dimension 'country' is empty"},
      {"[country=US|]", "13: a value for dimension 'country' is empty"},
      {"[country=US|| UK]", "13: a value for dimension 'country' is empty"},
      {"[country=US[cdn=a]", "12: a group cannot hold '[' (close it with ']' first)"},
      {"[city=S\u00e3o Paulo]]",
       "17: a group starts with '[' (as in [country=US|Canada]), "
       "found ']'"},
      {"\u00e9[a=1]", "1: a group starts with '[' (as in [country=US|Canada]), found '\u00e9'"},
  };
  for (const bad& c : cases) EXPECT_EQ(filter_error_of(c.text), c.error) << "\"" << c.text << "\"";
}

}  // namespace
