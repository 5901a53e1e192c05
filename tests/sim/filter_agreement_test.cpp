// Differential test, hand-written cases: the daemon's qoefilter and filter parser and evaluator
// (daemon/core/rules) against the simulator's own (sim/core/filter_eval). Both read the same
// texts and judge the same rows: they must accept and refuse the same texts and give the same
// answer on every row; where a case says what the answer is, both must give it.
// (filter_agreement_random_test.cpp does the same with generated texts and rows.)
#include "filter_agreement.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <boost/json/value.hpp>

#include "core/session.hpp"
#include "fetch/page.hpp"

namespace {

using namespace filter_agreement;

// ---- hand-written conditions ----

const std::vector<metric_row>& metric_rows() {
  static const std::vector<metric_row> rows = {
      {},
      {{"a", 1}, {"b", 2}, {"c", 3}},
      {{"a", 0}, {"b", 0}, {"c", 0}},
      {{"a", -0.0}, {"b", 0.1 + 0.2}, {"c", 1e21}},
      {{"a", 1}},
      {{"a", 3}, {"b", 3}},
      {{"a", std::nextafter(1.0, 2.0)}, {"b", std::nextafter(1.0, 0.0)}, {"c", 1}},
      {{"latency", 5}, {"bufferingratio", 5}, {"ANDROID", 1}, {"NOTE", 2}, {"ORx", 3}},
      {{"a", -1}, {"b", -2.5}, {"c", std::numeric_limits<double>::max()}},
      {{"a", std::numeric_limits<double>::quiet_NaN()}, {"b", 1}, {"c", 1}},
      {{"A", 1}, {"B", 2}, {"C", 3}},
  };
  return rows;
}

std::string repeat(std::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

TEST(FilterAgreement, ConditionsBothAcceptOrBothRefuse) {
  struct acceptance {
    std::string text;
    bool accepted;
  };
  const std::vector<acceptance> cases = {
      // accepted
      {"a>1", true},
      {" a > 1 ", true},
      {"\ta>1\n", true},
      {"a>1\r\nAND b>2", true},
      {"A>1", true},
      {"a>1 and b>2", true},
      {"a>1 AnD b>2 oR c>3", true},
      {"nOt a>1", true},
      {"a>=1", true},
      {"a<=1", true},
      {"a<1", true},
      {"a=1", true},
      {"a==1", true},
      {"a!=1", true},
      {"a>-1", true},
      {"a>+1", true},
      {"a>.5", true},
      {"a>5.", true},
      {"a>-.5", true},
      {"a>1e3", true},
      {"a>1E+3", true},
      {"a>1e-3", true},
      {"a>00012", true},
      {"a>5AND b>1", true},
      {"a>5e2AND b>1", true},
      {"(a>1)", true},
      {"((a>1))", true},
      {"NOT NOT a>1", true},
      {"NOT(a>1)", true},
      {"a>1 AND (b>2 OR c>3)", true},
      {"(a>1)AND(b>2)", true},
      {"a_b2>1", true},
      {"_x>1", true},
      {"ANDROID>1", true},
      {"ORx>1", true},
      {"NOTE>1", true},
      {"NOT5>1", true},
      {"NOT NOTE>1", true},
      {"a>0.30000000000000004", true},
      {"a>1.7976931348623157e308", true},
      {"a>4.9e-324", true},
      {repeat("NOT ", 100) + "a>1", true},
      {repeat("(", 100) + "a>1" + repeat(")", 100), true},
      {repeat("NOT (", 50) + "a>1" + repeat(")", 50), true},
      {"a>1" + repeat(" AND a>1", 3000), true},
      {repeat("(a>1) OR ", 500) + "(a>2)", true},
      // refused
      {"", false},
      {" ", false},
      {"\t\r\n", false},
      {"a", false},
      {"a>", false},
      {">1", false},
      {"1>a", false},
      {"a>b", false},
      {"a>>1", false},
      {"a=>1", false},
      {"a<>1", false},
      {"a>==1", false},
      {"a===1", false},
      {"a!1", false},
      {"a!", false},
      {"a> =1", false},
      {"a>=1 AND", false},
      {"AND a>1", false},
      {"a>1 AND AND b>2", false},
      {"a>1 OR", false},
      {"NOT", false},
      {"NOT a", false},
      {"(a>1", false},
      {"a>1)", false},
      {"()", false},
      {"(a>1))", false},
      {"((a>1)", false},
      {"a>1 b>2", false},
      {"a>1 NOT b>2", false},
      {"a>1e999", false},
      {"a>-1e999", false},
      {"a>1.2.3", false},
      {"a>--1", false},
      {"a>+-1", false},
      {"a>.", false},
      {"a>-", false},
      {"a>1x", false},
      {"a>5e", false},
      {"a>5e+", false},
      {"a>5eAND b>1", false},
      {"a>0x10", false},
      {"a>inf", false},
      {"a>nan", false},
      {"a>1,5", false},
      {"a \u2265 1", false},
      {"a\u00a0>1", false},
      {"a>1;", false},
      {"a.b>1", false},
      {"a-b>1", false},
      {"AND>1", false},
      {"or>1", false},
      {"not>1", false},
      {"a>1 && b>2", false},
      {"a>1 || b>2", false},
      {"!a>1", false},
      {"a>'1'", false},
      {"a>\"1\"", false},
      {"a\v>1", false},
      {"a\f>1", false},
      {"a>1ANDb>2", false},
      {"NOTa>1", true},  // the metric NOTa
      {"a>1 AND\u00e9>2", false},
      {repeat("NOT ", 101) + "a>1", false},
      {repeat("(", 101) + "a>1" + repeat(")", 101), false},
      {repeat("NOT (", 50) + "NOT a>1" + repeat(")", 50), false},
  };
  for (const acceptance& c : cases) {
    condition_pair p(c.text);
    EXPECT_EQ(p.daemon.has_value(), c.accepted) << "daemon on \"" << c.text << "\"";
    EXPECT_EQ(p.simulator.has_value(), c.accepted) << "simulator on \"" << c.text << "\"";
    expect_agreement<condition_pair>(c.text, metric_rows(), "table");
  }
}

TEST(FilterAgreement, ConditionsGiveTheExpectedAnswerOnBothSides) {
  struct judged {
    std::string text;
    metric_row row;
    answer expected;
  };
  const metric_row a1b0c0 = {{"a", 1}, {"b", 0}, {"c", 0}};
  const std::vector<judged> cases = {
      // AND binds tighter than OR, NOT tighter than both; parentheses regroup.
      {"a>0 OR b>0 AND c>0", a1b0c0, answer::match},
      {"(a>0 OR b>0) AND c>0", a1b0c0, answer::no_match},
      {"b>0 AND c>0 OR a>0", a1b0c0, answer::match},
      {"b>0 AND (c>0 OR a>0)", a1b0c0, answer::no_match},
      {"NOT b>0 AND c>0", a1b0c0, answer::no_match},
      {"NOT (b>0 AND c>0)", a1b0c0, answer::match},
      {"NOT a>0 OR a>0", a1b0c0, answer::match},
      {"NOT (a>0 OR a>0)", a1b0c0, answer::no_match},
      {"not not a>0", a1b0c0, answer::match},
      {"a>0 and b>0 OR c=0", a1b0c0, answer::match},
      // Each relation at its boundary, and just past it.
      {"a>1", {{"a", 1}}, answer::no_match},
      {"a>1", {{"a", std::nextafter(1.0, 2.0)}}, answer::match},
      {"a>=1", {{"a", 1}}, answer::match},
      {"a>=1", {{"a", std::nextafter(1.0, 0.0)}}, answer::no_match},
      {"a<1", {{"a", 1}}, answer::no_match},
      {"a<=1", {{"a", 1}}, answer::match},
      {"a=1", {{"a", 1}}, answer::match},
      {"a==1.000", {{"a", 1}}, answer::match},
      {"a!=1", {{"a", 1}}, answer::no_match},
      {"a=0", {{"a", -0.0}}, answer::match},
      {"a>-0", {{"a", 0}}, answer::no_match},
      {"a=0.3", {{"a", 0.1 + 0.2}}, answer::no_match},
      {"a=0.30000000000000004", {{"a", 0.1 + 0.2}}, answer::match},
      {"a=+25e-1", {{"a", 2.5}}, answer::match},
      {"a>1e21", {{"a", 1e21}}, answer::no_match},
      {"a!=1", {{"a", std::numeric_limits<double>::quiet_NaN()}}, answer::match},
      {"a=1", {{"a", std::numeric_limits<double>::quiet_NaN()}}, answer::no_match},
      // A missing metric anywhere: the row cannot be judged, whatever the rest says.
      {"a>0 OR z>0", a1b0c0, answer::unjudged},
      {"NOT z>0", a1b0c0, answer::unjudged},
      {"b>0 AND z>0", a1b0c0, answer::unjudged},
      {"A>0", a1b0c0, answer::unjudged},
      {"a>0", {}, answer::unjudged},
      // Names that begin like keywords.
      {"ANDROID>0 AND NOTE>0 AND ORx>0", {{"ANDROID", 1}, {"NOTE", 1}, {"ORx", 1}}, answer::match},
      {"NOT NOTE>0", {{"NOTE", 1}}, answer::no_match},
  };
  for (const judged& c : cases) {
    condition_pair p(c.text);
    EXPECT_EQ(name_of(p.daemon_answer(c.row)), std::string(name_of(c.expected)))
        << "daemon on \"" << c.text << "\" " << show(c.row);
    EXPECT_EQ(name_of(p.sim_answer(c.row)), std::string(name_of(c.expected)))
        << "simulator on \"" << c.text << "\" " << show(c.row);
  }
}

// A row value as text (the API may send numbers as strings): the simulator's reading
// (session.cpp number_of) against the daemon's (fetch::to_number), then the same condition.
//
// KNOWN DISAGREEMENT, left for a decision rather than hidden: the daemon reads a numeric
// string with surrounding spaces or tabs, or a leading '+', as its number; the simulator
// (deliberately, since its first version) does not, so it leaves such a row out of a qoefilter
// the daemon's own evaluation would count it in. The daemon also reads "+-1" as -1 (it drops
// a '+' and then accepts the sign that follows), which no reading should. The split is pinned
// below: when the two are aligned, this test says so and the texts move to `agreed`.
TEST(FilterAgreement, NumericStringsReadTheSame) {
  const std::vector<std::string> agreed = {
      "7.4", "7",   "-0",  "0",     "1e3",  "1E-2", ".5",    "5.",      "-7.4", "3",    "3.0",
      "",    "nan", "inf", "-inf",  "0x10", "7.4s", "seven", "1e999",   "7,4",  "1 2",  "- 1",
      " ",   "e5",  "1e",  "1.2.3", "--1",  "NaN",  "-.5",   "00003.5", "+inf", " nan "};
  const std::vector<std::string> disagreed = {" 7.4", "7.4 ",   "\t7.4", "+7.4",
                                              "+3",   " 0.5\t", "+-1",   "+-7.4"};
  condition_pair p("latency > 3");
  auto readings = [&p](const std::string& t) {
    boost::json::value v = boost::json::string(t);
    std::optional<double> s = sim::number_of(sim::field{&v});
    std::optional<double> d = qoewatch::fetch::to_number(t);
    metric_row ds, ss;
    if (d) ds["latency"] = *d;
    if (s) ss["latency"] = *s;
    return std::make_tuple(s, d, p.sim_answer(ss), p.daemon_answer(ds));
  };
  for (const std::string& t : agreed) {
    auto [s, d, sim_answer, daemon_answer] = readings(t);
    EXPECT_EQ(s.has_value(), d.has_value()) << "\"" << t << "\"";
    if (s && d) {
      EXPECT_EQ(*s, *d) << "\"" << t << "\"";
    }
    EXPECT_EQ(name_of(daemon_answer), std::string(name_of(sim_answer))) << "\"" << t << "\"";
  }
  for (const std::string& t : disagreed) {
    auto [s, d, sim_answer, daemon_answer] = readings(t);
    EXPECT_FALSE(s.has_value()) << "\"" << t << "\": the simulator now reads it; move it to agreed";
    EXPECT_TRUE(d.has_value()) << "\"" << t
                               << "\": the daemon no longer reads it; move it to agreed";
  }
}

// ---- hand-written dimension filters ----

const std::vector<dimension_row>& dimension_rows() {
  static const std::vector<dimension_row> rows = {
      {},
      {{"country", "US"}, {"cdn", "edgeB"}, {"city", "San Jose"}},
      {{"country", "Canada"}, {"cdn", "edgeA"}, {"city", "S\u00e3o Paulo"}},
      {{"country", "us"}, {"cdn", "edgeB "}, {"assetid", "123"}},
      {{"country", " US"}, {"assetid", "7.5"}, {"formula", "a=b"}},
      {{"country", ""}, {"cdn", "edge B"}, {"city", "San  Jose"}},
  };
  return rows;
}

TEST(FilterAgreement, DimensionFiltersAgree) {
  struct acceptance {
    std::string text;
    bool accepted;
  };
  const std::vector<acceptance> cases = {
      {"", true},
      {" \t ", true},
      {"[country=US]", true},
      {"[country=US|Canada]", true},
      {"[country=US|Canada][cdn=edgeB]", true},
      {" [ country = US | Canada ] ", true},
      {"[country=US] [cdn=edgeB]\t", true},
      {"[city=San Jose]", true},
      {"[city=S\u00e3o Paulo|San Jose]", true},
      {"[formula=a=b]", true},
      {"[assetid=123|7.5]", true},
      {"[country=us]", true},
      {"[country=US][country=Canada]", true},
      {"[_x1=US]", true},
      {"[cdn=edge B]", true},
      {"[cdn=edgeB\t]", true},
      {"[city=San\nJose]", true},
      // refused
      {"country=US", false},
      {"[country=US", false},
      {"[country=US]]", false},
      {"[country=US][", false},
      {"[=US]", false},
      {"[9=US]", false},
      {"[country US]", false},
      {"[country]", false},
      {"[country=]", false},
      {"[country= ]", false},
      {"[country=US|]", false},
      {"[country=|US]", false},
      {"[country=US||UK]", false},
      {"[country=US[cdn=a]]", false},
      {"[country=US]\n", false},
      {"\n[country=US]", false},
      {"[coun try=US]", false},
      {"[country-x=US]", false},
      {"[\u00e9=US]", false},
      {"[country=US],[cdn=a]", false},
      {"[country=US]x", false},
  };
  for (const acceptance& c : cases) {
    filter_pair p(c.text);
    EXPECT_EQ(p.daemon.has_value(), c.accepted) << "daemon on \"" << c.text << "\"";
    EXPECT_EQ(p.simulator.has_value(), c.accepted) << "simulator on \"" << c.text << "\"";
    expect_agreement<filter_pair>(c.text, dimension_rows(), "table");
  }
  // Spot answers, so agreement cannot hide a shared mistake in these.
  const dimension_row us = dimension_rows()[1];
  EXPECT_EQ(filter_pair("[country=Canada|US][cdn=edgeB]").sim_answer(us), answer::match);
  EXPECT_EQ(filter_pair("[country=Canada|US][cdn=edgeA]").sim_answer(us), answer::no_match);
  EXPECT_EQ(filter_pair("[ city = San Jose ]").daemon_answer(us), answer::match);
  EXPECT_EQ(filter_pair("[platform=Android]").daemon_answer(us), answer::no_match);
}

}  // namespace
