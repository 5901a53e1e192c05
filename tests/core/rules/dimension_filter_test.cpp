// SmartSight dimension filters: `[country=US|Canada][platform=Android]`.
#include "rules/dimension_filter.hpp"

#include <gtest/gtest.h>

#include <array>
#include <map>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace qoewatch::rules {

static void PrintTo(const dimension_filter& f, std::ostream* os) {
  *os << "filter{";
  for (const dimension_group& g : f.groups) {
    *os << "[" << g.dimension << "=";
    for (std::size_t i = 0; i < g.values.size(); ++i)
      *os << (i ? "|" : "") << "'" << g.values[i] << "'";
    *os << "]";
  }
  *os << "}";
}

namespace {

dimension_filter filter(std::vector<dimension_group> groups) {
  return dimension_filter{std::move(groups)};
}

dimension_filter parse_ok(std::string_view text) {
  dimension_filter_result r = parse_dimension_filter(text);
  EXPECT_TRUE(r) << "text: \"" << text << "\" failed at column " << r.column << ": " << r.message;
  return r ? *r.value : dimension_filter{};
}

// ---- valid filters ----

struct valid_case {
  const char* text;
  dimension_filter expected;
};

void PrintTo(const valid_case& c, std::ostream* os) {
  *os << "\"" << c.text << "\"";
}

class ParseDimensionFilterValid : public ::testing::TestWithParam<valid_case> {};

TEST_P(ParseDimensionFilterValid, BuildsGroups) {
  EXPECT_EQ(parse_ok(GetParam().text), GetParam().expected)
      << "text: \"" << GetParam().text << "\"";
}

INSTANTIATE_TEST_SUITE_P(
    Forms, ParseDimensionFilterValid,
    ::testing::Values(
        valid_case{"", filter({})}, valid_case{"   ", filter({})}, valid_case{" \t ", filter({})},
        valid_case{"[country=US]", filter({{"country", {"US"}}})},
        valid_case{"[country=US|Canada]", filter({{"country", {"US", "Canada"}}})},
        valid_case{"[country=US|Canada][platform=Android]",
                   filter({{"country", {"US", "Canada"}}, {"platform", {"Android"}}})},
        valid_case{"[a=1|2|3|4]", filter({{"a", {"1", "2", "3", "4"}}})},
        // Spaces around names, values, separators and groups are ignored.
        valid_case{"  [ country = US | Canada ]  [\tplatform\t=\tAndroid\t]  ",
                   filter({{"country", {"US", "Canada"}}, {"platform", {"Android"}}})},
        // Inner spaces of a value are kept.
        valid_case{"[city=New York|  Los  Angeles ]",
                   filter({{"city", {"New York", "Los  Angeles"}}})},
        // Values are any text without [ ] |, including = and non-ASCII.
        valid_case{"[query=a=b]", filter({{"query", {"a=b"}}})},
        valid_case{"[city=Z\xC3\xBCrich|S\xC3\xA3o Paulo]",
                   filter({{"city", {"Z\xC3\xBCrich", "S\xC3\xA3o Paulo"}}})},
        valid_case{"[v=1.2.3-beta+x]", filter({{"v", {"1.2.3-beta+x"}}})},
        // Dimension names are identifiers.
        valid_case{"[_x9=a][Device_Type=TV]", filter({{"_x9", {"a"}}, {"Device_Type", {"TV"}}})},
        // Repeats are kept as written.
        valid_case{"[a=b][a=c]", filter({{"a", {"b"}}, {"a", {"c"}}})},
        valid_case{"[a=b|b]", filter({{"a", {"b", "b"}}})}));

// ---- errors ----

struct error_case {
  const char* text;
  std::size_t column;
  const char* message;
};

void PrintTo(const error_case& c, std::ostream* os) {
  *os << "\"" << c.text << "\"";
}

class ParseDimensionFilterError : public ::testing::TestWithParam<error_case> {};

TEST_P(ParseDimensionFilterError, ReportsColumnAndMessage) {
  const error_case& c = GetParam();
  dimension_filter_result r = parse_dimension_filter(c.text);
  ASSERT_FALSE(r) << "text: \"" << c.text << "\" parsed";
  EXPECT_FALSE(r.value.has_value());
  EXPECT_EQ(r.message, c.message) << "text: \"" << c.text << "\"";
  EXPECT_EQ(r.column, c.column) << "text: \"" << c.text << "\"";
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, ParseDimensionFilterError,
    ::testing::Values(
        error_case{"[country=US", 1, "'[' is never closed"},
        error_case{"  [country=US|Canada", 3, "'[' is never closed"},
        error_case{"[a=b][c=d", 6, "'[' is never closed"},
        error_case{"country=US", 1,
                   "expected '[' to open a group, found 'c' (write [dimension=value|value])"},
        error_case{"[a=b] x", 7,
                   "expected '[' to open a group, found 'x' (write [dimension=value|value])"},
        error_case{"[a=b]]", 6,
                   "expected '[' to open a group, found ']' (write [dimension=value|value])"},
        error_case{
            "\xC3\xA9", 1,
            "expected '[' to open a group, found '\xC3\xA9' (write [dimension=value|value])"},
        error_case{"[=US]", 2, "expected a dimension name after '['"},
        error_case{"[ =US]", 3, "expected a dimension name after '['"},
        error_case{"[1a=b]", 2, "expected a dimension name after '['"},
        error_case{"[", 2, "expected a dimension name after '['"},
        error_case{"[a=b][", 7, "expected a dimension name after '['"},
        error_case{"[country]", 9, "expected '=' after dimension 'country'"},
        error_case{"[country", 9, "expected '=' after dimension 'country'"},
        error_case{"[country US]", 10, "expected '=' after dimension 'country'"},
        error_case{"[a-b=c]", 3, "expected '=' after dimension 'a'"},
        error_case{"[country=]", 10, "empty value for dimension 'country'"},
        error_case{"[country=  ]", 10, "empty value for dimension 'country'"},
        error_case{"[country=US|]", 13, "empty value for dimension 'country'"},
        error_case{"[country=|US]", 10, "empty value for dimension 'country'"},
        error_case{"[country=US||Canada]", 13, "empty value for dimension 'country'"},
        error_case{"[a=b|[c]", 6, "'[' inside a group (close the group with ']' first)"},
        error_case{"[a=b[c=d]", 5, "'[' inside a group (close the group with ']' first)"},
        // Columns count characters: the two-byte u-umlaut is one column.
        error_case{"[city=Z\xC3\xBCrich][=x]", 15, "expected a dimension name after '['"},
        error_case{"[city=Z\xC3\xBCrich|]", 14, "empty value for dimension 'city'"}));

// ---- matches ----

using session = std::map<std::string, std::string, std::less<>>;

bool matches_session(const dimension_filter& f, const session& s) {
  return matches(f, [&s](std::string_view dimension) -> std::optional<std::string_view> {
    auto it = s.find(dimension);
    if (it == s.end()) return std::nullopt;
    return std::string_view{it->second};
  });
}

bool matches_session(std::string_view text, const session& s) {
  return matches_session(parse_ok(text), s);
}

TEST(DimensionFilterMatches, EmptyFilterMatchesEverything) {
  EXPECT_TRUE(matches_session("", session{}));
  EXPECT_TRUE(matches_session("  ", session{{"country", "US"}}));
}

TEST(DimensionFilterMatches, SingleGroupNeedsAnEqualValue) {
  EXPECT_TRUE(matches_session("[country=US]", {{"country", "US"}}));
  EXPECT_FALSE(matches_session("[country=US]", {{"country", "Canada"}}));
  // Exact, case-sensitive comparison; no prefix matching.
  EXPECT_FALSE(matches_session("[country=US]", {{"country", "us"}}));
  EXPECT_FALSE(matches_session("[country=US]", {{"country", "USA"}}));
  EXPECT_FALSE(matches_session("[country=USA]", {{"country", "US"}}));
  EXPECT_FALSE(matches_session("[country=US]", {{"country", ""}}));
  // The dimension name is matched exactly too.
  EXPECT_FALSE(matches_session("[Country=US]", {{"country", "US"}}));
}

TEST(DimensionFilterMatches, MissingDimensionFailsTheGroup) {
  EXPECT_FALSE(matches_session("[country=US]", session{}));
  EXPECT_FALSE(matches_session("[country=US]", {{"platform", "US"}}));
}

TEST(DimensionFilterMatches, ValuesWithinAGroupAreAlternatives) {
  const char* f = "[country=US|Canada|Mexico]";
  EXPECT_TRUE(matches_session(f, {{"country", "US"}}));
  EXPECT_TRUE(matches_session(f, {{"country", "Canada"}}));
  EXPECT_TRUE(matches_session(f, {{"country", "Mexico"}}));
  EXPECT_FALSE(matches_session(f, {{"country", "Brazil"}}));
  EXPECT_FALSE(matches_session(f, {{"country", "US|Canada"}}));
}

TEST(DimensionFilterMatches, GroupsMustAllMatch) {
  const char* f = "[country=US|Canada][platform=Android]";
  EXPECT_TRUE(matches_session(f, {{"country", "Canada"}, {"platform", "Android"}}));
  EXPECT_FALSE(matches_session(f, {{"country", "Canada"}, {"platform", "iOS"}}));
  EXPECT_FALSE(matches_session(f, {{"country", "Brazil"}, {"platform", "Android"}}));
  EXPECT_FALSE(matches_session(f, {{"country", "US"}}));
  EXPECT_FALSE(matches_session(f, {{"platform", "Android"}}));
  // Extra dimensions on the session do not matter.
  EXPECT_TRUE(matches_session(f, {{"country", "US"}, {"platform", "Android"}, {"cdn", "x"}}));
}

TEST(DimensionFilterMatches, ComparesTrimmedValues) {
  EXPECT_TRUE(matches_session("[city= New York ]", {{"city", "New York"}}));
  EXPECT_FALSE(matches_session("[city= New York ]", {{"city", " New York "}}));
  EXPECT_TRUE(matches_session("[city=Z\xC3\xBCrich]", {{"city", "Z\xC3\xBCrich"}}));
}

TEST(DimensionFilterMatches, RepeatedDimensionNeedsBothGroups) {
  EXPECT_FALSE(matches_session("[a=b][a=c]", {{"a", "b"}}));
  EXPECT_FALSE(matches_session("[a=b][a=c]", {{"a", "c"}}));
  EXPECT_TRUE(matches_session("[a=b|c][a=c|d]", {{"a", "c"}}));
}

// ---- generated filters ----

TEST(DimensionFilterProperty, WrittenFiltersParseBackWithRandomSpacing) {
  std::mt19937_64 rng(0xd1f11e);
  auto pick = [&rng](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };
  static const std::array<const char*, 5> names = {"country", "platform", "cdn", "_d1", "A"};
  static const std::array<const char*, 8> values = {"US",  "Canada", "New York",   "a=b",
                                                    "1.0", "x-y_z",  "S\xC3\xA3o", "!"};
  static const std::array<const char*, 4> spaces = {"", "", " ", " \t "};
  for (int i = 0; i < 500; ++i) {
    dimension_filter expected;
    std::string text = spaces[pick(spaces.size())];
    std::size_t groups = pick(4);
    for (std::size_t g = 0; g < groups; ++g) {
      dimension_group group{names[pick(names.size())], {}};
      text += std::string("[") + spaces[pick(spaces.size())] + group.dimension +
              spaces[pick(spaces.size())] + "=";
      std::size_t n = 1 + pick(3);
      for (std::size_t v = 0; v < n; ++v) {
        group.values.emplace_back(values[pick(values.size())]);
        if (v) text += "|";
        text += spaces[pick(spaces.size())] + group.values.back() + spaces[pick(spaces.size())];
      }
      text += std::string("]") + spaces[pick(spaces.size())];
      expected.groups.push_back(std::move(group));
    }
    dimension_filter_result r = parse_dimension_filter(text);
    ASSERT_TRUE(r) << "case " << i << ": \"" << text << "\" failed at column " << r.column << ": "
                   << r.message;
    ASSERT_EQ(*r.value, expected) << "case " << i << ": \"" << text << "\"";
  }
}

}  // namespace
}  // namespace qoewatch::rules
