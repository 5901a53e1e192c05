// The listsessions request each poll sends, and the --check-config report that shows it.
#include "fetch/query.hpp"

#include <gtest/gtest.h>

#include "cli/options.hpp"
#include "config/load.hpp"

using namespace qoewatch;
using namespace std::chrono_literals;

namespace {
config::daemon_config load_ok(const std::string& yaml) {
  config::load_result r = config::load_from_string(yaml, "q.yaml");
  if (!r.config) {
    std::string all;
    for (const auto& d : r.errors) all += d.to_string() + "\n";
    ADD_FAILURE() << all;
    return {};
  }
  return *r.config;
}

const char* const example = R"yaml(smartsight:
  base_url: https://smartsight3.mediamelon.com
  customer_id: 199493832
  api_key_env: QW_KEY
  page_size: 1000
sinks:
  - {name: oncall, type: webhook, url: "https://hooks.example.com/qoe"}
rules:
  - name: slow_startup_android
    filter: "[platform=Android]"
    qoefilter: "latency > 5 AND (bufferingratio >= 2 OR errors > 0)"
    fields: [assetname, cdn, sourcetype, latency]
    interval: 30s
    window: 10m
    delay: 2m
    severity: critical
    sinks: [oncall]
  - name: anything_bad
    qoefilter: "qualityofexperience < 40 OR fatalerrors > 0"
    sinks: []
)yaml";

const auto now = std::chrono::system_clock::time_point{} + 1775750640s;
}  // namespace

TEST(Query, WindowEndsDelayBeforeNowOnTheIntervalGridAndSpansTheWindow) {
  config::daemon_config c = load_ok(example);  // interval 30s, window 10m, delay 2m
  fetch::window w = fetch::window_at(c.rules.at(0), now + 700ms);
  EXPECT_EQ(w.end, 1775750640 - 120);
  EXPECT_EQ(w.start, 1775750640 - 120 - 600);
  // Anywhere in the same 30 s, the same window; the next one 30 s on.
  EXPECT_EQ(fetch::window_at(c.rules.at(0), now + 29s), w);
  EXPECT_EQ(fetch::window_at(c.rules.at(0), now + 30s).end, w.end + 30);
  EXPECT_EQ(fetch::window_at(c.rules.at(0), now - 1s).end, w.end - 30);
}

TEST(Query, MetricsLeadWithTheConditionThenSessionFieldsThenFieldsOnce) {
  config::daemon_config c = load_ok(example);
  EXPECT_EQ(fetch::requested_metrics(c.rules.at(0)),
            (std::vector<std::string>{"latency", "bufferingratio", "errors", "sessionid",
                                      "starttime", "endtime", "assetname", "cdn", "sourcetype"}));
}

TEST(Query, TargetCarriesEveryParameterPercentEncoded) {
  config::daemon_config c = load_ok(example);
  const config::rule_config& r = c.rules.at(0);
  EXPECT_EQ(fetch::listsessions_target(c.smartsight, r, fetch::window_at(r, now), 2000),
            "/mm-apis/listsessions/199493832"
            "?period=start%3D1775749920%2Cend%3D1775750520"
            "&metrics=latency%2Cbufferingratio%2Cerrors%2Csessionid%2Cstarttime%2Cendtime%2C"
            "assetname%2Ccdn%2Csourcetype"
            "&aggby=sessionid&sessiontype=ended"
            "&filter=%5Bplatform%3DAndroid%5D"
            "&qoefilter=latency%3E5"
            "&limit=1000&offset=2000");
}

TEST(Query, NoServerSideFilterWhenNoDocumentedTermExists) {
  config::daemon_config c = load_ok(example);
  const config::rule_config& r = c.rules.at(1);
  std::string t = fetch::listsessions_target(c.smartsight, r, fetch::window_at(r, now), 0);
  EXPECT_EQ(t.find("qoefilter="), std::string::npos) << t;
  EXPECT_EQ(t.find("filter="), std::string::npos) << t;
}

TEST(Query, BaseUrlPathIsKeptAsPrefix) {
  config::daemon_config c = load_ok(example);
  c.smartsight.base_url = "http://proxy.internal:8080/smartsight";
  const config::rule_config& r = c.rules.at(1);
  std::string url = fetch::listsessions_url(c.smartsight, r, fetch::window_at(r, now), 0);
  EXPECT_EQ(url.rfind("http://proxy.internal:8080/smartsight/mm-apis/listsessions/199493832?", 0),
            0u)
      << url;
  EXPECT_EQ(fetch::listsessions_target(c.smartsight, r, fetch::window_at(r, now), 0)
                .rfind("/smartsight/mm-apis/", 0),
            0u);
}

TEST(Query, PercentEncodeLeavesOnlyUnreserved) {
  EXPECT_EQ(fetch::percent_encode("a-Z_0.9~"), "a-Z_0.9~");
  EXPECT_EQ(fetch::percent_encode("x > 5 AND y|z&w=1/%"),
            "x%20%3E%205%20AND%20y%7Cz%26w%3D1%2F%25");
  EXPECT_EQ(fetch::percent_encode("\xC3\xA9"), "%C3%A9");
}

TEST(CheckConfig, ReportHasOneLinePerRuleWithTheQuery) {
  config::daemon_config c = load_ok(example);
  std::string report = cli::check_config_report(c, now);
  EXPECT_EQ(report,
            "q.yaml: OK, 2 rules, 1 sink\n"
            "state in SQLite at /var/lib/qoewatch\n"
            "slow_startup_android (every 30s, window 10m, delay 2m, critical, sinks: oncall): GET "
            "https://smartsight3.mediamelon.com/mm-apis/listsessions/199493832?period=start%"
            "3D1775749920%2Cend%3D1775750520&metrics=latency%2Cbufferingratio%2Cerrors%2Csessionid%"
            "2Cstarttime%2Cendtime%2Cassetname%2Ccdn%2Csourcetype&aggby=sessionid&sessiontype="
            "ended&filter=%5Bplatform%3DAndroid%5D&qoefilter=latency%3E5&limit=1000&offset=0\n"
            "anything_bad (every 1m, window 10m, delay 2m, warning, sinks: none): GET "
            "https://smartsight3.mediamelon.com/mm-apis/listsessions/199493832?period=start%"
            "3D1775749920%2Cend%3D1775750520&metrics=qualityofexperience%2Cfatalerrors%"
            "2Csessionid%2Cstarttime%2Cendtime&aggby=sessionid&sessiontype=ended&limit=1000&"
            "offset=0\n");
}

TEST(Cli, ParsesTheDocumentedForms) {
  auto p = cli::parse({"--config", "q.yaml", "--check-config"});
  ASSERT_TRUE(p);
  EXPECT_EQ(p.value->config, "q.yaml");
  EXPECT_TRUE(p.value->check_config);
  p = cli::parse({"--config=x.yaml"});
  ASSERT_TRUE(p);
  EXPECT_EQ(p.value->config, "x.yaml");
  EXPECT_FALSE(p.value->check_config);
  EXPECT_TRUE(cli::parse({"--version"}));
  EXPECT_TRUE(cli::parse({"--help"}));
}

TEST(Cli, LogFormatIsTextOrJson) {
  EXPECT_EQ(cli::parse({"--config", "q.yaml"}).value->log_format, "text");
  EXPECT_EQ(cli::parse({"--config", "q.yaml", "--log-format", "json"}).value->log_format, "json");
  EXPECT_EQ(cli::parse({"--config", "q.yaml", "--log-format=text"}).value->log_format, "text");
  EXPECT_EQ(cli::parse({"--config", "q.yaml", "--log-format", "xml"}).error,
            "unknown log format 'xml' (use text or json)");
  EXPECT_EQ(cli::parse({"--config", "q.yaml", "--log-format"}).error,
            "--log-format needs a format (text or json)");
}

TEST(Cli, RejectsWhatItDoesNotKnow) {
  EXPECT_EQ(cli::parse({}).error, "--config FILE is required");
  EXPECT_EQ(cli::parse({"--config"}).error, "--config needs a file name");
  EXPECT_EQ(cli::parse({"--config", "q.yaml", "--frobnicate"}).error,
            "unknown argument '--frobnicate'");
}

TEST(Cli, MigrateStateTakesTheSqliteFileInEitherForm) {
  auto p = cli::parse({"--config", "q.yaml", "--migrate-state", "/var/lib/qoewatch/qoewatch.db"});
  ASSERT_TRUE(p) << p.error;
  EXPECT_EQ(p.value->migrate_state_from, "/var/lib/qoewatch/qoewatch.db");
  EXPECT_FALSE(p.value->dead_letters);
  p = cli::parse({"--migrate-state=/var/lib/qoewatch", "-c", "q.yaml"});
  ASSERT_TRUE(p) << p.error;
  EXPECT_EQ(p.value->migrate_state_from, "/var/lib/qoewatch");
  EXPECT_EQ(p.value->config, "q.yaml");
  EXPECT_EQ(cli::parse({"--config", "q.yaml"}).value->migrate_state_from, "");
  // It may go with the log options: they say how the copy reports.
  p = cli::parse({"--config", "q.yaml", "--migrate-state", "x.db", "--log-level", "warn"});
  ASSERT_TRUE(p) << p.error;
  EXPECT_EQ(p.value->log_level, "warn");
}

TEST(Cli, MigrateStateNeedsAFileAndActsAlone) {
  const std::string needs =
      "--migrate-state needs a file name (the qoewatch.db to copy, or the state_dir holding it)";
  const std::string alone =
      "--migrate-state only copies the state; it cannot be combined with --once, --dry-run, "
      "--check-config or --dead-letters";
  struct {
    std::vector<std::string_view> args;
    std::string error;
  } cases[] = {
      {{"--config", "q.yaml", "--migrate-state"}, needs},
      {{"--config", "q.yaml", "--migrate-state="}, needs},
      {{"--config", "q.yaml", "--migrate-state", ""}, needs},
      {{"--config", "q.yaml", "--migrate-state", "x.db", "--once"}, alone},
      {{"--config", "q.yaml", "--dry-run", "--migrate-state", "x.db"}, alone},
      {{"--config", "q.yaml", "--migrate-state", "x.db", "--check-config"}, alone},
      {{"--config", "q.yaml", "--dead-letters", "--migrate-state=x.db"}, alone},
      {{"--migrate-state", "x.db"}, "--config FILE is required"},
  };
  for (const auto& c : cases) {
    std::string args;
    for (std::string_view a : c.args) args += std::string(a) + " ";
    cli::parse_result r = cli::parse(c.args);
    EXPECT_FALSE(r) << args;
    EXPECT_EQ(r.error, c.error) << args;
  }
}

TEST(Query, AfterDowntimeThePollReachesBackToTheCheckpoint) {
  config::daemon_config c = load_ok(example);
  const config::rule_config& r = c.rules.at(0);  // window 10m, delay 2m
  const std::int64_t end = 1775750640 - 120;
  // No checkpoint yet, or one inside the normal window: the normal window.
  EXPECT_EQ(fetch::window_after(r, now, std::nullopt, 1h).w, fetch::window_at(r, now));
  EXPECT_EQ(fetch::window_after(r, now, end - 30, 1h).w, fetch::window_at(r, now));
  // Down for 25 minutes: the window starts where the last processed one ended, one window long.
  fetch::catchup c25 = fetch::window_after(r, now, end - 1500, 1h);
  EXPECT_EQ(c25.w.start, end - 1500);
  EXPECT_EQ(c25.w.end, end - 900);
  EXPECT_TRUE(c25.behind);
  EXPECT_EQ(c25.skipped_seconds, 0);
  // Down for 3 hours with max_catchup 1h: one hour back, the rest reported as skipped.
  fetch::catchup c3h = fetch::window_after(r, now, end - 3 * 3600, 1h);
  EXPECT_EQ(c3h.w.start, end - 3600);
  EXPECT_EQ(c3h.w.end, end - 3000);
  EXPECT_EQ(c3h.skipped_seconds, 2 * 3600);
  // max_catchup 0 (or shorter than the window) never shrinks the normal window.
  fetch::catchup none = fetch::window_after(r, now, end - 3 * 3600, 0s);
  EXPECT_EQ(none.w, fetch::window_at(r, now));
  EXPECT_EQ(none.skipped_seconds, 3 * 3600 - 600);
  EXPECT_FALSE(none.behind);
}

TEST(Query, CatchingUpCoversTheOutageInContiguousWindowSizedSlices) {
  config::daemon_config c = load_ok(example);
  const config::rule_config& r = c.rules.at(0);  // window 10m, delay 2m
  const std::int64_t end = 1775750640 - 120;
  // Each slice starts where the last one ended (the checkpoint it committed) and is at most
  // one window long; the last is the normal window, and only the first reports a skip.
  std::optional<std::int64_t> checkpoint = end - 2 * 3600;
  std::vector<fetch::window> slices;
  std::int64_t skipped = 0;
  for (int i = 0; i < 100; ++i) {
    fetch::catchup step = fetch::window_after(r, now, checkpoint, 1h);
    slices.push_back(step.w);
    skipped += step.skipped_seconds;
    EXPECT_LE(step.w.end - step.w.start, 600);
    if (checkpoint) {
      EXPECT_LE(step.w.start, std::max(*checkpoint, end - 3600));
    }
    checkpoint = step.w.end;
    if (!step.behind) break;
  }
  ASSERT_EQ(slices.size(), 6u);  // five slices of the hour, then the normal window
  EXPECT_EQ(slices.front().start, end - 3600);
  for (std::size_t i = 1; i < slices.size(); ++i) EXPECT_EQ(slices[i].start, slices[i - 1].end);
  EXPECT_EQ(slices.back(), fetch::window_at(r, now));
  // From a checkpoint off the grid (a window judged before the grid existed), the slices
  // end on the grid at once, and still leave no gap.
  checkpoint = end - 2 * 3600 + 7;
  slices.clear();
  for (int i = 0; i < 100; ++i) {
    fetch::catchup step = fetch::window_after(r, now, checkpoint, 3h);
    EXPECT_EQ(step.w.start, checkpoint.value_or(-1));
    EXPECT_LE(step.w.end - step.w.start, 600);
    EXPECT_EQ(step.w.end % 30, 0) << step.w.end;
    slices.push_back(step.w);
    checkpoint = step.w.end;
    if (!step.behind) break;
  }
  EXPECT_EQ(slices.back().end, end);
  EXPECT_EQ(skipped, 3600);
}

namespace {
const char* const population = R"yaml(smartsight: {customer_id: 199493832, api_key_env: QW_KEY}
sinks:
  - {name: oncall, type: webhook, url: "https://hooks.example.com/qoe"}
rules:
  - name: cdn_rebuffering
    filter: "[sourcetype=HLS|DASH]"
    qoefilter: "cirrbufferingratio > 2 AND latency > 1"
    group_by: [cdn, platform]
    when: "ratio > 10% AND p95(latency) > 4 AND avg(watchtime) < 60"
    fields: [assetname, cdn]
  - name: startup
    when: "sessions >= 100 AND p95(latency) > 4"
    for: 3
    min_sample: 100
    resolve_when: "p95(latency) < 3"
    sinks: []
)yaml";
}  // namespace

TEST(Query, APopulationRuleAsksForEveryRowAndEveryFieldItJudges) {
  config::daemon_config c = load_ok(population);
  const config::rule_config& r = c.rules.at(0);
  // The qoefilter's metrics, the session's own, then the dimensions, the aggregated metrics
  // and the fields, each once.
  EXPECT_EQ(fetch::requested_metrics(r),
            (std::vector<std::string>{"cirrbufferingratio", "latency", "sessionid", "starttime",
                                      "endtime", "cdn", "platform", "watchtime", "assetname"}));
  // No qoefilter: SmartSight would leave out the sessions the ratio divides by.
  EXPECT_EQ(fetch::listsessions_target(c.smartsight, r, fetch::window_at(r, now), 0),
            "/mm-apis/listsessions/199493832"
            "?period=start%3D1775749920%2Cend%3D1775750520"
            "&metrics=cirrbufferingratio%2Clatency%2Csessionid%2Cstarttime%2Cendtime%2Ccdn%2C"
            "platform%2Cwatchtime%2Cassetname"
            "&aggby=sessionid&sessiontype=ended"
            "&filter=%5Bsourcetype%3DHLS%7CDASH%5D"
            "&limit=1000&offset=0");
  const config::rule_config& bare = c.rules.at(1);
  EXPECT_EQ(fetch::requested_metrics(bare),
            (std::vector<std::string>{"sessionid", "starttime", "endtime", "latency"}));
}

TEST(CheckConfig, APopulationRuleSaysHowItJudgesAndThatItSendsNoQoefilter) {
  config::daemon_config c = load_ok(population);
  EXPECT_EQ(
      cli::check_config_report(c, now),
      "q.yaml: OK, 2 rules, 1 sink\n"
      "state in SQLite at /var/lib/qoewatch\n"
      "cdn_rebuffering (every 1m, window 10m, delay 2m, warning, sinks: oncall): GET "
      "https://smartsight3.mediamelon.com/mm-apis/listsessions/199493832?period=start%"
      "3D1775749920%2Cend%3D1775750520&metrics=cirrbufferingratio%2Clatency%2Csessionid%"
      "2Cstarttime%2Cendtime%2Ccdn%2Cplatform%2Cwatchtime%2Cassetname&aggby=sessionid&"
      "sessiontype=ended&filter=%5Bsourcetype%3DHLS%7CDASH%5D&limit=1000&offset=0\n"
      "  population rule: one group per cdn,platform; fires when ratio > 10% AND p95(latency) > "
      "4 AND avg(watchtime) < 60 holds 1 poll (groups of at least 20 sessions); resolves after "
      "2 poll(s) of NOT (ratio > 10% AND p95(latency) > 4 AND avg(watchtime) < 60)\n"
      "  every row of the window is fetched and judged here; qoefilter \"cirrbufferingratio > 2 "
      "AND latency > 1\" is not sent to SmartSight (it would remove the denominator)\n"
      "startup (every 1m, window 10m, delay 2m, warning, sinks: none): GET "
      "https://smartsight3.mediamelon.com/mm-apis/listsessions/199493832?period=start%"
      "3D1775749920%2Cend%3D1775750520&metrics=sessionid%2Cstarttime%2Cendtime%2Clatency&"
      "aggby=sessionid&sessiontype=ended&limit=1000&offset=0\n"
      "  population rule: one group per window (no group_by); fires when sessions >= 100 AND "
      "p95(latency) > 4 holds 3 polls in a row (groups of at least 100 sessions); resolves "
      "after 2 poll(s) of p95(latency) < 3\n"
      "  every row of the window is fetched and judged here\n");
}
