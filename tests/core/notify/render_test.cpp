// What each sink type receives: the webhook's Alertmanager shape with the incident, postable
// alerts for Alertmanager, Slack messages, PagerDuty Events API v2; summary templates; and JSON
// that no hostile value can break.
#include "notify/render.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <regex>

#include "config/load.hpp"
#include "text/template.hpp"

using namespace qoewatch;
namespace json = boost::json;

namespace {

constexpr double now = 1775750640;         // 2026-04-09T16:04:00Z
constexpr double started_at = 1775750580;  // 2026-04-09T16:03:00Z
constexpr double ended_at = 1775754240;    // 2026-04-09T17:04:00Z
const std::string key = "slow_startup_android/1775750580";

config::rule_config load_rule(std::string_view rule_yaml) {
  std::string yaml = R"(smartsight: {customer_id: 199493832, api_key_env: K}
sinks: [{name: oncall, type: webhook, url: "http://h/"}]
rules:
)" + std::string(rule_yaml);
  config::load_result r = config::load_from_string(yaml, "t.yaml");
  EXPECT_TRUE(r.config) << yaml;
  return r.config ? r.config->rules.at(0) : config::rule_config{};
}

config::rule_config example_rule() {
  return load_rule(R"(  - name: slow_startup_android
    description: Startup over 5 s on Android
    qoefilter: "latency > 5"
    fields: [assetname, cdn]
    interval: 30s
    severity: critical
    labels: {team: player}
)");
}

config::sink_config sink(config::sink_type t, std::size_t max = 100) {
  config::sink_config s;
  s.name = "oncall";
  s.type = t;
  s.max_sessions_per_notification = max;
  return s;
}

// A rule, its sessions, and the event about them.
struct scenario {
  config::rule_config rule = example_rule();
  fetch::row_schema schema = fetch::schema_for(rule);
  std::vector<fetch::session_row> rows;
  std::vector<const fetch::session_row*> ptrs;

  explicit scenario(int sessions = 1) {
    for (int i = 0; i < sessions; ++i) add("s" + std::to_string(i), 6 + i);
  }
  void add(std::string id, double latency, std::vector<std::string> fields = {"Finale", ""}) {
    fetch::session_row r;
    r.sessionid = std::move(id);
    r.endtime = 1775749980;  // 2026-04-09T15:53:00Z
    r.metrics = {latency};
    r.fields = std::move(fields);
    rows.push_back(std::move(r));
  }
  notify::event firing() {
    if (ptrs.size() != rows.size()) {
      ptrs.clear();
      for (const auto& r : rows) ptrs.push_back(&r);
    }
    notify::event e;
    e.rule = &rule;
    e.schema = &schema;
    e.sessions = ptrs;
    e.incident = {key, false, started_at, 0, rows.size() + 10};
    e.ctx.receiver = "oncall";
    e.ctx.external_url = "http://host:9786";
    e.ctx.customer_id = 199493832;
    e.ctx.window = {1775749920, 1775750520};
    e.ctx.query = "https://smartsight3.mediamelon.com/mm-apis/listsessions/199493832?period=x";
    e.now = now;
    return e;
  }
  notify::event resolved() {
    notify::event e = firing();
    e.incident.resolved = true;
    e.incident.ended_at = ended_at;
    e.incident.offending = 1;
    return e;
  }
};

std::vector<json::value> bodies(const config::sink_config& s, const notify::event& e) {
  std::vector<json::value> out;
  for (const notify::rendered& r : notify::render(s, e)) out.push_back(json::parse(r.body));
  return out;
}

std::string str(const json::value& v) {
  return std::string(v.as_string());
}

// Every string in the tree under the key `name`, depth first.
void strings_at(const json::value& v, std::string_view name, std::vector<std::string>& out) {
  if (v.is_object()) {
    for (const auto& [k, child] : v.as_object()) {
      if (k == name && child.is_string()) out.push_back(str(child));
      strings_at(child, name, out);
    }
  } else if (v.is_array()) {
    for (const json::value& child : v.as_array()) strings_at(child, name, out);
  }
}

bool has_key(const json::value& v, std::string_view name) {
  if (v.is_object()) {
    for (const auto& [k, child] : v.as_object())
      if (k == name || has_key(child, name)) return true;
  } else if (v.is_array()) {
    for (const json::value& child : v.as_array())
      if (has_key(child, name)) return true;
  }
  return false;
}

std::vector<std::string> session_ids(const json::value& v) {
  std::vector<std::string> out;
  strings_at(v, "sessionid", out);
  return out;
}

}  // namespace

// ---- webhook ----

TEST(RenderWebhook, FiringBatchesCarryTheIncident) {
  scenario sc(5);
  std::vector<json::value> b = bodies(sink(config::sink_type::webhook, 2), sc.firing());
  ASSERT_EQ(b.size(), 3u);
  std::vector<std::string> seen;
  std::vector<std::int64_t> truncated;
  for (const json::value& v : b) {
    EXPECT_EQ(v.at("status"), "firing");
    EXPECT_EQ(v.at("qoewatch").at("incident"),
              json::parse(R"({"key":"slow_startup_android/1775750580","status":"firing",
                "startsAt":"2026-04-09T16:03:00Z","offending":15})"));
    truncated.push_back(v.at("truncatedAlerts").to_number<std::int64_t>());
    for (const json::value& a : v.at("alerts").as_array())
      seen.push_back(str(a.at("labels").at("sessionid")));
  }
  EXPECT_EQ(truncated, (std::vector<std::int64_t>{3, 1, 0}));
  EXPECT_EQ(seen, (std::vector<std::string>{"s0", "s1", "s2", "s3", "s4"}));
  EXPECT_FALSE(b[0].at("commonAnnotations").as_object().contains("summary"));
}

TEST(RenderWebhook, ResolveIsOneBodyWithTheIncidentAlert) {
  scenario sc(3);
  std::vector<json::value> b = bodies(sink(config::sink_type::webhook, 1), sc.resolved());
  ASSERT_EQ(b.size(), 1u) << "sessions never make a resolve body longer";
  const json::value& v = b[0];
  EXPECT_EQ(v.at("status"), "resolved");
  EXPECT_EQ(v.at("truncatedAlerts"), 0);
  ASSERT_EQ(v.at("alerts").as_array().size(), 1u);
  const json::value& a = v.at("alerts").at(0);
  EXPECT_EQ(a.at("status"), "resolved");
  EXPECT_EQ(a.at("labels"), json::parse(R"({"alertname":"slow_startup_android",
    "severity":"critical","team":"player","incident":"slow_startup_android/1775750580"})"));
  EXPECT_EQ(a.at("startsAt"), "2026-04-09T16:03:00Z");
  EXPECT_EQ(a.at("endsAt"), "2026-04-09T17:04:00Z");
  EXPECT_EQ(a.at("annotations").at("description"), "Startup over 5 s on Android");
  EXPECT_EQ(str(a.at("annotations").at("summary")).rfind("Resolved: slow_startup_android", 0), 0u);
  EXPECT_EQ(str(a.at("fingerprint")), notify::fingerprint({{"alertname", "slow_startup_android"},
                                                           {"severity", "critical"},
                                                           {"team", "player"},
                                                           {"incident", key}}));
  EXPECT_EQ(v.at("qoewatch").at("incident").at("status"), "resolved");
  EXPECT_EQ(v.at("qoewatch").at("incident").at("endsAt"), "2026-04-09T17:04:00Z");
  EXPECT_EQ(v.at("receiver"), "oncall");
}

TEST(RenderWebhook, NothingWhenFiringWithoutNewSessions) {
  scenario sc(0);
  EXPECT_TRUE(notify::render(sink(config::sink_type::webhook), sc.firing()).empty());
  EXPECT_TRUE(notify::render(sink(config::sink_type::slack), sc.firing()).empty());
  EXPECT_TRUE(notify::render(sink(config::sink_type::pagerduty), sc.firing()).empty());
}

TEST(RenderWebhook, TemplateReplacesOnlyTheCommonSummary) {
  scenario sc(3);
  config::sink_config s = sink(config::sink_type::webhook, 2);
  s.summary = "{{rule}}: {{count}} sessions over {{metric}} ({{status}})";
  std::vector<json::value> b = bodies(s, sc.firing());
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].at("commonAnnotations").at("summary"),
            "slow_startup_android: 2 sessions over latency (firing)");
  EXPECT_EQ(b[1].at("commonAnnotations").at("summary"),
            "slow_startup_android: 1 sessions over latency (firing)");
  EXPECT_EQ(b[0].at("commonAnnotations").at("description"), "Startup over 5 s on Android");
  EXPECT_EQ(b[0].at("alerts").at(0).at("annotations").at("summary"), "latency 6 s > 5 s");
}

// ---- alertmanager ----

TEST(RenderAlertmanager, PostableAlertsForTheIncidentAndEachSession) {
  scenario sc(2);
  std::vector<json::value> b = bodies(sink(config::sink_type::alertmanager), sc.firing());
  ASSERT_EQ(b.size(), 1u);
  ASSERT_TRUE(b[0].is_array());
  const json::array& alerts = b[0].as_array();
  ASSERT_EQ(alerts.size(), 3u);
  EXPECT_EQ(alerts[0], json::parse(R"({
    "labels":{"alertname":"slow_startup_android","severity":"critical","team":"player",
              "incident":"slow_startup_android/1775750580"},
    "annotations":{"summary":"12 sessions in the window break latency > 5",
                   "description":"Startup over 5 s on Android"},
    "startsAt":"2026-04-09T16:03:00Z","endsAt":"2026-04-09T16:06:00Z",
    "generatorURL":"http://host:9786"})"));
  EXPECT_EQ(alerts[1], json::parse(R"({
    "labels":{"alertname":"slow_startup_android","severity":"critical","team":"player",
              "sessionid":"s0"},
    "annotations":{"summary":"latency 6 s > 5 s","description":"Startup over 5 s on Android",
                   "latency":"6","assetname":"Finale"},
    "startsAt":"2026-04-09T15:53:00Z","endsAt":"2026-04-09T16:06:00Z",
    "generatorURL":"http://host:9786"})"));
  EXPECT_EQ(alerts[2].at("labels").at("sessionid"), "s1");
}

TEST(RenderAlertmanager, FiringAlertsEndFourIntervalsAfterThePoll) {
  scenario sc(1);
  sc.rule.interval = std::chrono::seconds(90);
  std::vector<json::value> b = bodies(sink(config::sink_type::alertmanager), sc.firing());
  ASSERT_EQ(b.size(), 1u);
  std::vector<std::string> ends;
  strings_at(b[0], "endsAt", ends);
  EXPECT_EQ(ends,
            (std::vector<std::string>{utc_rfc3339(now + 360), utc_rfc3339(now + 360)}));
  EXPECT_EQ(ends[0], "2026-04-09T16:10:00Z");
}

TEST(RenderAlertmanager, ResolveSendsOnlyTheIncidentAlertEndingWhenItEnded) {
  scenario sc(4);
  std::vector<json::value> b = bodies(sink(config::sink_type::alertmanager), sc.resolved());
  ASSERT_EQ(b.size(), 1u);
  ASSERT_EQ(b[0].as_array().size(), 1u);
  const json::value& a = b[0].at(0);
  EXPECT_EQ(str(a.at("labels").at("incident")), key);
  EXPECT_FALSE(a.at("labels").as_object().contains("sessionid"));
  EXPECT_EQ(a.at("startsAt"), "2026-04-09T16:03:00Z");
  EXPECT_EQ(a.at("endsAt"), "2026-04-09T17:04:00Z");
}

TEST(RenderAlertmanager, BatchesPutTheIncidentInTheFirstBody) {
  scenario sc(5);
  std::vector<json::value> b = bodies(sink(config::sink_type::alertmanager, 2), sc.firing());
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0].as_array().size(), 3u);
  EXPECT_EQ(b[1].as_array().size(), 2u);
  EXPECT_EQ(b[2].as_array().size(), 1u);
  EXPECT_EQ(str(b[0].at(0).at("labels").at("incident")), key);
  std::vector<std::string> seen;
  for (const json::value& v : b)
    for (const std::string& id : session_ids(v)) seen.push_back(id);
  EXPECT_EQ(seen, (std::vector<std::string>{"s0", "s1", "s2", "s3", "s4"}));
}

TEST(RenderAlertmanager, FiringWithoutSessionsKeepsTheIncidentAlive) {
  scenario sc(0);
  std::vector<json::value> b = bodies(sink(config::sink_type::alertmanager), sc.firing());
  ASSERT_EQ(b.size(), 1u);
  ASSERT_EQ(b[0].as_array().size(), 1u);
  EXPECT_EQ(str(b[0].at(0).at("labels").at("incident")), key);
  EXPECT_EQ(b[0].at(0).at("endsAt"), "2026-04-09T16:06:00Z");
}

TEST(RenderAlertmanager, LabelsAreValidForAlertmanager) {
  scenario sc(2);
  sc.rule.labels["empty"] = "";
  std::vector<json::value> b = bodies(sink(config::sink_type::alertmanager), sc.firing());
  ASSERT_EQ(b.size(), 1u);
  const std::regex name("[a-zA-Z_][a-zA-Z0-9_]*");
  for (const json::value& a : b[0].as_array()) {
    EXPECT_FALSE(a.at("labels").as_object().contains("empty"));
    for (const auto& [k, v] : a.at("labels").as_object()) {
      EXPECT_TRUE(std::regex_match(std::string(k), name)) << k;
      ASSERT_TRUE(v.is_string()) << k;
      EXPECT_FALSE(v.as_string().empty()) << k;
    }
  }
}

TEST(RenderAlertmanager, TemplatedIncidentSummaryAndNoGeneratorUrlWhenUnknown) {
  scenario sc(3);
  config::sink_config s = sink(config::sink_type::alertmanager, 2);
  s.summary = "{{offending}} offending, {{count}} here, {{incident}}";
  notify::event e = sc.firing();
  e.ctx.external_url.clear();
  std::vector<json::value> b = bodies(s, e);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].at(0).at("annotations").at("summary"),
            "13 offending, 2 here, slow_startup_android/1775750580");
  EXPECT_EQ(b[0].at(1).at("annotations").at("summary"), "latency 6 s > 5 s");
  EXPECT_FALSE(has_key(b[0], "generatorURL")) << "Alertmanager rejects an empty URI";
}

// ---- slack ----

TEST(RenderSlack, MessageHasSummaryListAndContext) {
  scenario sc(2);
  std::vector<json::value> b = bodies(sink(config::sink_type::slack), sc.firing());
  ASSERT_EQ(b.size(), 1u);
  const json::value& v = b[0];
  EXPECT_EQ(v.at("text"), "slow_startup_android: 12 sessions in the window break latency &gt; 5");
  const json::array& blocks = v.at("blocks").as_array();
  ASSERT_EQ(blocks.size(), 3u);
  EXPECT_EQ(blocks[0].at("type"), "section");
  EXPECT_EQ(blocks[0].at("text").at("type"), "mrkdwn");
  EXPECT_EQ(blocks[0].at("text").at("text"), v.at("text"));
  EXPECT_EQ(blocks[1].at("text").at("text"),
            "\xe2\x80\xa2 `s0` latency 6 s &gt; 5 s\n\xe2\x80\xa2 `s1` latency 7 s &gt; 5 s");
  EXPECT_EQ(blocks[2].at("type"), "context");
  std::string context = str(blocks[2].at("elements").at(0).at("text"));
  EXPECT_NE(context.find("2026-04-09T15:52:00Z"), std::string::npos) << context;
  EXPECT_NE(context.find("2026-04-09T16:02:00Z"), std::string::npos) << context;
  EXPECT_NE(context.find("severity critical"), std::string::npos) << context;
}

TEST(RenderSlack, EscapesAmpersandAndAngleBrackets) {
  scenario sc(0);
  sc.add("a<b>&c", 9);
  config::sink_config s = sink(config::sink_type::slack);
  s.summary = "{{description}} <!channel> & {{condition}}";
  sc.rule.description = "<https://evil|click> & more";
  std::vector<json::value> b = bodies(s, sc.firing());
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].at("text"),
            "&lt;https://evil|click&gt; &amp; more &lt;!channel&gt; &amp; latency &gt; 5");
  EXPECT_EQ(b[0].at("blocks").at(1).at("text").at("text"),
            "\xe2\x80\xa2 `a&lt;b&gt;&amp;c` latency 9 s &gt; 5 s");
  std::vector<std::string> texts;
  strings_at(b[0], "text", texts);
  const std::regex raw_amp("&(?!amp;|lt;|gt;)");
  for (const std::string& t : texts) {
    EXPECT_EQ(t.find_first_of("<>"), std::string::npos) << t;
    EXPECT_FALSE(std::regex_search(t, raw_amp)) << t;
  }
}

TEST(RenderSlack, AtMostFortySessionsPerMessage) {
  scenario sc(95);
  std::vector<json::value> b = bodies(sink(config::sink_type::slack, 100), sc.firing());
  ASSERT_EQ(b.size(), 3u);
  std::vector<std::size_t> lines;
  std::string all;
  for (const json::value& v : b) {
    std::string list = str(v.at("blocks").at(1).at("text").at("text"));
    lines.push_back(static_cast<std::size_t>(std::count(list.begin(), list.end(), '\n')) + 1);
    all += list + "\n";
  }
  EXPECT_EQ(lines, (std::vector<std::size_t>{40, 40, 15}));
  EXPECT_LT(all.find("`s39`"), all.find("`s40`"));
  EXPECT_LT(all.find("`s79`"), all.find("`s80`"));
  EXPECT_NE(str(b[2].at("blocks").at(2).at("elements").at(0).at("text"))
                .find("81\xe2\x80\x93"
                      "95 of 95"),
            std::string::npos);
  EXPECT_EQ(bodies(sink(config::sink_type::slack, 10), sc.firing()).size(), 10u);
}

TEST(RenderSlack, EveryTextStaysUnderTheSectionLimit) {
  scenario sc(0);
  // Multi-byte characters so a byte cut in the middle of one would make invalid UTF-8, which
  // json::parse rejects.
  std::string long_id;
  for (int i = 0; i < 400; ++i) long_id += "\xc3\xa9<";
  for (int i = 0; i < 40; ++i) sc.add(long_id + std::to_string(i), 9);
  config::sink_config s = sink(config::sink_type::slack);
  s.summary = "{{description}}";
  sc.rule.description = std::string(5000, '&');
  std::vector<json::value> b = bodies(s, sc.firing());
  ASSERT_EQ(b.size(), 1u);
  std::vector<std::string> texts;
  strings_at(b[0], "text", texts);
  ASSERT_EQ(texts.size(), 4u);
  const std::regex partial_entity("&(?!amp;|lt;|gt;)");
  for (const std::string& t : texts) {
    EXPECT_LE(t.size(), 3000u) << t.substr(0, 80);
    EXPECT_FALSE(std::regex_search(t, partial_entity)) << "a cut left half an entity";
  }
  EXPECT_EQ(texts[0].substr(texts[0].size() - 3), "\xe2\x80\xa6");
  std::string list = str(b[0].at("blocks").at(1).at("text").at("text"));
  EXPECT_NE(list.find(" more"), std::string::npos) << "left-out sessions are counted";
}

TEST(RenderSlack, ResolveIsOneSection) {
  scenario sc(3);
  std::vector<json::value> b = bodies(sink(config::sink_type::slack), sc.resolved());
  ASSERT_EQ(b.size(), 1u);
  const json::array& blocks = b[0].at("blocks").as_array();
  ASSERT_EQ(blocks.size(), 1u);
  EXPECT_EQ(blocks[0].at("type"), "section");
  std::string text = str(blocks[0].at("text").at("text"));
  EXPECT_EQ(text.rfind("Resolved: slow_startup_android", 0), 0u) << text;
  EXPECT_EQ(str(b[0].at("text")), text);
}

// ---- pagerduty ----

TEST(RenderPagerDuty, TriggerCarriesTheIncidentAndSessions) {
  scenario sc(2);
  std::vector<json::value> b = bodies(sink(config::sink_type::pagerduty), sc.firing());
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0], json::parse(R"({
    "event_action":"trigger","dedup_key":"slow_startup_android/1775750580",
    "payload":{"summary":"slow_startup_android: 12 sessions in the window break latency > 5",
      "source":"qoewatch","severity":"critical","timestamp":"2026-04-09T16:04:00Z",
      "component":"slow_startup_android","group":"qoewatch","class":"latency > 5",
      "custom_details":{"rule":"slow_startup_android","offending":12,
        "window":{"start":"2026-04-09T15:52:00Z","end":"2026-04-09T16:02:00Z"},
        "query":"https://smartsight3.mediamelon.com/mm-apis/listsessions/199493832?period=x",
        "sessions":[
          {"sessionid":"s0","summary":"latency 6 s > 5 s","latency":"6","assetname":"Finale"},
          {"sessionid":"s1","summary":"latency 7 s > 5 s","latency":"7","assetname":"Finale"}],
        "description":"Startup over 5 s on Android"}},
    "client":"qoewatch","client_url":"http://host:9786"})"))
      << json::serialize(b[0]);
}

TEST(RenderPagerDuty, ResolveIsActionAndKeyOnly) {
  scenario sc(2);
  std::vector<json::value> b = bodies(sink(config::sink_type::pagerduty), sc.resolved());
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(
      b[0],
      json::parse(R"({"event_action":"resolve","dedup_key":"slow_startup_android/1775750580"})"));
}

TEST(RenderPagerDuty, SeverityMapsOneToOne) {
  const std::pair<config::severity, std::string> cases[] = {
      {config::severity::critical, "critical"},
      {config::severity::error, "error"},
      {config::severity::warning, "warning"},
      {config::severity::info, "info"}};
  for (const auto& [sev, want] : cases) {
    scenario sc(1);
    sc.rule.severity = sev;
    std::vector<json::value> b = bodies(sink(config::sink_type::pagerduty), sc.firing());
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(str(b[0].at("payload").at("severity")), want);
  }
}

TEST(RenderPagerDuty, BatchesSessionsUnderOneDedupKey) {
  scenario sc(5);
  config::sink_config s = sink(config::sink_type::pagerduty, 2);
  s.summary = "{{count}} of {{offending}}";
  std::vector<json::value> b = bodies(s, sc.firing());
  ASSERT_EQ(b.size(), 3u);
  std::vector<std::string> seen, summaries;
  for (const json::value& v : b) {
    EXPECT_EQ(str(v.at("dedup_key")), key);
    EXPECT_EQ(v.at("event_action"), "trigger");
    summaries.push_back(str(v.at("payload").at("summary")));
    for (const std::string& id : session_ids(v)) seen.push_back(id);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"s0", "s1", "s2", "s3", "s4"}));
  EXPECT_EQ(summaries, (std::vector<std::string>{"2 of 15", "2 of 15", "1 of 15"}));
}

TEST(RenderPagerDuty, SummaryIsAtMost1024Bytes) {
  scenario sc(1);
  config::sink_config s = sink(config::sink_type::pagerduty);
  s.summary = "{{description}}";
  sc.rule.description.clear();
  for (int i = 0; i < 700; ++i) sc.rule.description += "\xe2\x82\xac";  // €, 3 bytes
  std::vector<notify::rendered> r = notify::render(s, sc.firing());
  ASSERT_EQ(r.size(), 1u);
  json::value v = json::parse(r[0].body);  // throws on a cut that broke UTF-8
  std::string summary = str(v.at("payload").at("summary"));
  EXPECT_LE(summary.size(), 1024u);
  EXPECT_GT(summary.size(), 1000u);
  EXPECT_EQ(summary.substr(summary.size() - 3), "\xe2\x80\xa6");
}

// ---- every type ----

TEST(Render, NoRoutingKeyInAnyBody) {
  for (config::sink_type t : {config::sink_type::webhook, config::sink_type::alertmanager,
                              config::sink_type::slack, config::sink_type::pagerduty}) {
    scenario sc(3);
    config::sink_config s = sink(t, 2);
    s.routing_key_file = "/etc/qoewatch/pd.key";
    for (const notify::event& e : {sc.firing(), sc.resolved()}) {
      std::vector<notify::rendered> r = notify::render(s, e);
      EXPECT_FALSE(r.empty()) << config::to_string(t);
      for (const notify::rendered& body : r) {
        EXPECT_FALSE(has_key(json::parse(body.body), "routing_key")) << body.body;
        EXPECT_EQ(body.body.find("routing_key"), std::string::npos) << body.body;
      }
    }
  }
}

TEST(Render, HostileStringsCannotBreakTheJson) {
  const std::string hostile = "a\"b\\c\nd</script><!--";
  for (config::sink_type t : {config::sink_type::webhook, config::sink_type::alertmanager,
                              config::sink_type::slack, config::sink_type::pagerduty}) {
    scenario sc(0);
    sc.add(hostile, 9, {hostile, ""});
    sc.rule.description = hostile;
    sc.rule.labels["team"] = hostile;
    config::sink_config s = sink(t);
    s.summary = "{{description}} \"{{rule}}\" \\ {{receiver}}";
    notify::event e = sc.firing();
    e.ctx.receiver = hostile;
    e.ctx.query = hostile;
    for (const notify::rendered& r : notify::render(s, e)) {
      json::value v = json::parse(r.body);
      std::vector<std::string> ids = session_ids(v);
      if (t == config::sink_type::slack) {
        std::string list = str(v.at("blocks").at(1).at("text").at("text"));
        EXPECT_NE(list.find("a\"b\\c\nd&lt;/script&gt;&lt;!--"), std::string::npos) << list;
        continue;
      }
      ASSERT_EQ(ids, (std::vector<std::string>{hostile})) << r.body;
      std::vector<std::string> descriptions;
      strings_at(v, "description", descriptions);
      ASSERT_FALSE(descriptions.empty());
      for (const std::string& d : descriptions) EXPECT_EQ(d, hostile);
    }
    std::vector<notify::rendered> r = notify::render(s, e);
    ASSERT_FALSE(r.empty());
    json::value v = json::parse(r[0].body);
    std::string want = hostile + " \"slow_startup_android\" \\ " + hostile;
    if (t == config::sink_type::webhook) {
      EXPECT_EQ(str(v.at("commonAnnotations").at("summary")), want);
      EXPECT_EQ(str(v.at("commonLabels").at("team")), hostile);
    } else if (t == config::sink_type::alertmanager) {
      EXPECT_EQ(str(v.at(0).at("annotations").at("summary")), want);
    } else if (t == config::sink_type::pagerduty) {
      EXPECT_EQ(str(v.at("payload").at("summary")), want);
      EXPECT_EQ(str(v.at("payload").at("custom_details").at("query")), hostile);
    }
  }
}

// ---- templates ----

TEST(RenderTemplate, EveryVariableIsFilledFromTheEvent) {
  scenario sc(3);
  sc.rule = load_rule(R"y(  - name: rebuffer
    description: Too much buffering
    qoefilter: "latency > 5 AND (cirrbufferingratio > 2 OR latency > 9)"
    severity: error
)y");
  sc.schema = fetch::schema_for(sc.rule);
  for (auto& r : sc.rows) r.metrics = {7, 3};
  config::sink_config s = sink(config::sink_type::pagerduty, 2);
  std::string tmpl;
  for (const std::string& n : text::template_variables()) tmpl += n + "={{" + n + "}};";
  s.summary = tmpl;
  std::vector<json::value> b = bodies(s, sc.firing());
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[1].at("payload").at("summary"),
            "rule=rebuffer;description=Too much buffering;severity=error;status=firing;"
            "count=1;offending=13;metric=latency, cirrbufferingratio;"
            "condition=latency > 5 AND (cirrbufferingratio > 2 OR latency > 9);"
            "incident=slow_startup_android/1775750580;window_start=2026-04-09T15:52:00Z;"
            "window_end=2026-04-09T16:02:00Z;customer_id=199493832;receiver=oncall;");
  EXPECT_EQ(text::template_variables().size(), 13u);
}

TEST(Render, SliceBySliceGivesTheBodiesOfAllAtOnce) {
  // A poll's sessions are rendered a batch at a time (the rule step reads them from disk as
  // it goes): every sink's bodies, their count, order, numbering, truncatedAlerts and
  // incident alert, are those of rendering all of them in one call.
  scenario sc(95);
  for (config::sink_type t : {config::sink_type::webhook, config::sink_type::alertmanager,
                              config::sink_type::slack, config::sink_type::pagerduty}) {
    for (std::size_t max : {1u, 7u, 40u, 100u}) {
      config::sink_config s = sink(t, max);
      s.summary = t == config::sink_type::webhook ? "{count} of {offending}" : "";
      SCOPED_TRACE(std::string(config::to_string(t)) + " max " + std::to_string(max));
      std::vector<std::string> whole;
      for (notify::rendered& r : notify::render(s, sc.firing())) whole.push_back(r.body);
      std::vector<std::string> sliced;
      const std::size_t batch = notify::batch_size(s);
      EXPECT_EQ(batch, t == config::sink_type::slack ? std::min<std::size_t>(max, 40) : max);
      notify::event e = sc.firing();
      const auto all = e.sessions;
      e.total = all.size();
      for (e.first = 0; e.first < all.size(); e.first += batch) {
        e.sessions = all.subspan(e.first, std::min(batch, all.size() - e.first));
        for (notify::rendered& r : notify::render(s, e)) sliced.push_back(r.body);
      }
      EXPECT_EQ(sliced, whole);
      EXPECT_EQ(whole.size(), (95 + batch - 1) / batch);
    }
  }
}
