// Routing without a network: authentication, paths, methods, percent-decoding, the
// control endpoints and request statistics.
#include "core/sim_api.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace {

using namespace qoewatch::sim;
namespace json = boost::json;

constexpr std::int64_t now = 1'775'750'000;

sim_api make_api(query_options q = {}) {
  api_config c;
  c.customer_id = "1234";
  c.api_key = "s3cret";
  c.query = q;
  generator_config g;
  g.rate_per_min = 0;
  return sim_api(std::move(c), session_store(g, now - 3600));
}

api_response call(sim_api& api, std::string_view method, std::string_view target,
                  std::string_view body = {}, std::optional<std::string_view> key = "s3cret") {
  return api.handle(api_request{method, target, key, body}, now);
}

json::value parsed(const api_response& r) {
  return json::parse(r.body);
}

std::string list_target(std::string extra) {
  return "/mm-apis/listsessions/1234?period=start=" + std::to_string(now - 3600) +
         ",end=" + std::to_string(now) + "&metrics=latency,sessionid&aggby=sessionid" + extra;
}

TEST(SimApi, AuthenticationComesFirst) {
  sim_api api = make_api();
  api_response r = call(api, "GET", list_target(""), {}, std::nullopt);
  EXPECT_EQ(r.status, 401u);
  EXPECT_EQ(r.body, R"({"error":"missing X-API-Key header"})");
  r = call(api, "GET", list_target(""), {}, "s3cre");
  EXPECT_EQ(r.status, 401u);
  EXPECT_EQ(r.body, R"({"error":"invalid API key"})");
  r = call(api, "GET", "/nowhere", {}, "wrong");
  EXPECT_EQ(r.status, 401u);
  r = call(api, "POST", "/_sim/sessions", "[]", std::nullopt);
  EXPECT_EQ(r.status, 401u);
  EXPECT_EQ(call(api, "GET", list_target("")).status, 200u);
}

TEST(SimApi, PathsAndMethods) {
  sim_api api = make_api();
  api_response r = call(api, "GET", "/mm-apis/listsessions/999?period=start=1,end=2&metrics=a");
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(r.body, R"({"error":"unknown customer id \"999\""})");
  EXPECT_EQ(call(api, "GET", "/mm-apis/listsessions/1234/extra").status, 404u);
  EXPECT_EQ(call(api, "GET", "/mm-apis/listsessions/").status, 404u);
  r = call(api, "GET", "/");
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(r.body, R"({"error":"no such resource: /"})");
  r = call(api, "POST", list_target(""));
  EXPECT_EQ(r.status, 405u);
  EXPECT_EQ(r.allow, "GET");
  r = call(api, "GET", "/_sim/sessions");
  EXPECT_EQ(r.status, 405u);
  EXPECT_EQ(r.allow, "POST, DELETE");
  r = call(api, "GET", "/mm-apis/listsessions/1234?a=%zz");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.body, R"({"error":"malformed request target"})");
}

TEST(SimApi, QueryValuesArePercentDecodedWithPlusAsSpace) {
  sim_api api = make_api();
  std::string body = "[{\"sessionid\":\"a\",\"endtime\":" + std::to_string(now - 10) +
                     ",\"latency\":5,\"country\":\"New Zealand\"},"
                     "{\"sessionid\":\"b\",\"endtime\":" +
                     std::to_string(now - 20) + ",\"latency\":\"2.5\",\"country\":\"US\"}]";
  ASSERT_EQ(call(api, "POST", "/_sim/sessions", body).status, 200u);
  auto ids = [&](const std::string& extra) {
    api_response r = call(api, "GET", list_target(extra));
    EXPECT_EQ(r.status, 200u) << r.body;
    std::vector<std::string> out;
    json::value page = parsed(r);
    for (const json::value& row : page.at("response").as_array())
      out.emplace_back(row.at("sessionid").as_string());
    return out;
  };
  using v = std::vector<std::string>;
  EXPECT_EQ(ids("&qoefilter=latency+%3E+3"), v{"a"});
  EXPECT_EQ(ids("&qoefilter=latency%20%3E%202%20AND%20latency%3C3"), v{"b"});
  EXPECT_EQ(ids("&qoefilter=latency>=2.5+OR+latency>4"), (v{"a", "b"}));
  EXPECT_EQ(ids("&filter=%5Bcountry%3DNew+Zealand%5D"), v{"a"});
  EXPECT_EQ(ids("&filter=[country=New%20Zealand|US]&order=asc"), (v{"b", "a"}));
  api_response r = call(api, "GET", list_target("&qoefilter=latency+%3E"));
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(parsed(r).at("error").as_string(),
            "qoefilter: column 10: '>' must be followed by a number, found the end of the text in "
            "\"latency >\"");
}

TEST(SimApi, ControlSessionsKeepValuesVerbatim) {
  sim_api api = make_api();
  std::string body =
      R"([{"sessionid":"s1","endtime":")" + std::to_string(now - 5) +
      R"(","latency":"7.4","assetname":"Finale","watchtime":120.0,"extra":{"k":[1,null]}},
                         {"sessionid":"s2","endtime":)" +
      std::to_string(now - 6) + R"(.9}])";
  api_response r = call(api, "POST", "/_sim/sessions", body);
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.body, R"({"added":2,"control_sessions":2})");
  r = call(api, "GET",
           list_target("").replace(
               list_target("").find("latency,sessionid"), 17,
               "sessionid,latency,endtime,starttime,assetname,watchtime,extra,status"));
  ASSERT_EQ(r.status, 200u) << r.body;
  // Default orderby is sessionid here (first metric), desc.
  EXPECT_EQ(r.body,
            "{\"totalcount\":2,\"pagecount\":1,\"response\":["
            "{\"sessionid\":\"s2\",\"endtime\":" +
                std::to_string(now - 6) + ".9,\"starttime\":" + std::to_string(now - 66) +
                ",\"status\":\"ENDED\"},"
                "{\"sessionid\":\"s1\",\"latency\":\"7.4\",\"endtime\":\"" +
                std::to_string(now - 5) + "\",\"starttime\":" + std::to_string(now - 65) +
                ",\"assetname\":\"Finale\",\"watchtime\":120,\"extra\":{\"k\":[1,null]},\"status\":"
                "\"ENDED\"}]}");
}

TEST(SimApi, ControlEndpointValidation) {
  sim_api api = make_api();
  auto err = [&](std::string_view body) {
    api_response r = call(api, "POST", "/_sim/sessions", body);
    EXPECT_EQ(r.status, 400u);
    return std::string(parsed(r).at("error").as_string());
  };
  EXPECT_EQ(err("not json").rfind("body: not JSON (", 0), 0u);
  EXPECT_EQ(err(R"({"sessionid":"a"})"), "body: expected a JSON array of session objects");
  EXPECT_EQ(err(R"([1])"), "sessions[0]: expected an object");
  EXPECT_EQ(err(R"([{"sessionid":"a","endtime":1},{"endtime":1}])"),
            "sessions[1].sessionid: required, a non-empty string");
  EXPECT_EQ(err(R"([{"sessionid":7,"endtime":1}])"),
            "sessions[0].sessionid: required, a non-empty string");
  EXPECT_EQ(err(R"([{"sessionid":"a"}])"), "sessions[0].endtime: required (epoch seconds)");
  EXPECT_EQ(err(R"([{"sessionid":"a","endtime":"soon"}])"),
            "sessions[0].endtime: not a number of epoch seconds");
  EXPECT_EQ(err(R"([{"sessionid":"a","endtime":1,"starttime":true}])"),
            "sessions[0].starttime: not a number of epoch seconds");
  // Nothing was added by the failed requests.
  EXPECT_TRUE(api.store().control().empty());
  EXPECT_EQ(call(api, "POST", "/_sim/sessions", "[]").body, R"({"added":0,"control_sessions":0})");
}

TEST(SimApi, DeleteRemovesEverythingAndStopsGeneration) {
  api_config c;
  c.customer_id = "1234";
  c.api_key = "s3cret";
  generator_config g;
  g.rate_per_min = 60;
  sim_api api(std::move(c), session_store(g, now - 600));
  api_response r = call(api, "GET", list_target("&limit=1"));
  EXPECT_GT(parsed(r).at("totalcount").as_int64(), 500);
  ASSERT_EQ(call(api, "POST", "/_sim/sessions",
                 R"([{"sessionid":"only","endtime":)" + std::to_string(now - 1) + "}]")
                .status,
            200u);
  r = call(api, "DELETE", "/_sim/sessions");
  EXPECT_EQ(r.status, 200u);
  EXPECT_FALSE(api.store().generating());
  r = call(api, "GET", list_target(""));
  EXPECT_EQ(r.body, R"({"totalcount":0,"pagecount":0,"response":[]})");
  // Later requests (a later clock) generate nothing new.
  EXPECT_EQ(api.handle(api_request{"GET", list_target(""), "s3cret", {}}, now + 600).body,
            R"({"totalcount":0,"pagecount":0,"response":[]})");
}

TEST(SimApi, StatsCountRequestsByStatusButNotThemselves) {
  sim_api api = make_api();
  call(api, "GET", list_target(""));
  call(api, "GET", list_target(""));
  call(api, "GET", list_target("&limit=0"));
  call(api, "GET", list_target(""), {}, std::nullopt);
  call(api, "POST", "/_sim/sessions", "[]");
  call(api, "GET", "/nowhere");
  api_response r = call(api, "GET", "/_sim/stats");
  ASSERT_EQ(r.status, 200u);
  json::value s = parsed(r);
  EXPECT_EQ(s.at("total").as_int64(), 6);
  EXPECT_EQ(s.at("by_status").at("200").as_int64(), 3);
  EXPECT_EQ(s.at("by_status").at("400").as_int64(), 1);
  EXPECT_EQ(s.at("by_status").at("401").as_int64(), 1);
  EXPECT_EQ(s.at("by_status").at("404").as_int64(), 1);
  EXPECT_EQ(s.at("listsessions").at("total").as_int64(), 3);
  EXPECT_EQ(s.at("listsessions").at("by_status").at("200").as_int64(), 2);
  EXPECT_EQ(s.at("sessions").at("control").as_int64(), 0);
  EXPECT_EQ(parsed(call(api, "GET", "/_sim/stats")).at("total").as_int64(), 6);
  api.count(413);
  EXPECT_EQ(parsed(call(api, "GET", "/_sim/stats")).at("by_status").at("413").as_int64(), 1);
  r = call(api, "DELETE", "/_sim/stats");
  EXPECT_EQ(parsed(r).at("total").as_int64(), 0);
  EXPECT_EQ(call(api, "GET", "/_sim/stats", {}, std::nullopt).status, 401u);
}

}  // namespace
