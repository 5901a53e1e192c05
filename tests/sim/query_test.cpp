// The pure listsessions query engine: every parameter, counters, sorting, pagination and
// every 400, over control sessions whose values the tests choose.
#include "core/query.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <boost/json.hpp>

#include "core/json_text.hpp"

namespace {

using namespace qoewatch::sim;
namespace json = boost::json;

constexpr std::int64_t now = 1'775'750'000;
const std::string hour_ago = std::to_string(now - 3600);
const std::string now_text = std::to_string(now);

control_session make(const std::string& id, std::int64_t end, json::object fields = {},
                     std::optional<std::int64_t> start = std::nullopt) {
  control_session s;
  s.sessionid = id;
  s.endtime = end;
  s.starttime = start.value_or(end - 60);
  fields["sessionid"] = id;
  fields["endtime"] = end;
  if (start) fields["starttime"] = *start;
  s.fields = std::move(fields);
  return s;
}

session_store store_of(std::vector<control_session> sessions) {
  generator_config c;
  c.rate_per_min = 0;
  session_store st(c, now - 7200);
  st.advance(now);
  st.add_control(std::move(sessions));
  return st;
}

// The default request, with `changes` replacing or adding parameters; an empty value
// for a key that is not a real override removes it when `remove` lists it.
query_params params(std::vector<std::pair<std::string, std::string>> changes = {},
                    std::vector<std::string> remove = {}) {
  query_params p = {{"period", "start=" + hour_ago + ",end=" + now_text},
                    {"metrics", "latency,sessionid"},
                    {"aggby", "sessionid"}};
  for (auto& [k, v] : changes) {
    auto it = std::find_if(p.begin(), p.end(), [&](const auto& e) { return e.first == k; });
    if (it != p.end())
      it->second = v;
    else
      p.emplace_back(k, v);
  }
  for (const std::string& k : remove) std::erase_if(p, [&](const auto& e) { return e.first == k; });
  return p;
}

std::vector<std::string> ids(const query_result& r) {
  std::vector<std::string> out;
  for (const json::value& row : r.body.at("response").as_array())
    out.emplace_back(row.at("sessionid").as_string());
  return out;
}

std::string error_of(const query_result& r) {
  EXPECT_EQ(r.status, 400u);
  if (!r.body.is_object() || !r.body.as_object().contains("error")) return "<no error>";
  return std::string(r.body.at("error").as_string());
}

// 25 sessions s00..s24 ending in the last hour, latency 1.0 .. 25.0 (s24 slowest).
session_store twenty_five() {
  std::vector<control_session> v;
  for (int i = 0; i < 25; ++i) {
    char id[8];
    std::snprintf(id, sizeof id, "s%02d", i);
    v.push_back(make(id, now - 100 - i, {{"latency", 1.0 + i}}));
  }
  return store_of(std::move(v));
}

TEST(Query, PaginatesToTheLastShortPageAndThenEmpty) {
  session_store st = twenty_five();
  std::vector<std::string> all;
  std::vector<std::size_t> sizes;
  for (int offset : {0, 10, 20, 30}) {
    query_result r =
        handle_listsessions(params({{"limit", "10"}, {"offset", std::to_string(offset)}}), st, now);
    ASSERT_EQ(r.status, 200u) << to_json_text(r.body);
    EXPECT_EQ(r.body.at("totalcount").as_int64(), 25);
    EXPECT_EQ(r.body.at("pagecount").as_int64(), 3);
    std::vector<std::string> page = ids(r);
    sizes.push_back(page.size());
    all.insert(all.end(), page.begin(), page.end());
  }
  EXPECT_EQ(sizes, (std::vector<std::size_t>{10, 10, 5, 0}));
  ASSERT_EQ(all.size(), 25u);
  // Default orderby is the first metric (latency), default order desc.
  EXPECT_EQ(all.front(), "s24");
  EXPECT_EQ(all[1], "s23");
  EXPECT_EQ(all.back(), "s00");
}

TEST(Query, DefaultLimitIs1000AndOffsetBeyondTheEndIsEmpty) {
  std::vector<control_session> v;
  for (int i = 0; i < 1001; ++i) v.push_back(make("id" + std::to_string(i), now - 10, {}));
  session_store st = store_of(std::move(v));
  query_result r = handle_listsessions(params({{"metrics", "sessionid"}}), st, now);
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(r.body.at("response").as_array().size(), 1000u);
  EXPECT_EQ(r.body.at("totalcount").as_int64(), 1001);
  EXPECT_EQ(r.body.at("pagecount").as_int64(), 2);
  r = handle_listsessions(params({{"metrics", "sessionid"}, {"offset", "5000"}}), st, now);
  ASSERT_EQ(r.status, 200u);
  EXPECT_TRUE(r.body.at("response").as_array().empty());
  EXPECT_EQ(r.body.at("totalcount").as_int64(), 1001);
}

TEST(Query, CountersRecordsPagesAndExtra) {
  session_store st = twenty_five();
  query_result r = handle_listsessions(params({{"limit", "10"}}), st, now);
  EXPECT_EQ(r.body.at("totalcount").as_int64(), 25);
  EXPECT_EQ(r.body.at("pagecount").as_int64(), 3);
  EXPECT_FALSE(r.body.as_object().contains("totalrecords"));
  EXPECT_FALSE(r.body.at("response").at(0).as_object().contains("totalpages"));

  query_options pages;
  pages.counters = counters_mode::pages;
  r = handle_listsessions(params({{"limit", "10"}}), st, now, pages);
  EXPECT_EQ(r.body.at("totalcount").as_int64(), 3);
  EXPECT_EQ(r.body.at("pagecount").as_int64(), 25);

  query_options extra;
  extra.extra_counters = true;
  r = handle_listsessions(params({{"limit", "7"}}), st, now, extra);
  EXPECT_EQ(r.body.at("totalrecords").as_int64(), 25);
  for (const json::value& row : r.body.at("response").as_array())
    EXPECT_EQ(row.at("totalpages").as_int64(), 4);
  EXPECT_EQ(
      to_json_text(r.body).rfind("{\"totalcount\":25,\"pagecount\":4,\"totalrecords\":25,", 0), 0u);

  // No match: zero pages.
  r = handle_listsessions(params({{"qoefilter", "latency>1000"}}), st, now);
  EXPECT_EQ(to_json_text(r.body), R"({"totalcount":0,"pagecount":0,"response":[]})");
}

TEST(Query, SortOrdersTiesAndMissingKeys) {
  session_store st = store_of({
      make("b", now - 10, {{"latency", 2.0}}),
      make("a", now - 11, {{"latency", 2.0}}),
      make("c", now - 12, {{"latency", 9.5}}),
      make("d", now - 13, {}),                     // no latency: last in both orders
      make("e", now - 14, {{"latency", "10"}}),    // numeric string: the number 10
      make("f", now - 15, {{"latency", "slow"}}),  // text sorts after numbers
      make("g", now - 16, {{"latency", 0.5}}),
  });
  EXPECT_EQ(ids(handle_listsessions(params(), st, now)),
            (std::vector<std::string>{"e", "c", "a", "b", "g", "f", "d"}));
  EXPECT_EQ(ids(handle_listsessions(params({{"order", "asc"}}), st, now)),
            (std::vector<std::string>{"g", "a", "b", "c", "e", "f", "d"}));
  // orderby another field than the first metric; endtime desc.
  EXPECT_EQ(ids(handle_listsessions(params({{"orderby", "endtime"}}), st, now)),
            (std::vector<std::string>{"b", "a", "c", "d", "e", "f", "g"}));
  // orderby a field nobody has: all tie, sessionid ascending.
  EXPECT_EQ(ids(handle_listsessions(params({{"orderby", "nothing"}}), st, now)),
            (std::vector<std::string>{"a", "b", "c", "d", "e", "f", "g"}));
}

TEST(Query, TiesAreStableAcrossPages) {
  std::vector<control_session> v;
  for (int i = 0; i < 30; ++i)
    v.push_back(make("t" + std::to_string(100 + (i * 7) % 30), now - 5, {{"latency", 1.0}}));
  session_store st = store_of(std::move(v));
  std::vector<std::string> all;
  for (int offset = 0; offset < 30; offset += 8) {
    auto page = ids(
        handle_listsessions(params({{"limit", "8"}, {"offset", std::to_string(offset)}}), st, now));
    all.insert(all.end(), page.begin(), page.end());
  }
  ASSERT_EQ(all.size(), 30u);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
  EXPECT_EQ(all.front(), "t100");
  EXPECT_EQ(all.back(), "t129");
}

TEST(Query, PeriodIsInclusiveAtBothEnds) {
  const std::int64_t s = now - 1000, e = now - 500;
  session_store st = store_of({make("before", s - 1), make("at_start", s), make("inside", s + 1),
                               make("at_end", e), make("after", e + 1)});
  query_result r = handle_listsessions(
      params({{"period", "start=" + std::to_string(s) + ",end=" + std::to_string(e)},
              {"orderby", "sessionid"},
              {"order", "asc"}}),
      st, now);
  EXPECT_EQ(ids(r), (std::vector<std::string>{"at_end", "at_start", "inside"}));
  // The order of start and end inside period does not matter.
  r = handle_listsessions(
      params({{"period", "end=" + std::to_string(e) + ",start=" + std::to_string(e)}}), st, now);
  EXPECT_EQ(ids(r), (std::vector<std::string>{"at_end"}));
}

TEST(Query, SessionTypeStartedSelectsByStarttime) {
  // "long" started two hours ago and ended a minute ago; "short" started 2 minutes ago.
  session_store st = store_of({make("long", now - 60, {}, now - 7200),
                               make("short", now - 30, {})});  // starttime = endtime - 60
  auto period = std::pair<std::string, std::string>{
      "period", "start=" + std::to_string(now - 600) + ",end=" + now_text};
  EXPECT_EQ(ids(handle_listsessions(params({period, {"orderby", "sessionid"}, {"order", "asc"}}),
                                    st, now)),
            (std::vector<std::string>{"long", "short"}));
  EXPECT_EQ(ids(handle_listsessions(params({period, {"sessiontype", "started"}}), st, now)),
            (std::vector<std::string>{"short"}));
  EXPECT_EQ(
      ids(handle_listsessions(
          params({period, {"sessiontype", "ended"}, {"orderby", "sessionid"}, {"order", "asc"}}),
          st, now)),
      (std::vector<std::string>{"long", "short"}));
  // The computed default starttime is reported as endtime - 60.
  query_result r = handle_listsessions(
      params({period, {"sessiontype", "started"}, {"metrics", "sessionid,starttime"}}), st, now);
  EXPECT_EQ(r.body.at("response").at(0).at("starttime").as_int64(), now - 90);
}

TEST(Query, AllStatusAddsRunningSessions) {
  session_store st = store_of({
      make("ended", now - 100, {}), make("ends_now", now, {}),  // endtime == now: ended
      make("running", now + 600, {}, now - 300),                // started, not ended
      make("pending", now + 900, {}, now + 60),                 // not started: never listed
  });
  auto period = std::pair<std::string, std::string>{
      "period", "start=" + hour_ago + ",end=" + std::to_string(now + 3600)};
  auto m = std::pair<std::string, std::string>{"metrics", "sessionid,status"};
  auto order = std::pair<std::string, std::string>{"order", "asc"};  // by sessionid, the first
  query_result r = handle_listsessions(params({period, m, order}), st, now);
  EXPECT_EQ(
      to_json_text(r.body.at("response")),
      R"([{"sessionid":"ended","status":"ENDED"},{"sessionid":"ends_now","status":"ENDED"}])");
  r = handle_listsessions(params({period, m, order, {"allstatus", "0"}}), st, now);
  EXPECT_EQ(ids(r), (std::vector<std::string>{"ended", "ends_now"}));
  r = handle_listsessions(params({period, m, order, {"allstatus", "1"}}), st, now);
  EXPECT_EQ(to_json_text(r.body.at("response")),
            R"([{"sessionid":"ended","status":"ENDED"},{"sessionid":"ends_now","status":"ENDED"},)"
            R"({"sessionid":"running","status":"RUNNING"}])");
  // sessiontype=started finds the running session by its start (the others started 60 s
  // before their end).
  r = handle_listsessions(
      params({{"period", "start=" + std::to_string(now - 400) + ",end=" + now_text},
              m,
              order,
              {"allstatus", "1"},
              {"sessiontype", "started"}}),
      st, now);
  EXPECT_EQ(ids(r), (std::vector<std::string>{"ended", "ends_now", "running"}));
}

TEST(Query, DimensionFilter) {
  session_store st = store_of({
      make("us_a", now - 10, {{"country", "US"}, {"cdn", "edgeA"}, {"assetid", 123}}),
      make("us_b", now - 11, {{"country", "US"}, {"cdn", "edgeB"}, {"assetid", "123"}}),
      make("ca_b", now - 12, {{"country", "Canada"}, {"cdn", "edgeB"}, {"assetid", 7.5}}),
      make("uk_c", now - 13, {{"country", "UK"}, {"cdn", "edgeC"}}),
      make("none", now - 14, {}),
  });
  auto run = [&](const std::string& filter) {
    return ids(handle_listsessions(
        params({{"filter", filter}, {"orderby", "sessionid"}, {"order", "asc"}}), st, now));
  };
  EXPECT_EQ(run("[country=US|Canada]"), (std::vector<std::string>{"ca_b", "us_a", "us_b"}));
  EXPECT_EQ(run("[country=US|Canada][cdn=edgeB]"), (std::vector<std::string>{"ca_b", "us_b"}));
  EXPECT_EQ(run("[cdn=edgeC]"), (std::vector<std::string>{"uk_c"}));
  EXPECT_EQ(run("[country=us]"), (std::vector<std::string>{}));  // case-sensitive
  // A numeric dimension compares by its text.
  EXPECT_EQ(run("[assetid=123]"), (std::vector<std::string>{"us_a", "us_b"}));
  EXPECT_EQ(run("[assetid=7.5]"), (std::vector<std::string>{"ca_b"}));
  EXPECT_EQ(run(""), (std::vector<std::string>{"ca_b", "none", "uk_c", "us_a", "us_b"}));
}

TEST(Query, QoeFilterFullGrammarStringNumbersAndMissingMetrics) {
  session_store st = store_of({
      make("fast", now - 10, {{"latency", 0.9}, {"bufferingratio", 1}}),
      make("slow", now - 11, {{"latency", 7.4}, {"bufferingratio", 12.5}}),
      make("slow_str", now - 12, {{"latency", "7.4"}, {"bufferingratio", "12.5"}}),
      make("text", now - 13, {{"latency", "slow"}, {"bufferingratio", 50}}),
      make("no_latency", now - 14, {{"bufferingratio", 60}}),
      make("mid", now - 15, {{"latency", 3}, {"bufferingratio", 2}}),
  });
  auto run = [&](const std::string& q) {
    query_result r = handle_listsessions(
        params({{"qoefilter", q}, {"orderby", "sessionid"}, {"order", "asc"}}), st, now);
    EXPECT_EQ(r.status, 200u) << to_json_text(r.body);
    return ids(r);
  };
  using v = std::vector<std::string>;
  EXPECT_EQ(run("latency>3"), (v{"slow", "slow_str"}));
  EXPECT_EQ(run("latency>=3"), (v{"mid", "slow", "slow_str"}));
  EXPECT_EQ(run("latency>3 AND bufferingratio>5"), (v{"slow", "slow_str"}));
  EXPECT_EQ(run("latency = 7.4"), (v{"slow", "slow_str"}));
  EXPECT_EQ(run("latency<1 OR bufferingratio>=12.5"), (v{"fast", "slow", "slow_str"}));
  EXPECT_EQ(run("NOT (latency > 2) and bufferingratio != 3"), (v{"fast"}));
  // A row lacking latency (or holding text there) never matches, even under NOT or OR.
  EXPECT_EQ(run("NOT latency>100"), (v{"fast", "mid", "slow", "slow_str"}));
  EXPECT_EQ(run("bufferingratio>40 OR latency>100"), (v{}));
  // Metric names are not restricted to a dictionary.
  EXPECT_EQ(run("made_up_metric>0"), (v{}));
  EXPECT_EQ(run(""), (v{"fast", "mid", "no_latency", "slow", "slow_str", "text"}));
}

TEST(Query, MetricsChooseKeysInOrderAndKeepValuesVerbatim) {
  session_store st = store_of({make("x1", now - 10,
                                    {{"latency", "7.4"},
                                     {"assetname", "Finale"},
                                     {"watchtime", 600},
                                     {"bufferingratio", 2.25},
                                     {"unlisted", true}})});
  query_result r = handle_listsessions(
      params({{"metrics", "assetname,latency,nothere,sessionid,endtime,watchtime,bufferingratio"}}),
      st, now);
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(to_json_text(r.body.at("response").at(0)),
            R"({"assetname":"Finale","latency":"7.4","sessionid":"x1","endtime":1775749990,)"
            R"("watchtime":600,"bufferingratio":2.25})");
  // Spaces around names are ignored and a repeated name is listed once.
  r = handle_listsessions(params({{"metrics", " latency , sessionid,latency"}}), st, now);
  EXPECT_EQ(to_json_text(r.body.at("response").at(0)), R"({"latency":"7.4","sessionid":"x1"})");
}

TEST(Query, GeneratedSessionsAreListedWithTypedValues) {
  generator_config c;
  c.rate_per_min = 30;
  session_store st(c, now - 1800);
  st.advance(now);
  query_result r = handle_listsessions(
      params({{"period", "start=" + std::to_string(now - 600) + ",end=" + now_text},
              {"metrics", "latency,sessionid,starttime,endtime,cdn,country,errors,status"},
              {"limit", "100000"}}),
      st, now);
  ASSERT_EQ(r.status, 200u);
  const json::array& rows = r.body.at("response").as_array();
  // 10 minutes at 30 per minute: about 300 (the boundary minutes are partial).
  EXPECT_GT(rows.size(), 240u);
  EXPECT_LT(rows.size(), 340u);
  double prev = 1e300;
  for (const json::value& row : rows) {
    EXPECT_TRUE(row.at("latency").is_double());
    EXPECT_LE(row.at("latency").as_double(), prev);
    prev = row.at("latency").as_double();
    EXPECT_EQ(row.at("sessionid").as_string().size(), 16u);
    EXPECT_TRUE(row.at("starttime").is_int64());
    std::int64_t end = row.at("endtime").as_int64();
    EXPECT_GE(end, now - 600);
    EXPECT_LE(end, now);
    EXPECT_TRUE(row.at("cdn").is_string());
    EXPECT_TRUE(row.at("errors").is_int64());
    EXPECT_EQ(row.at("status").as_string(), "ENDED");
  }
}

TEST(Query, RequireListedFieldsOption) {
  session_store st = twenty_five();
  query_options strict;
  strict.require_listed_fields = true;
  EXPECT_EQ(error_of(handle_listsessions(params({{"qoefilter", "latency>1 AND errors>0"}}), st, now,
                                         strict)),
            "qoefilter: errors is not in metrics (list every field it reads)");
  EXPECT_EQ(error_of(handle_listsessions(params({{"orderby", "endtime"}}), st, now, strict)),
            "orderby: endtime is not in metrics");
  EXPECT_EQ(handle_listsessions(params({{"qoefilter", "latency>1"}}), st, now, strict).status,
            200u);
  // Without the option the same requests are fine.
  EXPECT_EQ(handle_listsessions(params({{"orderby", "endtime"}}), st, now).status, 200u);
}

struct bad_case {
  query_params p;
  std::string error;
};

TEST(Query, EveryMalformedParameterIs400WithItsName) {
  session_store st = twenty_five();
  const std::vector<bad_case> cases = {
      {params({}, {"period"}), "period: required (start=<epoch seconds>,end=<epoch seconds>)"},
      {params({{"period", "start=1"}}),
       "period: \"start=1\" is not start=<epoch seconds>,end=<epoch seconds>"},
      {params({{"period", "start=1,end=x"}}),
       "period: \"start=1,end=x\" is not start=<epoch seconds>,end=<epoch seconds>"},
      {params({{"period", "start=1,end=2,"}}),
       "period: \"start=1,end=2,\" is not start=<epoch seconds>,end=<epoch seconds>"},
      {params({{"period", "start=1,start=2"}}),
       "period: \"start=1,start=2\" is not start=<epoch seconds>,end=<epoch seconds>"},
      {params({{"period", "from=1,end=2"}}),
       "period: \"from=1,end=2\" is not start=<epoch seconds>,end=<epoch seconds>"},
      {params({{"period", "start=-1,end=2"}}),
       "period: \"start=-1,end=2\" is not start=<epoch seconds>,end=<epoch seconds>"},
      {params({{"period", "start=20,end=10"}}), "period: start 20 is after end 10"},
      {params({}, {"metrics"}),
       "metrics: required (a comma list of fields such as latency,sessionid,endtime)"},
      {params({{"metrics", ""}}),
       "metrics: required (a comma list of fields such as latency,sessionid,endtime)"},
      {params({{"metrics", "latency,,sessionid"}}),
       "metrics: empty field name in \"latency,,sessionid\""},
      {params({{"metrics", "latency,"}}), "metrics: empty field name in \"latency,\""},
      {params({{"metrics", "late-ncy"}}),
       "metrics: \"late-ncy\" is not a field name (in \"late-ncy\")"},
      {params({{"aggby", "assetname"}}), "aggby: must be sessionid, not \"assetname\""},
      {params({{"sessiontype", "running"}}),
       "sessiontype: must be ended or started, not \"running\""},
      {params({{"allstatus", "2"}}), "allstatus: must be 0 or 1, not \"2\""},
      {params({{"allstatus", "true"}}), "allstatus: must be 0 or 1, not \"true\""},
      {params({{"filter", "[country=US"}}),
       "filter: column 1: '[' has no matching ']' in \"[country=US\""},
      {params({{"filter", "country=US"}}),
       "filter: column 1: a group starts with '[' (as in [country=US|Canada]), found 'c' in "
       "\"country=US\""},
      {params({{"qoefilter", "latency >"}}),
       "qoefilter: column 10: '>' must be followed by a number, found the end of the text in "
       "\"latency >\""},
      {params({{"qoefilter", "latency > 3 AND"}}),
       "qoefilter: column 16: expected a metric name, found the end of the text in "
       "\"latency > 3 AND\""},
      {params({{"qoefilter", "(latency > 3"}}),
       "qoefilter: column 1: '(' has no matching ')' in \"(latency > 3\""},
      {params({{"orderby", "a b"}}), "orderby: \"a b\" is not a field name"},
      {params({{"orderby", ""}}), "orderby: \"\" is not a field name"},
      {params({{"order", "descending"}}), "order: must be asc or desc, not \"descending\""},
      {params({{"order", "DESC"}}), "order: must be asc or desc, not \"DESC\""},
      {params({{"limit", "0"}}), "limit: must be an integer from 1 to 100000, not \"0\""},
      {params({{"limit", "100001"}}), "limit: must be an integer from 1 to 100000, not \"100001\""},
      {params({{"limit", "ten"}}), "limit: must be an integer from 1 to 100000, not \"ten\""},
      {params({{"limit", "-5"}}), "limit: must be an integer from 1 to 100000, not \"-5\""},
      {params({{"limit", ""}}), "limit: must be an integer from 1 to 100000, not \"\""},
      {params({{"offset", "-1"}}), "offset: must be an integer >= 0, not \"-1\""},
      {params({{"offset", "1.5"}}), "offset: must be an integer >= 0, not \"1.5\""},
      {params({{"concurrency", "yes"}}), "concurrency: must be 0 or 1, not \"yes\""},
      {params({{"businesserror", "maybe"}}), "businesserror: must be true or false, not \"maybe\""},
  };
  for (const bad_case& c : cases) {
    query_result r = handle_listsessions(c.p, st, now);
    EXPECT_EQ(r.status, 400u) << c.error;
    EXPECT_EQ(error_of(r), c.error);
  }
  query_params twice = params();
  twice.emplace_back("limit", "10");
  twice.emplace_back("limit", "20");
  EXPECT_EQ(error_of(handle_listsessions(twice, st, now)), "limit: given more than once");
}

TEST(Query, AcceptsOptionalAndUnknownParameters) {
  session_store st = twenty_five();
  query_result r = handle_listsessions(
      params({{"concurrency", "1"}, {"businesserror", "false"}, {"whatever", "x"}}, {"aggby"}), st,
      now);
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body.at("totalcount").as_int64(), 25);
}

// smartsight-sim --cache-pages: answers equal the uncached ones, repeats are hits,
// a period selecting the same sessions shares pages, and a store change or a status change
// drops the cache.
TEST(PageCache, AnswersExactlyAsTheQueryEngineAndFollowsTheStore) {
  session_store st = twenty_five();
  page_cache cache;
  const std::vector<query_params> requests = {
      params({{"limit", "10"}}),
      params({{"limit", "10"}, {"offset", "10"}}),
      params({{"limit", "10"}, {"offset", "20"}}),
      params({{"limit", "10"}, {"offset", "30"}}),
      params({{"order", "asc"}, {"limit", "7"}, {"offset", "3"}}),
      params({{"qoefilter", "latency > 10 OR latency < 2"}}),
      params({{"metrics", "sessionid,status"}, {"allstatus", "1"}}),
      params({{"limit", "0"}}),  // a 400, never cached
  };
  for (int round = 0; round < 2; ++round)
    for (const query_params& p : requests) {
      query_result want = handle_listsessions(p, st, now);
      page_answer got = cache.answer(p, st, now);
      EXPECT_EQ(got.status, want.status);
      EXPECT_EQ(got.body, to_json_text(want.body));
    }
  EXPECT_EQ(cache.hits(), 7u);
  EXPECT_EQ(cache.misses(), 7u);

  // Another period holding the same 25 sessions: the same pages, from the cache.
  query_params wider =
      params({{"period", "start=" + std::to_string(now - 5000) + ",end=" + std::to_string(now)},
              {"limit", "10"}});
  EXPECT_EQ(cache.answer(wider, st, now).body,
            to_json_text(handle_listsessions(wider, st, now).body));
  EXPECT_EQ(cache.hits(), 8u);

  // A new session: the cache follows the store.
  st.add_control({make("new", now - 50, {{"latency", 99.0}})});
  EXPECT_EQ(cache.answer(params({{"limit", "10"}}), st, now).body,
            to_json_text(handle_listsessions(params({{"limit", "10"}}), st, now).body));
  EXPECT_EQ(cache.hits(), 8u);

  // A running session that ends: the status change drops the cache.
  session_store live = store_of({make("run", now + 30, {{"latency", 3.0}}, now - 30)});
  page_cache c2;
  query_params p = params({{"metrics", "sessionid,status"},
                           {"allstatus", "1"},
                           {"period", "start=" + hour_ago + ",end=" + std::to_string(now + 60)}});
  EXPECT_EQ(c2.answer(p, live, now).body, to_json_text(handle_listsessions(p, live, now).body));
  EXPECT_EQ(c2.answer(p, live, now + 30).body,
            to_json_text(handle_listsessions(p, live, now + 30).body));
  EXPECT_EQ(c2.hits(), 0u);
  EXPECT_NE(c2.answer(p, live, now + 30).body.find("ENDED"), std::string::npos);
  EXPECT_EQ(c2.hits(), 1u);
}

}  // namespace
