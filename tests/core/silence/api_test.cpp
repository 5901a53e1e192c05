#include "silence/api.hpp"

#include "notify/payload.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace qoewatch::silence {
namespace {

namespace json = boost::json;

// The body amtool 0.25 sent for `silence add 'cdn=~"edge.*"' 'cdn!=edgeA' 'cdn!~"x.+"' --author
// alice --start 2030-01-01T10:00:00+02:00 --end 2030-01-01T12:30:00+02:00 --comment "regex test"`.
constexpr std::string_view amtool_body =
    R"({"comment":"regex test","createdBy":"alice","endsAt":"2030-01-01T12:30:00.000+02:00",)"
    R"("matchers":[{"isEqual":true,"isRegex":true,"name":"cdn","value":"edge.*"},)"
    R"({"isEqual":false,"isRegex":false,"name":"cdn","value":"edgeA"},)"
    R"({"isEqual":false,"isRegex":true,"name":"cdn","value":"x.+"}],)"
    R"("startsAt":"2030-01-01T10:00:00.000+02:00"})";

TEST(SilenceApi, DecodesWhatAmtoolPosts) {
  const decoded_postable d = decode_postable(amtool_body);
  ASSERT_TRUE(d.ok) << d.error.body;
  EXPECT_FALSE(d.ok->id);
  ASSERT_EQ(d.ok->matchers.size(), 3u);
  EXPECT_EQ(d.ok->matchers[0].text(), "cdn=~\"edge.*\"");
  EXPECT_EQ(d.ok->matchers[1].text(), "cdn!=\"edgeA\"");
  EXPECT_EQ(d.ok->matchers[2].text(), "cdn!~\"x.+\"");
  EXPECT_EQ(d.ok->starts_at, 1'893'484'800'000);  // 2030-01-01T08:00:00Z
  EXPECT_EQ(d.ok->ends_at, 1'893'484'800'000 + 9'000'000);
  EXPECT_EQ(d.ok->created_by, "alice");
  EXPECT_EQ(d.ok->comment, "regex test");
  // An update carries the id; isEqual may be left out (true), comment may be empty.
  const decoded_postable u = decode_postable(
      R"({"id":"98e68380-4bed-43ea-abdf-1b115f805deb","comment":"","createdBy":"x",)"
      R"("startsAt":"2030-01-01T10:00:00Z","endsAt":"2030-01-01T11:00:00Z",)"
      R"("matchers":[{"isRegex":false,"name":"cdn","value":"edgeB"}]})");
  ASSERT_TRUE(u.ok) << u.error.body;
  EXPECT_EQ(*u.ok->id, "98e68380-4bed-43ea-abdf-1b115f805deb");
  EXPECT_EQ(u.ok->matchers[0].type, match_type::equal);
}

TEST(SilenceApi, RefusesBadBodiesWithAlertmanagersStatusesAndWords) {
  const std::string ok_matchers =
      R"("matchers":[{"isEqual":true,"isRegex":false,"name":"a","value":"b"}])";
  const std::string times = R"("startsAt":"2030-01-01T10:00:00Z","endsAt":"2030-01-01T11:00:00Z")";
  struct row {
    std::string body;
    unsigned status;
    std::string_view text;
  };
  for (
      const row& r : {
          row{"", 422, R"({"code":602,"message":"silence in body is required"})"},
          row{"nope", 400, "parsing silence body failed"},
          row{"[]", 422, "silence in body must be of type object"},
          row{"{" + times + R"(,"createdBy":"x","comment":"c"})", 422,
              "matchers in body is required"},
          row{"{" + times + R"(,"createdBy":"x","comment":"c","matchers":[]})", 422,
              R"({"code":612,"message":"matchers in body should have at least 1 items"})"},
          row{"{" + ok_matchers +
                  R"(,"endsAt":"2030-01-01T11:00:00Z","createdBy":"x","comment":"c"})",
              422, "startsAt in body is required"},
          row{"{" + ok_matchers + "," + times + R"(,"comment":"c"})", 422,
              "createdBy in body is required"},
          row{"{" + ok_matchers +
                  R"(,"startsAt":"tomorrow","endsAt":"2030-01-01T11:00:00Z","createdBy":"x","comment":"c"})",
              422, R"(startsAt in body must be of type date-time: \"tomorrow\")"},
          row{"{" + times +
                  R"(,"createdBy":"x","comment":"c","matchers":[{"name":"a","value":"b"}]})",
              422, "matchers.0.isRegex in body is required"},
          row{"{" + times +
                  R"(,"createdBy":"x","comment":"c","matchers":[{"isRegex":false,"name":"1bad","value":"b"}]})",
              400, R"("silence invalid: invalid label matcher 0: invalid label name \"1bad\"")"},
          row{"{" + times + R"(,"createdBy":"x","comment":"c","matchers":[)" +
                  R"({"isRegex":false,"name":"a","value":"b"},{"isRegex":true,"name":"b","value":"("}]})",
              400,
              R"("silence invalid: invalid label matcher 1: invalid regular expression \"(\": )"},
      }) {
    const decoded_postable d = decode_postable(r.body);
    EXPECT_FALSE(d.ok) << r.body;
    EXPECT_EQ(d.error.status, r.status) << r.body;
    EXPECT_NE(d.error.body.find(r.text), std::string::npos) << r.body << " -> " << d.error.body;
  }
}

TEST(SilenceApi, GettableSilencesCarryEveryFieldAmtoolReads) {
  silence s;
  s.id = "98e68380-4bed-43ea-abdf-1b115f805deb";
  s.matchers = {*parse_matcher("alertname=cdn_rebuffering").ok, *parse_matcher("cdn!~x").ok};
  s.starts_at = 1'764'962'003'862;
  s.ends_at = s.starts_at + 7'200'000;
  s.updated_at = s.starts_at;
  s.created_by = "root";
  s.comment = "edgeB maintenance";
  const json::value v = json::parse(encode_silence(s, s.starts_at + 1));
  EXPECT_EQ(v.at("id"), json::value(s.id));
  EXPECT_EQ(v.at("status").at("state"), json::value("active"));
  EXPECT_EQ(v.at("startsAt"), json::value("2025-12-05T19:13:23.862Z"));
  EXPECT_EQ(v.at("endsAt"), json::value("2025-12-05T21:13:23.862Z"));
  EXPECT_EQ(v.at("updatedAt"), json::value("2025-12-05T19:13:23.862Z"));
  EXPECT_EQ(v.at("createdBy"), json::value("root"));
  EXPECT_EQ(v.at("comment"), json::value("edgeB maintenance"));
  EXPECT_EQ(v.at("matchers"),
            json::parse(
                R"([{"isEqual":true,"isRegex":false,"name":"alertname","value":"cdn_rebuffering"},)"
                R"({"isEqual":false,"isRegex":true,"name":"cdn","value":"x"}])"));
  const json::value list = json::parse(encode_silences({s, s}, s.ends_at));
  ASSERT_EQ(list.as_array().size(), 2u);
  EXPECT_EQ(list.at(0).at("status").at("state"), json::value("expired"));
  EXPECT_EQ(json::parse(encode_silences({}, 0)), json::array{});  // [], never null
  EXPECT_EQ(encode_silence_id("abc"), "{\"silenceID\":\"abc\"}\n");
}

TEST(SilenceApi, AlertsAndStatus) {
  alert a;
  a.labels = {{"alertname", "cdn_rebuffering"}, {"cdn", "edgeB"}};
  a.annotations = {{"summary", "rebuffering high"}};
  a.starts_at = 1'764'962'003'000;
  a.ends_at = a.starts_at + 60'000;
  a.updated_at = a.starts_at;
  a.receivers = {"oncall"};
  a.silenced_by = {"98e68380-4bed-43ea-abdf-1b115f805deb"};
  // The fingerprint the sinks' alerts carry.
  auto fingerprint = [](const label_set& labels) {
    return notify::fingerprint({labels.begin(), labels.end()});
  };
  a.fingerprint = fingerprint(a.labels);
  alert b = a;
  b.labels["cdn"] = "edgeA";
  b.fingerprint = fingerprint(b.labels);
  b.silenced_by.clear();
  alert muted = b;
  muted.labels["cdn"] = "edgeC";
  muted.fingerprint = fingerprint(muted.labels);
  muted.muted = true;
  const json::value v = json::parse(encode_alerts({a, b, muted}));
  ASSERT_EQ(v.as_array().size(), 3u);
  std::vector<std::string> states;
  for (const json::value& x : v.as_array()) {
    EXPECT_EQ(x.at("fingerprint").as_string().size(), 16u);
    EXPECT_TRUE(x.as_object().contains("startsAt"));
    EXPECT_TRUE(x.as_object().contains("endsAt"));
    EXPECT_FALSE(x.as_object().contains("generatorURL"));
    states.emplace_back(x.at("status").at("state").as_string());
  }
  EXPECT_LE(v.at(0).at("fingerprint").as_string(), v.at(1).at("fingerprint").as_string());
  std::vector<std::string> listed;
  for (const json::value& x : v.as_array()) listed.emplace_back(x.at("fingerprint").as_string());
  std::vector<std::string> given{a.fingerprint, b.fingerprint, muted.fingerprint};
  std::sort(given.begin(), given.end());
  EXPECT_EQ(listed, given);  // the sinks' fingerprints, in their order
  EXPECT_EQ(std::count(states.begin(), states.end(), "suppressed"), 2);
  EXPECT_EQ(fingerprint(a.labels), fingerprint(a.labels));
  EXPECT_NE(fingerprint(a.labels), fingerprint(b.labels));

  const json::value st = json::parse(encode_status("1.2.3", 0));
  EXPECT_EQ(st.at("versionInfo").at("version"), json::value("0.25.0"));  // amtool stays quiet
  EXPECT_EQ(st.at("versionInfo").at("revision"), json::value("qoewatch 1.2.3"));
  EXPECT_EQ(st.at("cluster").at("status"), json::value("disabled"));
}

TEST(SilenceApi, FilterValuesAreMatchersOrA400) {
  const decoded_filter f = decode_filter({"cdn=edgeB", "alertname=~\"cdn_.*\""});
  EXPECT_FALSE(f.error);
  EXPECT_EQ(f.matchers.size(), 2u);
  const decoded_filter bad = decode_filter({"cdn=edgeB", "foo"});
  ASSERT_TRUE(bad.error);
  EXPECT_EQ(bad.error->status, 400u);
  EXPECT_EQ(bad.error->body, "\"bad matcher format: foo\"\n");
}

TEST(SilenceApi, StoredRowsReadBackAndBadOnesSayWhichAndWhat) {
  silence s;
  s.id = "98e68380-4bed-43ea-abdf-1b115f805deb";
  s.matchers = {*parse_matcher("cdn=~\"edge.*\"").ok, *parse_matcher("alertname!=x").ok};
  s.starts_at = 1;
  s.ends_at = 2;
  s.updated_at = 3;
  s.created_by = "alice";
  s.comment = "edgeB maintenance";
  const qoewatch::state::silence_row row = to_row(s);
  EXPECT_EQ(row.matchers, R"([{"isEqual":true,"isRegex":true,"name":"cdn","value":"edge.*"},)"
                          R"({"isEqual":false,"isRegex":false,"name":"alertname","value":"x"}])");
  const loaded_silence back = from_row(row);
  ASSERT_TRUE(back.ok) << back.error;
  EXPECT_EQ(to_row(*back.ok), row);
  EXPECT_TRUE(back.ok->matchers[0].matches(std::string_view("edgeB")));  // compiled again

  qoewatch::state::silence_row bad = row;
  bad.matchers = "not json";
  EXPECT_EQ(from_row(bad).error,
            "silence 98e68380-4bed-43ea-abdf-1b115f805deb: its matchers are not a JSON array");
  bad.matchers = R"([{"isEqual":true,"isRegex":true,"name":"cdn","value":"("}])";
  EXPECT_TRUE(from_row(bad).error.starts_with(
      "silence 98e68380-4bed-43ea-abdf-1b115f805deb: matcher 0: invalid regular expression"))
      << from_row(bad).error;
  bad.matchers = R"([{"name":"cdn"}])";
  EXPECT_EQ(from_row(bad).error,
            "silence 98e68380-4bed-43ea-abdf-1b115f805deb: matcher 0 is malformed");
  bad.matchers = "[]";
  EXPECT_EQ(from_row(bad).error,
            "silence 98e68380-4bed-43ea-abdf-1b115f805deb: it has no matchers");
}

}  // namespace
}  // namespace qoewatch::silence
