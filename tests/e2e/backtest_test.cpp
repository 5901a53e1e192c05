// --backtest end to end: a past span of the simulator's sessions replayed by the real
// qoewatchd, each row fetched once, the incidents of the past found with their numbers, a
// shared fetch, failing pages retried and a span that never came reported, never quiet.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <ctime>
#include <filesystem>

#include "e2e/harness.hpp"
#include "support/process.hpp"

namespace json = boost::json;
using namespace qoewatch::test;
using namespace qoewatch::e2e;
using namespace std::chrono_literals;

namespace {

std::int64_t epoch_of(const json::value& rfc3339_text) {
  std::tm tm{};
  const std::string s(rfc3339_text.as_string());
  EXPECT_NE(strptime(s.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm), nullptr) << s;
  return timegm(&tm);
}

struct run_result {
  int code = -1;
  std::vector<json::object> lines;  // --output json
  std::string out;                  // stdout
  std::string err;                  // stderr
};

class Backtest : public testing::Test {
 protected:
  // Two hours of sessions, three hours ago, on a grid of minutes: one a minute, the CDN
  // alternating, none offending; three slow starts at 00:30; edgeB rebuffering at 01:00.
  void SetUp() override {
    base_ = (wall_now() / 3600 - 3) * 3600;
    std::vector<std::string> rows;
    for (int i = 0; i < 120; ++i)
      rows.push_back(session("bg" + std::to_string(i), base_ + 60 * i + 7,
                             std::string(R"("latency":2,"cirrbufferingratio":0,"cdn":")") +
                                 (i % 2 ? "edgeB" : "edgeA") + "\""));
    for (int i = 0; i < 3; ++i)
      rows.push_back(session("slow" + std::to_string(i), base_ + 1800 + 10 * (i + 1),
                             R"("latency":9,"cirrbufferingratio":0,"cdn":"edgeA")"));
    for (int i = 0; i < 6; ++i)
      rows.push_back(session("rebuf" + std::to_string(i), base_ + 3600 + 50 * i + 13,
                             R"("latency":2,"cirrbufferingratio":5,"cdn":"edgeB")"));
    add_sessions(sim_, rows);
    sessions_ = rows.size();

    config_builder c;
    c.smartsight(sim_.port);
    c.smartsight_setting("page_size: 5");
    c.rule(
        rule_spec("slow", "latency > 5").interval_of("60s").window_of("10m").with("fields: [cdn]"));
    // The same query as slow's, judged over half an hour: one fetch serves both.
    c.rule(rule_spec("slow_half_hour", "latency > 5")
               .interval_of("60s")
               .window_of("30m")
               .with("fields: [cdn]")
               .with("min_sessions: 2"));
    c.rule(rule_spec("cdn_rebuffering", "cirrbufferingratio > 2")
               .interval_of("60s")
               .window_of("5m")
               .with("group_by: [cdn]")
               .with("when: \"ratio > 50%\"")
               .with("min_sample: 3")
               .with("for: 2")
               .with("resolve_after: 1"));
    c.sink(webhook(closed_.port()));
    cfg_ = c.write(dir_);
  }

  run_result backtest(std::vector<std::string> args) {
    std::vector<std::string> all = {"--config",
                                    cfg_,
                                    "--backtest",
                                    "--from",
                                    utc_rfc3339(base_),
                                    "--to",
                                    utc_rfc3339(base_ + 7200)};
    all.insert(all.end(), args.begin(), args.end());
    child_process p(QOEWATCHD_BINARY, all, {{"QW_KEY", sim_.key}});
    run_result r;
    while (auto line = p.read_line(60s)) {
      r.out += *line + "\n";
      if (line->starts_with("{")) r.lines.push_back(json::parse(*line).as_object());
    }
    r.code = p.wait(60s);
    r.err = p.log();
    return r;
  }

  static std::vector<json::object> of(const run_result& r, const std::string& type,
                                      const std::string& rule) {
    std::vector<json::object> out;
    for (const json::object& o : r.lines)
      if (o.at("type") == type.c_str() && o.at("rule") == rule.c_str()) out.push_back(o);
    return out;
  }

  // Seconds after the span's start.
  std::int64_t at(const json::value& time) const { return epoch_of(time) - base_; }

  void set_faults(const std::string& plan) const {
    http_reply r = http_request(sim_.port, "PUT", "/_sim/faults", plan,
                                {{"X-API-Key", sim_.key}, {"Content-Type", "application/json"}});
    ASSERT_EQ(r.status, 200u) << r.body;
  }

  sim sim_{{"--rate", "0"}};
  reserved_port closed_;  // the webhook: nothing may reach it
  temp_dir dir_;
  std::string cfg_;
  std::int64_t base_ = 0;
  std::size_t sessions_ = 0;
};

}  // namespace

TEST_F(Backtest, FindsThePastIncidentsAndFetchesEachRowOnce) {
  run_result r = backtest({"--output", "json"});
  ASSERT_EQ(r.code, 0) << r.err << r.out;

  // The three slow starts: each notified once, though ten 10-minute windows held each.
  ASSERT_EQ(of(r, "summary", "slow").size(), 1u) << r.out;
  const json::object slow = of(r, "summary", "slow")[0];
  EXPECT_EQ(slow.at("sessions_notified"), 3) << r.out;
  EXPECT_EQ(slow.at("incidents"), 1);
  EXPECT_EQ(slow.at("polls"), 111);       // ends 00:10 .. 02:00, one a minute
  EXPECT_EQ(slow.at("rows_fetched"), 3);  // the qoefilter went to SmartSight
  EXPECT_EQ(slow.at("rows_judged"), 30);  // each row in ten windows
  EXPECT_EQ(slow.at("fetch_shared_with"), (json::array{"slow_half_hour"}));
  const std::vector<json::object> slow_incidents = of(r, "incident", "slow");
  ASSERT_EQ(slow_incidents.size(), 1u);
  // The first window holding slow0 (ended 00:30:10) ends at 00:31; its poll runs by 00:31:15.
  EXPECT_GE(at(slow_incidents[0].at("fired_at")), 1860);
  EXPECT_LT(at(slow_incidents[0].at("fired_at")), 1875);
  EXPECT_EQ(slow_incidents[0].at("peak").at("offending"), 3);
  EXPECT_EQ(slow_incidents[0].at("group"), json::object{});

  // The same rows, a longer window, min_sessions 2: one incident, fed by the shared fetch.
  const json::object half = of(r, "summary", "slow_half_hour").at(0);
  EXPECT_EQ(half.at("rows_fetched"), 3);
  EXPECT_EQ(half.at("incidents"), 1);
  EXPECT_EQ(half.at("sessions_notified"), 3);

  // edgeB: 4 windows in a row over half rebuffering from 01:02 on; `for: 2` fires it at the
  // second, and it resolves once the rebuffering sessions leave the 5-minute window.
  const std::vector<json::object> groups = of(r, "incident", "cdn_rebuffering");
  ASSERT_EQ(groups.size(), 1u) << r.out;
  EXPECT_EQ(groups[0].at("group"), (json::object{{"cdn", "edgeB"}}));
  EXPECT_GE(at(groups[0].at("fired_at")), 3600 + 60);
  EXPECT_LT(at(groups[0].at("fired_at")), 3600 + 300);
  ASSERT_TRUE(groups[0].at("resolved_at").is_string());
  EXPECT_GT(at(groups[0].at("resolved_at")), 3600 + 300);
  EXPECT_LT(at(groups[0].at("resolved_at")), 3600 + 300 + 360);
  EXPECT_GT(groups[0].at("peak").at("ratio").to_number<double>(), 0.5);
  EXPECT_GE(groups[0].at("peak").at("offending").as_int64(), 5);
  // Every session of the span fetched once (a session that ended on the second two chunks
  // share comes in both: SmartSight's period is inclusive at both ends), each judged in
  // about 5 windows.
  const json::object cdn = of(r, "summary", "cdn_rebuffering").at(0);
  EXPECT_GE(cdn.at("rows_fetched").as_int64(), static_cast<std::int64_t>(sessions_));
  EXPECT_LE(cdn.at("rows_fetched").to_number<double>(), 1.1 * static_cast<double>(sessions_));
  EXPECT_GE(cdn.at("rows_judged").as_int64(), 4 * static_cast<std::int64_t>(sessions_));
  EXPECT_EQ(cdn.at("gaps"), 0);
  // Days (the span may reach past midnight): their polls and incidents add up.
  std::int64_t day_polls = 0, day_incidents = 0;
  for (const json::object& d : of(r, "day", "cdn_rebuffering")) {
    day_polls += d.at("polls").as_int64();
    day_incidents += d.at("incidents").as_int64();
  }
  EXPECT_EQ(day_polls, cdn.at("polls").as_int64());
  EXPECT_EQ(day_incidents, 1);
  // The summary is each rule's last line.
  EXPECT_EQ(r.lines.back().at("type"), "summary");

  // Progress went to stderr, and nothing of the daemon's state was written.
  EXPECT_NE(r.err.find("backtest: 100% of windows"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir_.path / "state"));

  // The text report says the same for people.
  run_result text = backtest({"--rule", "cdn_rebuffering", "--timezone", "Asia/Tokyo"});
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("rule cdn_rebuffering (population, every 1m, window 5m"),
            std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("incident cdn=edgeB fired "), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("would have paged 1 time, "), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("(Asia/Tokyo)"), std::string::npos) << text.out;
  EXPECT_EQ(text.out.find("rule slow "), std::string::npos) << "--rule: only the rule named";
}

TEST_F(Backtest, RetriesFailingPagesAndReportsASpanItCouldNotFetch) {
  run_result clean = backtest({"--output", "json"});
  ASSERT_EQ(clean.code, 0) << clean.err;

  // A tenth of the answers fail: every page is asked again until it comes, and the result is
  // the same as without failures.
  set_faults(R"({"server_error": 0.1})");
  run_result flaky = backtest({"--output", "json"});
  ASSERT_EQ(flaky.code, 0) << flaky.err;
  std::int64_t retries = 0;
  for (const json::object& s : flaky.lines)
    if (s.at("type") == "summary") retries += s.at("retries").as_int64();
  EXPECT_GT(retries, 0) << flaky.err;
  for (const std::string rule : {"slow", "slow_half_hour", "cdn_rebuffering"}) {
    json::object a = of(clean, "summary", rule).at(0), b = of(flaky, "summary", rule).at(0);
    for (const char* k : {"polls", "incidents", "sessions_notified", "rows_judged", "gaps"})
      EXPECT_EQ(a.at(k), b.at(k)) << rule << " " << k;
    EXPECT_EQ(of(clean, "incident", rule).size(), of(flaky, "incident", rule).size()) << rule;
  }
  EXPECT_NE(flaky.err.find("SmartSight answered HTTP 5"), std::string::npos) << flaky.err;

  // Nothing answers: every window is reported as not judged, and the exit status says so.
  set_faults(R"({"server_error": 1})");
  run_result down = backtest({"--output", "json", "--rule", "cdn_rebuffering"});
  EXPECT_EQ(down.code, 1) << down.err;
  const json::object s = of(down, "summary", "cdn_rebuffering").at(0);
  EXPECT_EQ(s.at("polls_failed"), s.at("polls"));
  EXPECT_EQ(s.at("incidents"), 0);
  std::vector<json::object> gaps = of(down, "gap", "cdn_rebuffering");
  ASSERT_FALSE(gaps.empty());
  EXPECT_NE(std::string_view(gaps[0].at("error").as_string()).find("SmartSight answered HTTP 5"),
            std::string::npos);
  EXPECT_NE(down.err.find("NOT judged"), std::string::npos) << down.err;
  // The key never shows.
  EXPECT_EQ(down.out.find(sim_.key), std::string::npos);
  EXPECT_EQ(down.err.find(sim_.key), std::string::npos);
}

TEST_F(Backtest, ABadSpanRuleOrZoneIsRefusedBeforeAnythingIsFetched) {
  struct row {
    std::vector<std::string> args;
    std::string error;
  };
  const std::vector<row> rows = {
      {{"--rule", "nope"}, "--rule: no rule named 'nope' in "},
      {{"--timezone", "Mars/Olympus"}, "--timezone: unknown time zone Mars/Olympus"},
  };
  for (const row& x : rows) {
    run_result r = backtest(x.args);
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find(x.error), std::string::npos) << r.err;
  }
  child_process p(QOEWATCHD_BINARY, {"--config", cfg_, "--backtest", "--from", "last week"},
                  {{"QW_KEY", sim_.key}});
  EXPECT_EQ(p.wait(10s), 2);
  EXPECT_NE(p.log().find("--from: 'last week' is not a time"), std::string::npos) << p.log();
  http_reply stats = http_request(sim_.port, "GET", "/_sim/stats", {}, {{"X-API-Key", sim_.key}});
  EXPECT_NE(stats.body.find("\"listsessions\":{\"total\":0,"), std::string::npos) << stats.body;
}
