// The API as one function: each route answered with Alertmanager's statuses and bodies, and
// what a write hands the caller to store (nothing when refused).
#include "silence/dispatch.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace qoewatch::silence {
namespace {

namespace json = boost::json;

constexpr std::int64_t now = 1'893'484'800'000;  // 2030-01-01T08:00:00Z
constexpr std::string_view id_a = "98e68380-4bed-43ea-abdf-1b115f805deb";
constexpr std::string_view id_new = "11111111-2222-4333-8444-555555555555";

silence make(std::string_view id, const std::vector<std::string>& matchers, std::int64_t from,
             std::int64_t to) {
  silence s;
  s.id = std::string(id);
  for (const std::string& m : matchers) s.matchers.push_back(*parse_matcher(m).ok);
  s.starts_at = from;
  s.ends_at = to;
  s.updated_at = from;
  s.created_by = "alice";
  s.comment = "edgeB maintenance";
  return s;
}

alert firing(const std::string& cdn, bool muted = false) {
  alert a;
  a.labels = {{"alertname", "cdn_rebuffering"}, {"cdn", cdn}, {"severity", "critical"}};
  a.starts_at = a.updated_at = now - 60'000;
  a.ends_at = now + 240'000;
  a.fingerprint = "fp-" + cdn;
  a.receivers = {cdn == "edgeA" ? "oncall" : "chat"};
  a.muted = muted;
  return a;
}

struct world_fixture {
  std::vector<silence> silences{make(id_a, {"cdn=edgeB"}, now - 1000, now + 3'600'000),
                                make("22222222-2222-4222-8222-222222222222", {"cdn=edgeC"},
                                     now - 7'200'000, now - 3'600'000)};
  api_world world() {
    api_world w;
    w.silences = &silences;
    w.now = now;
    w.new_id = [] { return std::string(id_new); };
    w.alerts = [] {
      return std::vector<alert>{firing("edgeA"), firing("edgeB"), firing("edgeD", true)};
    };
    w.version = "1.2.3";
    w.started_at = now - 1000;
    return w;
  }
  api_result call(std::string_view method, std::string_view target, std::string_view body = "") {
    return dispatch({method, target, body}, world());
  }
};

std::vector<std::string> fingerprints(const api_result& r) {
  std::vector<std::string> out;
  const json::value all = json::parse(r.answer.body);
  for (const json::value& a : all.as_array()) out.emplace_back(a.at("fingerprint").as_string());
  return out;
}

}  // namespace

TEST(SilenceDispatch, StatusAndTheApiPaths) {
  world_fixture f;
  api_result st = f.call("GET", "/api/v2/status");
  EXPECT_EQ(st.answer.status, 200u);
  EXPECT_EQ(json::parse(st.answer.body).at("versionInfo").at("version"), json::value("0.25.0"));
  EXPECT_TRUE(is_api_path("/api/v2/silences"));
  EXPECT_TRUE(is_api_path("/api/v2"));
  EXPECT_FALSE(is_api_path("/api/v1/silences"));
  EXPECT_FALSE(is_api_path("/metrics"));
}

TEST(SilenceDispatch, ErrorsInAlertmanagersStatusesAndWords) {
  world_fixture f;
  struct row {
    std::string_view method, target, body;
    unsigned status;
    std::string_view text;
  };
  for (
      const row& r : {
          row{"PUT", "/api/v2/silences", "", 405,
              R"({"code":405,"message":"method PUT is not allowed, but [GET,POST] are"})"},
          row{"POST", "/api/v2/alerts", "", 405, "method POST is not allowed, but [GET] are"},
          row{"GET", "/api/v2/nothing", "", 404,
              R"({"code":404,"message":"path /api/v2/nothing was not found"})"},
          row{"GET", "/api/v2/silence/", "", 404, "path /api/v2/silence/ was not found"},
          row{"GET", "/api/v2/silence/abc", "", 422,
              R"({"code":601,"message":"silenceID in path must be of type uuid: \"abc\""})"},
          row{"GET", "/api/v2/silence/33333333-2222-4222-8222-222222222222", "", 404, ""},
          row{"DELETE", "/api/v2/silence/33333333-2222-4222-8222-222222222222", "", 500,
              "\"silence not found\""},
          row{"GET", "/api/v2/silences?filter=a%3D~%22%5B%22", "", 400,
              "invalid regular expression \\\"[\\\": missing ]"},
          row{"GET", "/api/v2/alerts?receiver=%5B", "", 400,
              "failed to parse receiver param: invalid regular expression"},
          row{"POST", "/api/v2/silences", "nope", 400, "parsing silence body failed"},
          row{"POST", "/api/v2/silences",
              R"({"matchers":[{"isRegex":false,"name":"a","value":"b"}],"createdBy":"x",)"
              R"("comment":"c","startsAt":"2029-01-01T10:00:00Z","endsAt":"2029-01-01T11:00:00Z"})",
              400, "\"failed to create silence: end time can't be in the past\""},
      }) {
    api_result res = f.call(r.method, r.target, r.body);
    EXPECT_EQ(res.answer.status, r.status) << r.method << " " << r.target;
    EXPECT_NE(res.answer.body.find(r.text), std::string::npos)
        << r.method << " " << r.target << ": " << res.answer.body;
    EXPECT_TRUE(res.write.empty()) << r.target;
  }
}

TEST(SilenceDispatch, CreateGetListExpire) {
  world_fixture f;
  api_result made = f.call("POST", "/api/v2/silences",
                           R"({"matchers":[{"isEqual":true,"isRegex":false,"name":"cdn",)"
                           R"("value":"edgeD"}],"createdBy":"bob","comment":"vendor outage",)"
                           R"("startsAt":"2030-01-01T08:00:00Z","endsAt":"2030-01-01T10:00:00Z"})");
  ASSERT_EQ(made.answer.status, 200u) << made.answer.body;
  EXPECT_EQ(made.answer.body, "{\"silenceID\":\"" + std::string(id_new) + "\"}\n");
  ASSERT_EQ(made.write.size(), 1u);
  EXPECT_EQ(made.write[0].comment, "vendor outage");
  EXPECT_TRUE(f.silences.size() == 2u);  // the caller stores it, not dispatch

  api_result one = f.call("GET", std::string("/api/v2/silence/") + std::string(id_a));
  ASSERT_EQ(one.answer.status, 200u);
  EXPECT_EQ(json::parse(one.answer.body).at("status").at("state"), json::value("active"));

  // Listed active first, then expired; filter matchers compare as text (with '+' a space).
  api_result all = f.call("GET", "/api/v2/silences");
  const json::value list = json::parse(all.answer.body);
  ASSERT_EQ(list.as_array().size(), 2u);
  EXPECT_EQ(list.at(0).at("id"), json::value(id_a));
  api_result filtered = f.call("GET", "/api/v2/silences?filter=cdn+%3D+%22edgeC%22");
  ASSERT_EQ(json::parse(filtered.answer.body).as_array().size(), 1u);
  EXPECT_EQ(json::parse(filtered.answer.body).at(0).at("matchers").at(0).at("value"),
            json::value("edgeC"));

  api_result expired = f.call("DELETE", std::string("/api/v2/silence/") + std::string(id_a));
  EXPECT_EQ(expired.answer.status, 200u);
  EXPECT_EQ(expired.answer.body, "");
  ASSERT_EQ(expired.write.size(), 1u);
  EXPECT_EQ(expired.write[0].ends_at, now);
}

TEST(SilenceDispatch, AlertsAreSelectedAsAmtoolAsks) {
  world_fixture f;
  // Alertmanager's defaults: every alert, with silencedBy filled in.
  api_result all = f.call("GET", "/api/v2/alerts");
  EXPECT_EQ(fingerprints(all), (std::vector<std::string>{"fp-edgeA", "fp-edgeB", "fp-edgeD"}));
  const json::value b = json::parse(all.answer.body).at(1);
  EXPECT_EQ(b.at("status").at("silencedBy"), json::array{json::value(id_a)});
  EXPECT_EQ(b.at("status").at("state"), json::value("suppressed"));
  // amtool alert query: active only; -s adds the silenced (and muted) ones.
  EXPECT_EQ(fingerprints(f.call("GET",
                                "/api/v2/alerts?active=true&inhibited=false&silenced=false&"
                                "unprocessed=false")),
            std::vector<std::string>{"fp-edgeA"});
  EXPECT_EQ(fingerprints(f.call("GET", "/api/v2/alerts?active=false&silenced=true")),
            (std::vector<std::string>{"fp-edgeB", "fp-edgeD"}));
  // Filters match labels (regexes evaluated); the receiver is an anchored regex.
  EXPECT_EQ(fingerprints(f.call("GET", "/api/v2/alerts?filter=cdn%3D~%22edge%5BAB%5D%22")),
            (std::vector<std::string>{"fp-edgeA", "fp-edgeB"}));
  EXPECT_EQ(fingerprints(f.call("GET", "/api/v2/alerts?receiver=on")), std::vector<std::string>{});
  EXPECT_EQ(fingerprints(f.call("GET", "/api/v2/alerts?receiver=on.*")),
            std::vector<std::string>{"fp-edgeA"});
}

}  // namespace qoewatch::silence
