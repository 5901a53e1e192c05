// Maintenance windows in the config (issue 18): time_intervals: in Alertmanager's syntax, the
// rules' mute_time_intervals and active_time_intervals naming them (in rule files too), and the
// two settings that come with the silence API (web.allow_unauthenticated_writes,
// state.silence_retention). Values as parsed, and the exact error texts an operator reads.
#include <gtest/gtest.h>

#include <chrono>

#include "cli/options.hpp"
#include "config/load.hpp"
#include "config/reload_plan.hpp"
#include "config_fixtures.hpp"

using namespace qoewatch;
using namespace qoewatch::testing_config;
using namespace std::chrono_literals;
using names = std::vector<std::string>;
using ranges = std::vector<config::int_range>;
using times = std::vector<config::time_range>;

namespace {

// The minimal config (6 lines, its rule last) followed by `more`, which starts on line 7: a
// line indented by four spaces still belongs to the rule.
std::string with(const std::string& more) {
  return std::string(minimal) + more;
}

// Lines 7 to 9: one named interval whose intervals follow from line 10, each "      - ...".
const std::string named_m = "time_intervals:\n  - name: m\n    time_intervals:\n";

const char* const example = R"(smartsight:
  customer_id: 42
  api_key_env: QW_TEST_KEY
rules:
  - name: slow
    qoefilter: latency > 5
    mute_time_intervals: [edgeb-maintenance]
    active_time_intervals: [office-hours, weekend]
  - name: plain
    qoefilter: latency > 9
time_intervals:
  - name: edgeb-maintenance
    time_intervals:
      - times: [{start_time: "02:00", end_time: "04:00"}]
        weekdays: ["saturday", "monday:friday"]
        days_of_month: ["1:5", "-1"]
        months: ["january:march", "12"]
        years: ["2026:2027"]
        location: Europe/Berlin
      - {}
  - name: office-hours
    time_intervals:
      - times:
          - start_time: "09:00"
            end_time: "12:00"
          - {start_time: "13:00", end_time: "24:00"}
        weekdays: [Monday:Friday]
        location: UTC
  - name: weekend
)";

}  // namespace

TEST(ConfigTimeIntervals, AlertmanagersSyntaxIsReadIntoTheStructs) {
  config::load_result r = config::load_from_string(example, "c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  const std::vector<config::named_time_interval>& ti = r.config->time_intervals;
  ASSERT_EQ(ti.size(), 3u);
  EXPECT_EQ(ti[0].name, "edgeb-maintenance");
  EXPECT_EQ(ti[1].name, "office-hours");
  EXPECT_EQ(ti[2].name, "weekend");

  ASSERT_EQ(ti[0].intervals.size(), 2u);
  const config::time_interval& full = ti[0].intervals[0];
  EXPECT_EQ(full.times, (times{{120, 240}}));
  EXPECT_EQ(full.weekdays, (ranges{{6, 6}, {1, 5}}));  // Sunday is 0
  EXPECT_EQ(full.days_of_month, (ranges{{1, 5}, {-1, -1}}));
  EXPECT_EQ(full.months, (ranges{{1, 3}, {12, 12}}));
  EXPECT_EQ(full.years, (ranges{{2026, 2027}}));
  EXPECT_EQ(full.location, "Europe/Berlin");
  const config::parsed<const date::time_zone*> berlin = config::find_location("Europe/Berlin");
  ASSERT_TRUE(berlin.ok);
  EXPECT_NE(full.zone, nullptr);
  EXPECT_EQ(full.zone, *berlin.ok);
  EXPECT_NE(full.zone, *config::find_location("Europe/Lisbon").ok);

  // {}: no field, so it always holds.
  const config::time_interval& empty = ti[0].intervals[1];
  EXPECT_FALSE(empty.times || empty.weekdays || empty.days_of_month || empty.months || empty.years);
  EXPECT_EQ(empty.location, "");
  EXPECT_EQ(empty.zone, nullptr);

  ASSERT_EQ(ti[1].intervals.size(), 1u);
  const config::time_interval& office = ti[1].intervals[0];
  EXPECT_EQ(office.times, (times{{540, 720}, {780, 1440}}));  // "24:00" ends the day
  EXPECT_EQ(office.weekdays, (ranges{{1, 5}}));               // names in any case
  EXPECT_FALSE(office.months);
  EXPECT_EQ(office.location, "UTC");
  EXPECT_EQ(office.zone, nullptr);

  EXPECT_TRUE(ti[2].intervals.empty());  // a name alone never holds

  // Rules name them, written before them in the file.
  ASSERT_EQ(r.config->rules.size(), 2u);
  EXPECT_EQ(r.config->rules[0].mute_time_intervals, (names{"edgeb-maintenance"}));
  EXPECT_EQ(r.config->rules[0].active_time_intervals, (names{"office-hours", "weekend"}));
  EXPECT_TRUE(r.config->rules[1].mute_time_intervals.empty());
  EXPECT_TRUE(r.config->rules[1].active_time_intervals.empty());
}

TEST(ConfigTimeIntervals, WithoutTheSectionThereAreNone) {
  config::load_result r = config::load_from_string(minimal, "c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  EXPECT_TRUE(r.config->time_intervals.empty());
  EXPECT_TRUE(r.config->rules.at(0).mute_time_intervals.empty());
  EXPECT_TRUE(r.config->rules.at(0).active_time_intervals.empty());

  // Empty lists: nothing declared, nothing named.
  r = config::load_from_string(with("    mute_time_intervals: []\ntime_intervals: []\n"), "c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  EXPECT_TRUE(r.config->rules.at(0).mute_time_intervals.empty());
}

TEST(ConfigTimeIntervals, ErrorTextsArePinned) {
  struct row {
    std::string yaml;  // after the minimal config, from line 7
    names errors;
  };
  const std::string at0 = "time_intervals[0].time_intervals[0].";
  const row rows[] = {
      // Times of day: the end that is wrong, or the pair.
      {named_m + "      - times: [{start_time: \"2:00\", end_time: \"04:00\"}]\n",
       {"c.yaml:10:30: " + at0 +
        "times[0].start_time: couldn't parse timestamp 2:00, invalid "
        "format"}},
      {named_m + "      - times: [{start_time: \"02:00\", end_time: \"24:01\"}]\n",
       {"c.yaml:10:49: " + at0 +
        "times[0].end_time: couldn't parse timestamp 24:01, invalid "
        "format"}},
      {named_m + "      - times: [{start_time: \"04:00\", end_time: \"02:00\"}]\n",
       {"c.yaml:10:17: " + at0 +
        "times[0]: start time cannot be equal or greater than end "
        "time"}},
      {named_m + "      - times: [{start_time: \"02:00\"}]\n",
       {"c.yaml:10:17: " + at0 +
        "times[0].end_time: both start and end times must be "
        "provided"}},
      {named_m + "      - times: [{start: \"02:00\", end_time: \"04:00\"}]\n",
       {"c.yaml:10:18: " + at0 + "times[0].start: unknown key (did you mean \"start_time\"?)"}},
      // The other fields, each with its parser's words.
      {named_m + "      - location: Europe/Berln\n",
       {"c.yaml:10:19: " + at0 + "location: unknown time zone Europe/Berln"}},
      {named_m + "      - weekdays: [monday:fryday]\n",
       {"c.yaml:10:20: " + at0 + "weekdays[0]: fryday is not a valid weekday"}},
      {named_m + "      - weekdays: monday\n",
       {"c.yaml:10:19: " + at0 + "weekdays: must be a list (write [monday:friday, saturday])"}},
      {named_m + "      - days_of_month: [\"0\"]\n",
       {"c.yaml:10:25: " + at0 +
        "days_of_month[0]: 0 is not a valid day of the month: out of "
        "range"}},
      {named_m + "      - months: [march:january]\n",
       {"c.yaml:10:18: " + at0 + "months[0]: end month january is before start month march"}},
      {named_m + "      - years: [\"2027:2026\"]\n",
       {"c.yaml:10:17: " + at0 + "years[0]: end year 2026 is before start year 2027"}},
      {named_m + "      - weekday: [monday]\n",
       {"c.yaml:10:9: " + at0 + "weekday: unknown key (did you mean \"weekdays\"?)"}},
      // The named entries.
      {"time_intervals:\n  - name: m\n    intervals: []\n",
       {"c.yaml:9:5: time_intervals[0].intervals: unknown key (valid keys: name, "
        "time_intervals)"}},
      {"time_intervals:\n  - name: m\n  - name: m\n",
       {"c.yaml:9:11: time_intervals[1].name: \"m\" is already the name of the time interval at "
        "line 8 (time interval names must be unique)"}},
      {"time_intervals:\n  - time_intervals: []\n",
       {"c.yaml:8:5: time_intervals[0].name: missing (required: the name rules give in "
        "mute_time_intervals or active_time_intervals)"}},
      {"time_intervals:\n  - name: \"\"\n",
       {"c.yaml:8:11: time_intervals[0].name: must not be "
        "empty"}},
      {"time_intervals: {name: m}\n",
       {"c.yaml:7:17: time_intervals: must be a list (write - name: maintenance time_intervals: "
        "[...])"}},
      {"mute_time_intervals:\n  - name: m\n",
       {"c.yaml:7:1: mute_time_intervals: write time_intervals: (Alertmanager's newer name for "
        "this list; mute_time_intervals: belongs in a rule and names intervals of it)"}},
      // Rules name declared intervals, each once.
      {"    mute_time_intervals: [edgeb-maintenanse]\ntime_intervals:\n  - name: "
       "edgeb-maintenance\n",
       {"c.yaml:7:27: rules[0].mute_time_intervals[0]: unknown time interval "
        "\"edgeb-maintenanse\" (did you mean \"edgeb-maintenance\"?)"}},
      {"    active_time_intervals: [weekend]\ntime_intervals:\n  - name: edgeb-maintenance\n  - "
       "name: office-hours\n",
       {"c.yaml:7:29: rules[0].active_time_intervals[0]: unknown time interval \"weekend\" "
        "(defined time intervals: edgeb-maintenance, office-hours)"}},
      {"    mute_time_intervals: [weekend]\n",
       {"c.yaml:7:27: rules[0].mute_time_intervals[0]: unknown time interval \"weekend\" (define "
        "it under time_intervals:)"}},
      {"    mute_time_intervals: [m, m]\ntime_intervals:\n  - name: m\n",
       {"c.yaml:7:30: rules[0].mute_time_intervals[1]: \"m\" is listed twice"}},
      {"    mute_time_intervals: maintenance\n",
       {"c.yaml:7:26: rules[0].mute_time_intervals: must be a list (write [maintenance])"}},
      {"    mute_tme_intervals: [m]\ntime_intervals:\n  - name: m\n",
       {"c.yaml:7:5: rules[0].mute_tme_intervals: unknown key (did you mean "
        "\"mute_time_intervals\"?)"}},
      // An interval that is declared but wrong has its own error, and no second one.
      {"    mute_time_intervals: [m]\ntime_intervals:\n  - name: m\n    time_intervals: "
       "[{location: Mars/Olympus}]\n",
       {"c.yaml:10:33: time_intervals[0].time_intervals[0].location: unknown time zone "
        "Mars/Olympus"}},
  };
  for (const row& r : rows) EXPECT_EQ(errors_of(with(r.yaml)), r.errors) << "for:\n" << r.yaml;
}

TEST(ConfigTimeIntervals, EveryMistakeOfOneIntervalIsReported) {
  EXPECT_EQ(
      errors_of(with(named_m + "      - times: [{start_time: \"2:00\", end_time: \"04:00\"}]\n"
                               "        weekdays: [monday:fryday]\n"
                               "        location: Europe/Berln\n")),
      (names{"c.yaml:10:30: time_intervals[0].time_intervals[0].times[0].start_time: "
             "couldn't parse timestamp 2:00, invalid format",
             "c.yaml:11:20: time_intervals[0].time_intervals[0].weekdays[0]: fryday is not "
             "a valid weekday",
             "c.yaml:12:19: time_intervals[0].time_intervals[0].location: unknown time zone "
             "Europe/Berln"}));
}

TEST(ConfigTimeIntervals, ARuleFileNamesTheIntervalsOfTheMainFile) {
  temp_dir dir;
  const std::string rule_file = dir.write("rules/r.yaml", R"(rules:
  - name: r
    qoefilter: latency > 5
    mute_time_intervals: [edgeb-maintenance]
)");
  // rule_files comes first: the intervals are still known when its rules are read.
  const std::string main = dir.write("q.yaml", R"(smartsight: {customer_id: 1, api_key_env: K}
rule_files: [rules/*.yaml]
time_intervals:
  - name: edgeb-maintenance
    time_intervals: [{weekdays: [sunday]}]
)");
  config::load_result r = config::load(main);
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  ASSERT_EQ(r.config->rules.size(), 1u);
  EXPECT_EQ(r.config->rules[0].mute_time_intervals, (names{"edgeb-maintenance"}));
  EXPECT_EQ(r.config->time_intervals.at(0).intervals.at(0).weekdays, (ranges{{0, 0}}));

  dir.write("rules/r.yaml", R"(rules:
  - name: r
    qoefilter: latency > 5
    active_time_intervals: [edgeb-maintenanse]
)");
  EXPECT_EQ(texts(config::load(main)),
            (names{rule_file + ":4:29: rules[0].active_time_intervals[0]: unknown time interval "
                               "\"edgeb-maintenanse\" (did you mean \"edgeb-maintenance\"?)"}));
}

TEST(ConfigTimeIntervals, UnauthenticatedWritesAreOffUnlessAllowed) {
  config::load_result r = config::load_from_string(minimal, "c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  EXPECT_FALSE(r.config->web.allow_unauthenticated_writes);

  r = config::load_from_string(with("web:\n  allow_unauthenticated_writes: true\n"), "c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  EXPECT_TRUE(r.config->web.allow_unauthenticated_writes);

  r = config::load_from_string(with("web: {allow_unauthenticated_writes: false}\n"), "c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  EXPECT_FALSE(r.config->web.allow_unauthenticated_writes);

  // Only true and false: yes, on and 1 mean true to some YAML readers and text to others.
  EXPECT_EQ(errors_of(with("web: {allow_unauthenticated_writes: yes}\n")),
            (names{"c.yaml:7:37: web.allow_unauthenticated_writes: \"yes\" is not true or false"}));
  EXPECT_EQ(errors_of(with("web: {allow_unauthenticated_writes: [true]}\n")),
            (names{"c.yaml:7:37: web.allow_unauthenticated_writes: must be true or false"}));
  EXPECT_EQ(errors_of(with("web: {allow_unauthenticated_write: true}\n")),
            (names{"c.yaml:7:7: web.allow_unauthenticated_write: unknown key (did you mean "
                   "\"allow_unauthenticated_writes\"?)"}));
}

TEST(ConfigTimeIntervals, SilenceRetentionIsAPositiveDurationInEitherBackend) {
  config::load_result r = config::load_from_string(minimal, "c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  EXPECT_EQ(r.config->state.silence_retention, 120h);  // Alertmanager's --data.retention

  r = config::load_from_string(with("state: {silence_retention: 30m}\n"), "c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  EXPECT_EQ(r.config->state.silence_retention, 30min);

  r = config::load_from_string(
      with("state:\n  backend: postgresql\n  url_file: /u\n  silence_retention: 1h30m\n"),
      "c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  EXPECT_EQ(r.config->state.silence_retention, 90min);

  EXPECT_EQ(errors_of(with("state: {silence_retention: 0s}\n")),
            (names{"c.yaml:7:28: state.silence_retention: must be longer than 0s"}));
  EXPECT_EQ(errors_of(with("state: {silence_retention: -1h}\n")),
            (names{"c.yaml:7:28: state.silence_retention: \"-1h\" is not a duration (use 30s, "
                   "5m, 1h)"}));
  EXPECT_EQ(errors_of(with("state: {silence_retention: 5 days}\n")),
            (names{"c.yaml:7:28: state.silence_retention: \"5 days\" is not a duration (use "
                   "30s, 5m, 1h)"}));
}

TEST(ConfigTimeIntervals, ChangingARulesIntervalsRestartsIt) {
  config::load_result before = config::load_from_string(example, "c.yaml");
  ASSERT_TRUE(before.config) << testing::PrintToString(texts(before));
  config::daemon_config after = *before.config;
  after.rules[0].active_time_intervals = {"office-hours"};
  EXPECT_FALSE(config::same_settings(after.rules[0], before.config->rules[0]));
  const config::reload_plan plan = config::plan_reload(&*before.config, {}, after, {});
  EXPECT_EQ(plan.restart, (names{"slow"}));
  EXPECT_EQ(plan.start, (names{"slow"}));
  EXPECT_TRUE(plan.resolve.empty());  // how sessions are judged did not change
}

TEST(ConfigTimeIntervals, CheckConfigNamesEachRulesIntervals) {
  config::load_result r = config::load_from_string(example, "c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  const std::string report = cli::check_config_report(*r.config, std::chrono::system_clock::now());
  const std::size_t slow = report.find("\nslow (");
  const std::size_t plain = report.find("\nplain (");
  ASSERT_NE(slow, std::string::npos) << report;
  ASSERT_NE(plain, std::string::npos) << report;
  const std::string slow_lines = report.substr(slow + 1, plain - slow);
  const std::size_t first_end = slow_lines.find('\n');
  EXPECT_EQ(slow_lines.substr(first_end + 1),
            "  mute_time_intervals: edgeb-maintenance (notifications held while any of them "
            "holds)\n"
            "  active_time_intervals: office-hours, weekend (notifications held while none of "
            "them holds)\n");
  // A rule without any gets no such line.
  EXPECT_EQ(report.find("time_intervals", plain), std::string::npos) << report;
}
