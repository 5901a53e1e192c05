// The rows a backtest holds between windows, and what it records of each rule's polls.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "backtest/feed.hpp"
#include "backtest/report.hpp"
#include "backtest/tally.hpp"
#include "config/load.hpp"
#include "config/time_interval.hpp"
#include "evaluate/replay.hpp"

using namespace qoewatch;

namespace {

config::daemon_config config_with(const std::string& rules) {
  config::load_result r = config::load_from_string(
      "smartsight: {customer_id: 7, api_key_env: K}\n"
      "sinks: [{name: hook, type: webhook, url: \"http://h/\"}]\nrules:\n" +
          rules,
      "t.yaml");
  for (const auto& d : r.errors) ADD_FAILURE() << d.to_string();
  return r.config ? *r.config : config::daemon_config{};
}

// A listsessions body: sessions (id, endtime, latency, cdn).
std::string body(const std::vector<std::tuple<std::string, double, double, std::string>>& rows) {
  boost::json::array a;
  for (const auto& [id, end, latency, cdn] : rows)
    a.push_back({{"latency", latency}, {"sessionid", id}, {"endtime", end}, {"cdn", cdn}});
  return boost::json::serialize(boost::json::object{{"response", a}});
}

std::size_t offending(const config::daemon_config& cfg, const backtest::row_feed& feed,
                      fetch::window w) {
  evaluate::poll_outcome out = evaluate::prepare_outcome(cfg.rules[0], cfg.smartsight, w);
  feed.feed(w, out);
  evaluate::conclude(out);
  return out.acc->offending().size();
}

}  // namespace

TEST(BacktestFeed, EachWindowTakesExactlyItsRowsFromTheChunksReadOnce) {
  config::daemon_config cfg =
      config_with("  - {name: a, qoefilter: \"latency > 5\", fields: [cdn], window: 60s}\n");
  backtest::row_feed feed(fetch::schema_for(cfg.rules[0]));
  std::size_t rows = 0;
  // Chunk [1000, 1100]: out of endtime order, as pages sort by the metric.
  EXPECT_EQ(feed.add_page(body({{"a", 1050, 9, "x"}, {"b", 1000, 9, "x"}, {"c", 1100, 9, "x"}}),
                          1000, false, rows),
            "");
  EXPECT_EQ(rows, 3u);
  feed.close_chunk();
  // Chunk [1100, 1200]: SmartSight's period is inclusive at both ends, so c (1100) comes again
  // and is left out; d and e are new.
  EXPECT_EQ(feed.add_page(body({{"c", 1100, 9, "x"}, {"e", 1200, 1, "x"}, {"d", 1150.5, 9, "x"}}),
                          1100, true, rows),
            "");
  feed.close_chunk();
  EXPECT_EQ(feed.rows_read(), 5u);
  // An unusable body changes nothing.
  EXPECT_NE(feed.add_page("{\"response\": 3}", 1200, true, rows), "");
  feed.drop_chunk();
  EXPECT_EQ(feed.rows_read(), 5u);

  struct row {
    fetch::window w;
    std::size_t rows, offending;
  };
  const std::vector<row> windows = {
      {{1000, 1060}, 2, 2},  // b at the start (inclusive), a
      {{1040, 1100}, 2, 2},  // a, c at the end (inclusive)
      {{1100, 1160}, 2, 2},  // c at the start, d, across the chunks' border
      {{1140, 1200}, 2, 1},  // d, e (not offending) at the end
      {{1201, 1300}, 0, 0},
  };
  for (const row& r : windows) {
    EXPECT_EQ(feed.count(r.w), r.rows) << r.w.start;
    EXPECT_EQ(offending(cfg, feed, r.w), r.offending) << r.w.start;
  }
  // Chunks whose every row ended before 1101 go; the next still holds c.. e.
  feed.forget_before(1101);
  EXPECT_EQ(feed.rows_held(), 2u);  // the first chunk went whole (b, a, c); d, e stay
  EXPECT_EQ(feed.count({1100, 1200}), 2u);
}

TEST(BacktestTally, APerSessionIncidentWithItsPeakNightAndDays) {
  config::daemon_config cfg = config_with(
      "  - {name: slow, qoefilter: \"latency > 5\", fields: [cdn], interval: 60s, window: 60s,\n"
      "     delay: 0s, resolve_after: 1}\n");
  const config::rule_config& rule = cfg.rules[0];
  evaluate::replay r(cfg, rule);
  backtest::rule_tally tally(rule, nullptr);
  backtest::row_feed feed(fetch::schema_for(rule));
  // 2026-12-01 05:58 UTC: the incident fires at 05:59 (a night), peaks at 3 and resolves at
  // 06:01; one more poll a day later, on 2026-12-02.
  const std::int64_t t = 1'796'104'680;  // 2026-12-01T05:58:00Z
  std::size_t rows = 0;
  feed.add_page(body({{"a", t + 30, 9, "x"},
                      {"b", t + 90, 9, "x"},
                      {"c", t + 100, 9, "x"},
                      {"d", t + 110, 9, "x"},
                      {"e", t + 115, 1, "x"}}),
                t, false, rows);
  feed.close_chunk();
  const std::vector<std::int64_t> ends = {t + 60, t + 120, t + 180, t + 86'400};
  for (std::int64_t end : ends) {
    evaluate::poll_outcome out = evaluate::prepare_outcome(rule, cfg.smartsight, {end - 60, end});
    feed.feed(out.window, out);
    evaluate::conclude(out);
    const double now = static_cast<double>(end);
    tally.record(now, out, r.poll(out, now));
  }
  ASSERT_EQ(tally.incidents().size(), 1u);
  const backtest::incident_record& i = tally.incidents()[0];
  EXPECT_EQ(i.fired_at, static_cast<double>(t + 60));
  ASSERT_TRUE(i.resolved_at);
  EXPECT_EQ(*i.resolved_at, static_cast<double>(t + 180));
  EXPECT_TRUE(i.at_night);
  EXPECT_EQ(i.peak_offending, 3u);
  EXPECT_EQ(i.sessions_notified, 4u);
  EXPECT_TRUE(i.group.empty());
  ASSERT_EQ(tally.days().size(), 2u);
  EXPECT_EQ(tally.days()[0].date, "2026-12-01");
  EXPECT_EQ(tally.days()[0].polls, 3u);
  EXPECT_EQ(tally.days()[0].incidents, 1u);
  EXPECT_EQ(tally.days()[0].sessions_notified, 4u);
  EXPECT_EQ(tally.days()[1].date, "2026-12-02");
  EXPECT_EQ(tally.totals().incidents_at_night, 1u);
  // The webhook's bodies: a's, then b, c and d's, then the resolve.
  EXPECT_EQ(tally.totals().notifications, 3u);

  // In Asia/Tokyo (UTC+9) the same incident fired at 14:59: not a night; its day is the 1st.
  config::parsed<const date::time_zone*> tokyo = config::find_location("Asia/Tokyo");
  ASSERT_TRUE(tokyo.ok);
  backtest::rule_tally there(rule, *tokyo.ok);
  EXPECT_EQ(there.local(static_cast<double>(t + 60)),
            std::make_pair(std::string("2026-12-01"), false));
  EXPECT_EQ(there.local(static_cast<double>(t + 12 * 3600)),
            std::make_pair(std::string("2026-12-02"), true));  // 02:58 on the 2nd in Tokyo
}

TEST(BacktestTally, AGroupIncidentCarriesItsLabelsAndPeaksAndAGapIsNotQuiet) {
  config::daemon_config cfg = config_with(
      "  - {name: cdn, qoefilter: \"latency > 5\", group_by: [cdn], when: \"ratio > 40%\",\n"
      "     min_sample: 2, for: 1, resolve_after: 1, interval: 60s, window: 60s, delay: 0s}\n");
  const config::rule_config& rule = cfg.rules[0];
  evaluate::replay r(cfg, rule);
  backtest::rule_tally tally(rule, nullptr);
  backtest::row_feed feed(fetch::schema_for(rule));
  const std::int64_t t = 1'796'126'400;  // 2026-12-01T12:00:00Z
  std::size_t rows = 0;
  // edgeB: 1 of 2 offend at first (50 %), then 3 of 4 (75 %), then none of 2.
  feed.add_page(body({{"a", t + 10, 9, "edgeB"},
                      {"b", t + 20, 1, "edgeB"},
                      {"c", t + 70, 9, "edgeB"},
                      {"d", t + 80, 9, "edgeB"},
                      {"e", t + 90, 9, "edgeB"},
                      {"f", t + 100, 1, "edgeB"},
                      {"g", t + 130, 1, "edgeB"},
                      {"h", t + 140, 1, "edgeB"},
                      {"i", t + 150, 1, "edgeA"},
                      {"j", t + 160, 1, "edgeA"}}),
                t, false, rows);
  feed.close_chunk();
  for (std::int64_t end : {t + 60, t + 120, t + 180}) {
    evaluate::poll_outcome out = evaluate::prepare_outcome(rule, cfg.smartsight, {end - 60, end});
    feed.feed(out.window, out);
    evaluate::conclude(out);
    tally.record(static_cast<double>(end), out, r.poll(out, static_cast<double>(end)));
  }
  tally.unfetched(static_cast<double>(t + 240), {t + 180, t + 240}, "SmartSight answered HTTP 503");
  tally.unfetched(static_cast<double>(t + 300), {t + 240, t + 300}, "SmartSight answered HTTP 503");

  ASSERT_EQ(tally.incidents().size(), 1u);
  const backtest::incident_record& i = tally.incidents()[0];
  EXPECT_EQ(i.group, (std::vector<std::pair<std::string, std::string>>{{"cdn", "edgeB"}}));
  EXPECT_EQ(i.fired_at, static_cast<double>(t + 60));
  EXPECT_EQ(i.resolved_at, static_cast<double>(t + 180));
  EXPECT_EQ(i.polls, 2u);
  EXPECT_EQ(i.peak_sessions, 4u);
  EXPECT_EQ(i.peak_offending, 3u);
  EXPECT_DOUBLE_EQ(i.peak_ratio, 0.75);
  // Two windows not fetched are one gap, counted as failed polls.
  ASSERT_EQ(tally.gaps().size(), 1u);
  EXPECT_EQ(tally.gaps()[0].span, (fetch::window{t + 180, t + 300}));
  EXPECT_EQ(tally.totals().polls, 5u);
  EXPECT_EQ(tally.totals().polls_failed, 2u);

  // The JSON lines carry the fields, the summary last.
  backtest::fetch_facts f;
  f.rows_fetched = 10;
  f.pages = 1;
  std::vector<boost::json::object> lines;
  const std::string text = backtest::json_lines(tally, f);
  for (std::size_t at = 0, nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1)
    lines.push_back(boost::json::parse(text.substr(at, nl - at)).as_object());
  ASSERT_EQ(lines.size(), 4u);  // the incident, the gap, one day, the summary
  EXPECT_EQ(lines[0].at("type"), "incident");
  EXPECT_EQ(lines[0].at("rule"), "cdn");
  EXPECT_EQ(lines[0].at("group"), (boost::json::object{{"cdn", "edgeB"}}));
  EXPECT_EQ(lines[0].at("fired_at"), "2026-12-01T12:01:00Z");
  EXPECT_EQ(lines[0].at("resolved_at"), "2026-12-01T12:03:00Z");
  EXPECT_EQ(lines[0].at("peak").at("ratio"), 0.75);
  EXPECT_EQ(lines[1].at("type"), "gap");
  EXPECT_EQ(lines[1].at("error"), "SmartSight answered HTTP 503");
  EXPECT_EQ(lines[2].at("type"), "day");
  EXPECT_EQ(lines[2].at("date"), "2026-12-01");
  EXPECT_EQ(lines[2].at("polls"), 5);
  EXPECT_EQ(lines[2].at("incidents"), 1);
  EXPECT_EQ(lines[2].at("sessions_notified"), 0);
  EXPECT_EQ(lines[3].at("type"), "summary");
  EXPECT_EQ(lines[3].at("polls"), 5);
  EXPECT_EQ(lines[3].at("incidents"), 1);
  EXPECT_EQ(lines[3].at("sessions_notified"), 0);
  EXPECT_EQ(lines[3].at("rows_fetched"), 10);

  const std::string report = backtest::text_report(tally, f, "UTC");
  EXPECT_NE(report.find("incident cdn=edgeB fired 2026-12-01T12:01:00Z, resolved "
                        "2026-12-01T12:03:00Z after 2m; peak 4 sessions, 3 offending, 75.00 %"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("NOT JUDGED 2026-12-01T12:03:00Z .. 2026-12-01T12:05:00Z: SmartSight "
                        "answered HTTP 503"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("would have paged 1 time, 0 of them between 00:00 and 06:00 (UTC)"),
            std::string::npos)
      << report;
}

TEST(BacktestReport, TheTextListsTheFirstTwentyIncidentsAndCountsTheRest) {
  config::daemon_config cfg = config_with(
      "  - {name: flappy, qoefilter: \"latency > 5\", interval: 60s, window: 60s, delay: 0s,\n"
      "     resolve_after: 1}\n");
  const config::rule_config& rule = cfg.rules[0];
  evaluate::replay r(cfg, rule);
  backtest::rule_tally tally(rule, nullptr);
  backtest::row_feed feed(fetch::schema_for(rule));
  const std::int64_t t = 1'796'126'400;
  std::vector<std::tuple<std::string, double, double, std::string>> rows;
  for (int i = 0; i < 25; ++i)  // one slow session every other minute
    rows.emplace_back("s" + std::to_string(i), static_cast<double>(t + 120 * i + 30), 9, "x");
  std::size_t n = 0;
  feed.add_page(body(rows), t, false, n);
  feed.close_chunk();
  for (std::int64_t end = t + 60; end <= t + 120 * 25; end += 60) {
    evaluate::poll_outcome out = evaluate::prepare_outcome(rule, cfg.smartsight, {end - 60, end});
    feed.feed(out.window, out);
    evaluate::conclude(out);
    tally.record(static_cast<double>(end), out, r.poll(out, static_cast<double>(end)));
  }
  ASSERT_EQ(tally.incidents().size(), 25u);
  const std::string report = backtest::text_report(tally, {}, "UTC");
  std::size_t listed = 0;
  for (std::size_t at = 0; (at = report.find("  incident fired ", at)) != std::string::npos; ++at)
    ++listed;
  EXPECT_EQ(listed, 20u) << report;
  EXPECT_NE(report.find("... and 5 more incidents (--output json lists every one)"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("would have paged 25 times"), std::string::npos) << report;
  EXPECT_EQ(backtest::json_lines(tally, {}).find("{\"type\":\"incident\""), 0u);
}

TEST(BacktestTally, AMaintenanceWindowHoldsWhatItWouldHaveSentAndCountsIt) {
  // Muted all day: the incident still fires (a backtest reports it) but tells nobody.
  config::load_result loaded = config::load_from_string(
      "smartsight: {customer_id: 7, api_key_env: K}\n"
      "sinks: [{name: hook, type: webhook, url: \"http://h/\"}]\n"
      "time_intervals:\n"
      "  - name: always\n"
      "    time_intervals: [{times: [{start_time: \"00:00\", end_time: \"24:00\"}]}]\n"
      "rules:\n"
      "  - {name: slow, qoefilter: \"latency > 5\", interval: 60s, window: 60s, delay: 0s,\n"
      "     mute_time_intervals: [always]}\n",
      "t.yaml");
  for (const auto& d : loaded.errors) ADD_FAILURE() << d.to_string();
  ASSERT_TRUE(loaded.config);
  const config::daemon_config& cfg = *loaded.config;
  const config::rule_config& rule = cfg.rules[0];
  evaluate::replay r(cfg, rule);
  backtest::rule_tally tally(rule, nullptr);
  backtest::row_feed feed(fetch::schema_for(rule));
  const std::int64_t t = 1'796'126'400;
  std::size_t n = 0;
  feed.add_page(body({{"a", t + 30, 9, "x"}, {"b", t + 40, 9, "x"}}), t, false, n);
  feed.close_chunk();
  evaluate::poll_outcome out = evaluate::prepare_outcome(rule, cfg.smartsight, {t, t + 60});
  feed.feed(out.window, out);
  evaluate::conclude(out);
  tally.record(static_cast<double>(t + 60), out, r.poll(out, static_cast<double>(t + 60)));
  EXPECT_EQ(tally.totals().incidents, 1u);
  EXPECT_EQ(tally.totals().notifications, 0u);
  EXPECT_GT(tally.totals().held, 0u);
  EXPECT_EQ(tally.days().at(0).held, tally.totals().held);
}
