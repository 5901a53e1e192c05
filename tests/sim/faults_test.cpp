// Injected faults without a network: the plan a test sends, the share of requests each kind
// gets, what the body faults do to a page, and the control endpoint.
#include "core/faults.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "core/sim_api.hpp"

namespace {

using namespace qoewatch::sim;
namespace json = boost::json;

constexpr std::int64_t now = 1'775'750'000;

std::string plan_error(std::string_view text) {
  auto p = parse_fault_plan(text);
  return std::holds_alternative<std::string>(p) ? std::get<std::string>(p) : "";
}

TEST(SimFaults, APlanNamesWhatIsWrongWithIt) {
  EXPECT_EQ(plan_error("[]"), "expected a JSON object of fault shares");
  EXPECT_EQ(plan_error("{"), "not JSON: incomplete JSON");
  EXPECT_EQ(plan_error(R"({"timeout": 0.1})"),
            "unknown key \"timeout\" (use server_error, throttle, slow, reset, truncated, "
            "malformed, wrong_types, lying_counters, oversized, endless, trickle, huge_header, "
            "retry_after, "
            "slow_ms, oversized_bytes or trickle_ms)");
  EXPECT_EQ(plan_error(R"({"oversized_bytes": 0})"), "oversized_bytes: 0 is not in 1..2000000000");
  EXPECT_EQ(plan_error(R"({"reset": 1.5})"), "reset: expected a share from 0 to 1");
  EXPECT_EQ(plan_error(R"({"reset": "0.1"})"), "reset: expected a share from 0 to 1");
  EXPECT_EQ(plan_error(R"({"reset": 0.6, "slow": 0.5})"),
            "the shares add up to 1.1E0, more than 1");
  EXPECT_EQ(plan_error(R"({"retry_after": -1})"), "retry_after: -1 is not in 0..3600");
  EXPECT_EQ(plan_error(R"({"slow_ms": 1.5})"), "slow_ms: expected a whole number in 1..600000");
  auto ok =
      parse_fault_plan(R"({"throttle": 0.25, "retry_after": 7, "slow": 0.5, "slow_ms": 300})");
  ASSERT_TRUE(std::holds_alternative<fault_plan>(ok)) << std::get<std::string>(ok);
  const fault_plan& p = std::get<fault_plan>(ok);
  EXPECT_EQ(p.shares[static_cast<std::size_t>(fault_kind::throttle)], 0.25);
  EXPECT_EQ(p.shares[static_cast<std::size_t>(fault_kind::slow)], 0.5);
  EXPECT_EQ(p.shares[static_cast<std::size_t>(fault_kind::reset)], 0.0);
  EXPECT_EQ(p.retry_after_seconds, 7);
  EXPECT_EQ(p.slow_ms, 300);
}

TEST(SimFaults, EachKindGetsItsShareOfRequestsRepeatably) {
  fault_plan plan;
  plan.shares[static_cast<std::size_t>(fault_kind::server_error)] = 0.2;
  plan.shares[static_cast<std::size_t>(fault_kind::truncated)] = 0.1;
  fault_injector a(5), b(5);
  a.set(plan);
  b.set(plan);
  int errors = 0, truncated = 0, none = 0;
  for (int i = 0; i < 10'000; ++i) {
    const std::optional<fault_kind> k = a.draw();
    ASSERT_EQ(k, b.draw()) << "the same seed draws the same faults";
    if (!k)
      ++none;
    else if (*k == fault_kind::server_error)
      ++errors;
    else if (*k == fault_kind::truncated)
      ++truncated;
    else
      ADD_FAILURE() << to_string(*k) << " has no share";
  }
  EXPECT_NEAR(errors, 2000, 200);
  EXPECT_NEAR(truncated, 1000, 150);
  EXPECT_EQ(a.injected()[static_cast<std::size_t>(fault_kind::server_error)],
            static_cast<std::uint64_t>(errors));
  a.clear();
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(a.draw());
}

TEST(SimFaults, BodyFaultsBreakAPageEachInItsOwnWay) {
  const std::string page =
      R"({"totalcount":2,"pagecount":1,"response":[{"latency":7.5,"sessionid":"a","endtime":10},)"
      R"({"latency":2,"sessionid":"b","endtime":11}]})";
  fault_injector f(1);
  boost::system::error_code ec;
  json::parse(f.corrupt(fault_kind::truncated, page), ec);
  EXPECT_TRUE(ec) << "a truncated page is not JSON";
  ec = {};
  const std::string malformed = f.corrupt(fault_kind::malformed, page);
  EXPECT_EQ(malformed.size(), page.size());
  json::parse(malformed, ec);
  EXPECT_TRUE(ec) << "a malformed page is not JSON";
  json::value wrong = json::parse(f.corrupt(fault_kind::wrong_types, page));
  for (const json::value& row : wrong.at("response").as_array()) {
    EXPECT_EQ(row.at("latency"), "n/a");
    EXPECT_EQ(row.at("endtime"), "n/a");
    EXPECT_TRUE(row.at("sessionid").is_string());
  }
  json::value lying = json::parse(f.corrupt(fault_kind::lying_counters, page));
  EXPECT_EQ(lying.at("totalcount"), 0);
  EXPECT_EQ(lying.at("pagecount"), 0);
  EXPECT_EQ(lying.at("response"), json::parse(page).at("response"));
}

sim_api make_api() {
  api_config c;
  c.customer_id = "1234";
  c.api_key = "s3cret";
  generator_config g;
  g.rate_per_min = 0;
  g.backlog = 50;
  g.backlog_window = 600;
  return sim_api(std::move(c), session_store(g, now));
}

api_response call(sim_api& api, std::string_view method, std::string_view target,
                  std::string_view body = {}) {
  return api.handle(api_request{method, target, "s3cret", body}, now);
}

const std::string list = "/mm-apis/listsessions/1234?period=start=" + std::to_string(now - 600) +
                         ",end=" + std::to_string(now) + "&metrics=latency,sessionid,endtime";

TEST(SimFaults, TheControlEndpointSwitchesFaultsOnAndOffForListsessionsOnly) {
  sim_api api = make_api();
  const api_response clean = call(api, "GET", list);
  ASSERT_EQ(clean.status, 200u);
  ASSERT_GT(clean.rows, 10u) << clean.body;

  api_response set = call(api, "PUT", "/_sim/faults", R"({"throttle": 1, "retry_after": 4})");
  ASSERT_EQ(set.status, 200u) << set.body;
  api_response r = call(api, "GET", list);
  EXPECT_EQ(r.status, 429u);
  EXPECT_EQ(r.retry_after, 4);
  EXPECT_EQ(r.fault, "throttle");
  EXPECT_EQ(call(api, "GET", "/_sim/stats").status, 200u) << "control endpoints are not faulted";

  ASSERT_EQ(call(api, "PUT", "/_sim/faults", R"({"server_error": 1})").status, 200u);
  r = call(api, "GET", list);
  EXPECT_TRUE(r.status == 500u || r.status == 502u || r.status == 503u) << r.status;
  EXPECT_EQ(json::parse(r.body).at("error"), "injected fault: server error");

  ASSERT_EQ(call(api, "PUT", "/_sim/faults", R"({"slow": 1, "slow_ms": 250})").status, 200u);
  r = call(api, "GET", list);
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.delay_ms, 250);
  EXPECT_EQ(r.body, clean.body) << "a slow answer is the right answer, late";

  ASSERT_EQ(call(api, "PUT", "/_sim/faults", R"({"reset": 1})").status, 200u);
  EXPECT_TRUE(call(api, "GET", list).reset);

  ASSERT_EQ(call(api, "PUT", "/_sim/faults", R"({"oversized": 1, "oversized_bytes": 9})").status,
            200u);
  r = call(api, "GET", list);
  EXPECT_EQ(r.oversized_bytes, static_cast<std::int64_t>(clean.body.size()))
      << "never less than the page itself";
  ASSERT_EQ(
      call(api, "PUT", "/_sim/faults", R"({"oversized": 1, "oversized_bytes": 5000000})").status,
      200u);
  EXPECT_EQ(call(api, "GET", list).oversized_bytes, 5000000);
  ASSERT_EQ(call(api, "PUT", "/_sim/faults", R"({"endless": 1})").status, 200u);
  EXPECT_TRUE(call(api, "GET", list).endless);
  ASSERT_EQ(call(api, "PUT", "/_sim/faults", R"({"trickle": 1, "trickle_ms": 50})").status, 200u);
  EXPECT_EQ(call(api, "GET", list).trickle_ms, 50);
  ASSERT_EQ(call(api, "PUT", "/_sim/faults", R"({"huge_header": 1})").status, 200u);
  EXPECT_TRUE(call(api, "GET", list).huge_header);

  ASSERT_EQ(call(api, "PUT", "/_sim/faults", R"({"wrong_types": 1})").status, 200u);
  EXPECT_NE(call(api, "GET", list).body.find(R"("latency":"n/a")"), std::string::npos);

  api_response bad = call(api, "PUT", "/_sim/faults", R"({"reset": 2})");
  EXPECT_EQ(bad.status, 400u);
  EXPECT_EQ(bad.body, R"({"error":"fault plan: reset: expected a share from 0 to 1"})");

  api_response shown = call(api, "GET", "/_sim/faults");
  json::value d = json::parse(shown.body);
  EXPECT_EQ(d.at("plan").at("wrong_types"), 1.0) << "a refused plan changes nothing";
  EXPECT_EQ(d.at("injected").at("throttle"), 1);
  EXPECT_EQ(d.at("injected").at("wrong_types"), 1);

  ASSERT_EQ(call(api, "DELETE", "/_sim/faults").status, 200u);
  r = call(api, "GET", list);
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, clean.body);
  EXPECT_EQ(r.fault, "");
  EXPECT_EQ(call(api, "POST", "/_sim/faults").status, 405u);
}

}  // namespace
