#include "silence/matcher.hpp"

#include <gtest/gtest.h>

namespace qoewatch::silence {
namespace {

matcher must(std::string_view text) {
  matcher_result r = parse_matcher(text);
  EXPECT_TRUE(r.ok) << text << ": " << r.error;
  return r.ok ? *r.ok : matcher{};
}

TEST(Matcher, TheFourTypesOnPresentAndMissingLabels) {
  const label_set edge_b{{"alertname", "cdn_rebuffering"}, {"cdn", "edgeB"}};
  const label_set no_cdn{{"alertname", "cdn_rebuffering"}};
  struct row {
    std::string_view text;
    bool on_edge_b;
    bool on_no_cdn;  // a missing label is the empty string
  };
  for (const row& r : {
           row{"cdn=edgeB", true, false},
           row{"cdn!=edgeB", false, true},
           row{"cdn=~edge.*", true, false},
           row{"cdn=~\"edge[AB]\"", true, false},
           row{"cdn!~\"edge.*\"", false, true},
           row{"cdn=\"\"", false, true},
           row{"cdn!=\"\"", true, false},
           row{"cdn=~\".*\"", true, true},
           row{"cdn=~\".+\"", true, false},
           row{"cdn=~edge", false, false},       // anchored: the whole value
           row{"cdn=~dgeB", false, false},       // anchored at the start too
           row{"cdn=~\"EDGEB\"", false, false},  // case-sensitive
           row{"cdn=~\"(?i)EDGEB\"", true, false},
       }) {
    const matcher m = must(r.text);
    EXPECT_EQ(m.matches(edge_b), r.on_edge_b) << r.text;
    EXPECT_EQ(m.matches(no_cdn), r.on_no_cdn) << r.text;
  }
}

TEST(Matcher, FilterTextFormsAmtoolSends) {
  struct row {
    std::string_view text;
    std::string_view name, op, value;
  };
  for (const row& r : {
           row{"cdn=edgeB", "cdn", "=", "edgeB"}, row{"cdn=\"edgeB\"", "cdn", "=", "edgeB"},
           row{"alertname = \"foo bar\"", "alertname", "=", "foo bar"},
           row{"alertname=foo bar", "alertname", "=", "foo bar"},
           row{"  cdn  !=  x  ", "cdn", "!=", "x"},
           row{"statuscode=~\"5..\"", "statuscode", "=~", "5.."},
           row{"tricky=~~~", "tricky", "=~", "~~"}, row{"foo= \" bar \"", "foo", "=", " bar "},
           row{"job=", "job", "=", ""}, row{"job=\"\"", "job", "=", ""},
           row{"a=1,b=2", "a", "=", "1,b=2"},  // one matcher, as Alertmanager reads it
           row{"x=\"a\\\"b\\\\c\\nd\"", "x", "=", "a\"b\\c\nd"},
           row{"x=a\\=b", "x", "=", "a\\=b"},  // an unknown escape is kept
           row{"le:v=1", "le:v", "=", "1"},    // filters allow ':' in names
       }) {
    const matcher m = must(r.text);
    EXPECT_EQ(m.name, r.name) << r.text;
    EXPECT_EQ(to_string(m.type), r.op) << r.text;
    EXPECT_EQ(m.value, r.value) << r.text;
  }
}

TEST(Matcher, BadFilterTextSaysWhat) {
  struct row {
    std::string_view text;
    std::string_view error;
  };
  for (const row& r : {
           row{"{foo=\"bar\"}", "bad matcher format: {foo=\"bar\"}"},
           row{"\"foo\"=\"bar\"", "bad matcher format: \"foo\"=\"bar\""},
           row{"invalid-name=x", "bad matcher format: invalid-name=x"},
           row{"=foo", "bad matcher format: =foo"},
           row{"foo", "bad matcher format: foo"},
           row{"", "bad matcher format: "},
           row{"job=\"value", "matcher value contains unescaped double quote: \"value"},
           row{"job=value\"", "matcher value contains unescaped double quote: value\""},
           row{"a=\"1\",b=\"2\"", "matcher value contains unescaped double quote: \"1\",b=\"2\""},
           row{"x=\"ab\\\"", "matcher value contains unescaped double quote: \"ab\\\""},
       }) {
    const matcher_result m = parse_matcher(r.text);
    EXPECT_FALSE(m.ok) << r.text;
    EXPECT_EQ(m.error, r.error) << r.text;
  }
  const matcher_result re = parse_matcher("cdn=~\"[edge\"");
  ASSERT_FALSE(re.ok);
  EXPECT_TRUE(re.error.starts_with("invalid regular expression \"[edge\": ")) << re.error;
  EXPECT_FALSE(parse_matcher("x=\xff").ok);
}

TEST(Matcher, MadeFromJsonPartsIsCheckedLikeASilenceMatcher) {
  EXPECT_TRUE(make_matcher("cdn", match_type::equal, "edgeB").ok);
  EXPECT_EQ(make_matcher("a-b", match_type::equal, "x").error, "invalid label name \"a-b\"");
  EXPECT_EQ(make_matcher("le:v", match_type::equal, "x").error, "invalid label name \"le:v\"");
  EXPECT_EQ(make_matcher("9a", match_type::equal, "x").error, "invalid label name \"9a\"");
  EXPECT_EQ(make_matcher("a", match_type::equal, "\xc3").error, "invalid label value \"\xc3\"");
  // The pattern must compile on its own: `a)|(b` is refused, not read as two halves.
  EXPECT_FALSE(make_matcher("a", match_type::regex, "a)|(b").ok);
  EXPECT_FALSE(make_matcher("a", match_type::not_regex, "(x").ok);
  // Go's RE2 dialect: no backreferences.
  EXPECT_FALSE(make_matcher("a", match_type::regex, "(a)\\1").ok);
}

TEST(Matcher, WhichMatchTheEmptyStringAsSilencesJudgeIt) {
  EXPECT_TRUE(matches_empty(must("foo=\"\"")));
  EXPECT_TRUE(matches_empty(must("foo=~\".*\"")));
  EXPECT_TRUE(matches_empty(must("foo=~\"\"")));
  EXPECT_TRUE(matches_empty(must("foo=~\"x*\"")));
  EXPECT_FALSE(matches_empty(must("foo=~\".+\"")));
  EXPECT_FALSE(matches_empty(must("foo=bar")));
  EXPECT_FALSE(matches_empty(must("foo!=bar")));  // never, as Alertmanager rules
  EXPECT_FALSE(matches_empty(must("foo!=\"\"")));
  EXPECT_FALSE(matches_empty(must("foo!~x")));
}

TEST(Matcher, TheApisTwoFlagsNameTheType) {
  EXPECT_EQ(type_of(true, false), match_type::equal);
  EXPECT_EQ(type_of(false, false), match_type::not_equal);
  EXPECT_EQ(type_of(true, true), match_type::regex);
  EXPECT_EQ(type_of(false, true), match_type::not_regex);
  for (match_type t :
       {match_type::equal, match_type::not_equal, match_type::regex, match_type::not_regex})
    EXPECT_EQ(type_of(is_equal(t), is_regex(t)), t) << to_string(t);
}

TEST(Matcher, ListsAndText) {
  const std::vector<matcher> both{must("cdn=edgeB"), must("alertname=~\"cdn_.*\"")};
  EXPECT_TRUE(all_match(both, {{"alertname", "cdn_rebuffering"}, {"cdn", "edgeB"}}));
  EXPECT_FALSE(all_match(both, {{"alertname", "startup"}, {"cdn", "edgeB"}}));
  EXPECT_TRUE(all_match({}, {{"anything", "x"}}));
  EXPECT_EQ(must("x=~\"a\\\"b\"").text(), "x=~\"a\\\"b\"");
  EXPECT_TRUE(must("cdn=edgeB").same_as(must("cdn = \"edgeB\"")));
  EXPECT_FALSE(must("cdn=edgeB").same_as(must("cdn=~edgeB")));
}

}  // namespace
}  // namespace qoewatch::silence
