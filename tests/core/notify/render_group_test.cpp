// What each sink type receives for a group of a population rule: fired with its evidence,
// resolved, and (Alertmanager) re-sent while it fires. Every body is valid JSON whatever the
// dimension values hold; the webhook and Alertmanager label sets, the figures as annotations
// and as numbers, PagerDuty's dedup_key and custom_details, Slack's message.
#include "notify/render.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "config/load.hpp"

using namespace qoewatch;
namespace json = boost::json;

namespace {

constexpr double now = 1775750640;         // 2026-04-09T16:04:00Z
constexpr double started_at = 1775750580;  // 2026-04-09T16:03:00Z
constexpr double ended_at = 1775754240;    // 2026-04-09T17:04:00Z
const std::string key = "cdn_rebuffering/cdn=edgeB/1775750580";

config::rule_config load_rule(std::string_view rule_yaml) {
  std::string yaml = R"(smartsight: {customer_id: 199493832, api_key_env: K}
sinks: [{name: oncall, type: webhook, url: "http://h/"}]
rules:
)" + std::string(rule_yaml);
  config::load_result r = config::load_from_string(yaml, "t.yaml");
  for (const auto& d : r.errors) ADD_FAILURE() << d.to_string();
  return r.config ? r.config->rules.at(0) : config::rule_config{};
}

const char* const cdn_rule = R"(  - name: cdn_rebuffering
    description: Rebuffering on one CDN
    qoefilter: "cirrbufferingratio > 2"
    group_by: [cdn]
    when: "ratio > 10% AND p95(latency) > 4"
    fields: [assetname]
    interval: 30s
    severity: critical
    labels: {team: video}
)";

config::sink_config sink(config::sink_type t) {
  config::sink_config s;
  s.name = "oncall";
  s.type = t;
  return s;
}

// A group of a rule, its evidence, and the events about it.
struct scenario {
  config::rule_config rule;
  fetch::row_schema schema;  // cirrbufferingratio; cdn, latency, assetname
  std::vector<fetch::session_row> rows;
  std::vector<const fetch::session_row*> ptrs;
  notify::group_info group;

  explicit scenario(const char* rule_yaml = cdn_rule, int evidence = 2)
      : rule(load_rule(rule_yaml)), schema(fetch::schema_for(rule)) {
    for (int i = 0; i < evidence; ++i) {
      fetch::session_row r;
      r.sessionid = "s" + std::to_string(i);
      r.endtime = 1775749980;  // 2026-04-09T15:53:00Z
      r.metrics.assign(schema.metrics.size(), 5.5);
      r.fields = {"edgeB", "4.5", i == 0 ? "Finale" : ""};
      r.fields.resize(schema.fields.size());
      rows.push_back(std::move(r));
    }
    for (const auto& r : rows) ptrs.push_back(&r);
    group.values = {"edgeB"};
    group.label = "cdn=edgeB";
    group.measured = true;
    group.sessions = 412;
    group.offending = 128;
    group.ratio = 128.0 / 412.0;
    for (const rules::aggregate& a : rule.aggregates) group.aggregates.emplace_back(a.text, 4.7);
  }
  notify::group_event firing() const {
    notify::group_event e;
    e.rule = &rule;
    e.schema = &schema;
    e.group = group;
    e.evidence = ptrs;
    e.incident = {key, false, started_at, 0, group.offending};
    e.ctx.receiver = "oncall";
    e.ctx.external_url = "http://host:9786";
    e.ctx.customer_id = 199493832;
    e.ctx.window = {1775749920, 1775750520};
    e.ctx.query = "https://smartsight3.mediamelon.com/mm-apis/listsessions/199493832?period=x";
    e.now = now;
    return e;
  }
  notify::group_event resent() const {
    notify::group_event e = firing();
    e.evidence = {};
    return e;
  }
  notify::group_event resolved() const {
    notify::group_event e = resent();
    e.group.offending = 10;
    e.group.ratio = 10.0 / 412.0;
    e.incident.resolved = true;
    e.incident.ended_at = ended_at;
    e.incident.offending = 10;
    return e;
  }
};

json::value only_body(const config::sink_config& s, const notify::group_event& e) {
  std::vector<notify::rendered> r = notify::render_group(s, e);
  EXPECT_EQ(r.size(), 1u);
  if (r.empty()) return nullptr;
  json::error_code ec;
  json::value v = json::parse(r[0].body, ec);
  EXPECT_FALSE(ec) << "not JSON: " << r[0].body;
  return v;
}

std::string str(const json::value& v) {
  return std::string(v.as_string());
}

std::string summary_of(const notify::group_event& e) {
  json::value v = only_body(sink(config::sink_type::webhook), e);
  return str(v.at("alerts").at(0).at("annotations").at("summary"));
}

const char* const firing_summary =
    "cdn=edgeB: 31.07 % of 412 sessions have cirrbufferingratio > 2, p95(latency) 4.7 (ratio > "
    "10% AND p95(latency) > 4)";

}  // namespace

// ---- webhook ----

TEST(RenderGroupWebhook, AFiringGroupIsTheGroupAlertThenItsEvidence) {
  scenario sc;
  json::value v = only_body(sink(config::sink_type::webhook), sc.firing());
  EXPECT_EQ(v.at("version"), "4");
  EXPECT_EQ(v.at("groupKey"), "qoewatch/cdn_rebuffering/cdn=edgeB");
  EXPECT_EQ(v.at("status"), "firing");
  EXPECT_EQ(v.at("receiver"), "oncall");
  EXPECT_EQ(v.at("externalURL"), "http://host:9786");
  EXPECT_EQ(v.at("truncatedAlerts"), 0);
  EXPECT_EQ(v.at("groupLabels"), json::parse(R"({"alertname":"cdn_rebuffering","cdn":"edgeB"})"));
  EXPECT_EQ(v.at("commonLabels"), json::parse(R"({"alertname":"cdn_rebuffering",
    "severity":"critical","team":"video","cdn":"edgeB"})"));
  EXPECT_EQ(v.at("commonAnnotations"), json::parse(R"({"description":"Rebuffering on one CDN"})"));
  const json::array& alerts = v.at("alerts").as_array();
  ASSERT_EQ(alerts.size(), 3u);

  const json::value& g = alerts[0];
  EXPECT_EQ(g.at("status"), "firing");
  EXPECT_EQ(g.at("labels"), json::parse(R"({"alertname":"cdn_rebuffering","severity":"critical",
    "team":"video","cdn":"edgeB","incident":"cdn_rebuffering/cdn=edgeB/1775750580"})"));
  EXPECT_EQ(g.at("annotations"), (json::object{{"summary", firing_summary},
                                               {"description", "Rebuffering on one CDN"},
                                               {"sessions", "412"},
                                               {"offending", "128"},
                                               {"ratio", "0.3106796116504854"},
                                               {"p95(latency)", "4.7"}}));
  EXPECT_EQ(g.at("startsAt"), "2026-04-09T16:03:00Z");
  EXPECT_EQ(g.at("endsAt"), "0001-01-01T00:00:00Z");
  EXPECT_EQ(g.at("generatorURL"), "http://host:9786");
  EXPECT_EQ(str(g.at("fingerprint")), notify::fingerprint({{"alertname", "cdn_rebuffering"},
                                                           {"severity", "critical"},
                                                           {"team", "video"},
                                                           {"cdn", "edgeB"},
                                                           {"incident", key}}));
  // Each evidence alert: the session's labels with the group's dimension, its figures.
  const json::value& s = alerts[1];
  EXPECT_EQ(s.at("status"), "firing");
  EXPECT_EQ(s.at("labels"), json::parse(R"({"alertname":"cdn_rebuffering","severity":"critical",
    "team":"video","cdn":"edgeB","sessionid":"s0"})"));
  EXPECT_EQ(s.at("annotations"), json::parse(R"({"summary":"cirrbufferingratio 5.5 % > 2 %",
    "description":"Rebuffering on one CDN","cirrbufferingratio":"5.5","cdn":"edgeB",
    "latency":"4.5","assetname":"Finale"})"));
  EXPECT_EQ(s.at("startsAt"), "2026-04-09T15:53:00Z");
  EXPECT_EQ(alerts[2].at("labels").at("sessionid"), "s1");
  EXPECT_FALSE(alerts[2].at("annotations").as_object().contains("assetname")) << "empty field";

  EXPECT_EQ(v.at("qoewatch"), json::parse(R"j({"rule":"cdn_rebuffering","customer_id":199493832,
    "window":{"start":1775749920,"end":1775750520},
    "query":"https://smartsight3.mediamelon.com/mm-apis/listsessions/199493832?period=x",
    "incident":{"key":"cdn_rebuffering/cdn=edgeB/1775750580","status":"firing",
                "startsAt":"2026-04-09T16:03:00Z","offending":128},
    "group":{"cdn":"edgeB"},
    "aggregates":{"sessions":412,"offending":128,"ratio":0.3106796116504854,
                  "p95(latency)":4.7}})j"));
}

TEST(RenderGroupWebhook, TheResolveIsTheGroupAlertWithEndsAt) {
  scenario sc;
  json::value v = only_body(sink(config::sink_type::webhook), sc.resolved());
  EXPECT_EQ(v.at("status"), "resolved");
  ASSERT_EQ(v.at("alerts").as_array().size(), 1u);
  const json::value& g = v.at("alerts").at(0);
  EXPECT_EQ(g.at("status"), "resolved");
  EXPECT_EQ(g.at("labels").at("incident"), "cdn_rebuffering/cdn=edgeB/1775750580");
  EXPECT_EQ(g.at("startsAt"), "2026-04-09T16:03:00Z");
  EXPECT_EQ(g.at("endsAt"), "2026-04-09T17:04:00Z");
  EXPECT_EQ(str(g.at("annotations").at("summary")),
            "Resolved: cdn_rebuffering: cdn=edgeB: 2.43 % of 412 sessions have "
            "cirrbufferingratio > 2, p95(latency) 4.7 (no longer ratio > 10% AND p95(latency) > "
            "4)");
  EXPECT_EQ(g.at("annotations").at("offending"), "10");
  // One alert: its annotations are the common ones.
  EXPECT_EQ(v.at("commonAnnotations"), g.at("annotations"));
  EXPECT_EQ(v.at("qoewatch").at("incident"),
            json::parse(R"({"key":"cdn_rebuffering/cdn=edgeB/1775750580","status":"resolved",
              "startsAt":"2026-04-09T16:03:00Z","offending":10,
              "endsAt":"2026-04-09T17:04:00Z"})"));
}

TEST(RenderGroupWebhook, AGroupNotInTheWindowAndAnAggregateNoSessionCarried) {
  scenario sc;
  notify::group_event e = sc.resolved();
  e.group.measured = false;
  e.group.aggregates[0].second = std::nullopt;
  json::value v = only_body(sink(config::sink_type::webhook), e);
  const json::value& a = v.at("alerts").at(0).at("annotations");
  EXPECT_EQ(str(a.at("summary")),
            "Resolved: cdn_rebuffering: cdn=edgeB: not in the window (no longer ratio > 10% AND "
            "p95(latency) > 4)");
  EXPECT_EQ(a.at("p95(latency)"), "n/a");
  EXPECT_TRUE(v.at("qoewatch").at("aggregates").at("p95(latency)").is_null());
}

TEST(RenderGroupWebhook, WithoutQoefilterOrGroupByTheFiguresAreSessionsAndAggregates) {
  scenario sc(R"(  - name: startup
    when: "sessions >= 100 AND p95(latency) > 4"
)",
              0);
  sc.group.values = {};
  sc.group.label = "";
  notify::group_event e = sc.firing();
  e.incident.key = "startup/1775750580";
  json::value v = only_body(sink(config::sink_type::webhook), e);
  EXPECT_EQ(v.at("groupKey"), "qoewatch/startup/");
  EXPECT_EQ(v.at("groupLabels"), json::parse(R"({"alertname":"startup"})"));
  EXPECT_EQ(v.at("alerts").at(0).at("labels"),
            json::parse(R"({"alertname":"startup","severity":"warning",
              "incident":"startup/1775750580"})"));
  EXPECT_EQ(v.at("alerts").at(0).at("annotations"),
            (json::object{{"summary",
                           "412 sessions, p95(latency) 4.7 (sessions >= 100 AND p95(latency) > 4)"},
                          {"sessions", "412"},
                          {"p95(latency)", "4.7"}}));
  EXPECT_EQ(v.at("qoewatch").at("group"), json::object{});
  EXPECT_EQ(v.at("qoewatch").at("aggregates"),
            json::parse(R"j({"sessions":412,"p95(latency)":4.7})j"));
}

TEST(RenderGroupWebhook, PercentagesTellTheThresholdFromWhatCrossedIt) {
  scenario sc;
  struct row {
    std::size_t offending, sessions;
    const char* shown;
  };
  const row rows[] = {{31, 100, "31 %"},      {57, 100, "57 %"},   {1001, 10000, "10.01 %"},
                      {999, 10000, "9.99 %"}, {1, 40, "2.5 %"},    {4, 10000, "0.04 %"},
                      {0, 100, "0 %"},        {100, 100, "100 %"}, {7, 100, "7 %"}};
  for (const row& r : rows) {
    notify::group_event e = sc.firing();
    e.group.offending = r.offending;
    e.group.sessions = r.sessions;
    e.group.ratio = static_cast<double>(r.offending) / static_cast<double>(r.sessions);
    EXPECT_EQ(summary_of(e).substr(0, 11 + std::string(r.shown).size()),
              "cdn=edgeB: " + std::string(r.shown))
        << r.offending << "/" << r.sessions;
  }
  // The verb agrees with the sessions counted: "have", but one session "has".
  notify::group_event few = sc.firing();
  few.group.offending = 1;
  few.group.ratio = 1.0 / 412.0;
  EXPECT_EQ(summary_of(few).rfind("cdn=edgeB: 0.24 % of 412 sessions have cirrbufferingratio", 0),
            0u)
      << summary_of(few);
  notify::group_event one = sc.firing();
  one.group.sessions = one.group.offending = 1;
  one.group.ratio = 1;
  EXPECT_EQ(summary_of(one).rfind("cdn=edgeB: 100 % of 1 session has cirrbufferingratio > 2", 0),
            0u)
      << summary_of(one);
}

TEST(RenderGroupWebhook, ASummaryTemplateFillsTheGroupAlertsSummary) {
  scenario sc;
  config::sink_config s = sink(config::sink_type::webhook);
  s.summary =
      "{{rule}} {{status}}: {{offending}} offending, {{count}} shown ({{condition}}) "
      "{{incident}}";
  json::value v = only_body(s, sc.firing());
  EXPECT_EQ(v.at("alerts").at(0).at("annotations").at("summary"),
            "cdn_rebuffering firing: 128 offending, 2 shown (ratio > 10% AND p95(latency) > 4) "
            "cdn_rebuffering/cdn=edgeB/1775750580");
  s.summary = "{{nonsense}}";
  EXPECT_EQ(str(only_body(s, sc.firing()).at("alerts").at(0).at("annotations").at("summary")),
            firing_summary)
      << "a template that cannot be filled falls back to the built-in summary";
}

TEST(RenderGroupWebhook, HostileDimensionValuesStayInsideTheirStrings) {
  scenario sc;
  const std::string nasty = "edge\"B\n\\<&>\xc3\xa9";
  notify::group_event e = sc.firing();
  e.group.values = {nasty};
  e.group.label = "cdn=" + nasty;
  for (config::sink_type t : {config::sink_type::webhook, config::sink_type::alertmanager,
                              config::sink_type::slack, config::sink_type::pagerduty}) {
    json::value v = only_body(sink(t), e);  // parses
    if (t == config::sink_type::webhook) {
      EXPECT_EQ(str(v.at("alerts").at(0).at("labels").at("cdn")), nasty);
      EXPECT_EQ(str(v.at("qoewatch").at("group").at("cdn")), nasty);
    }
  }
}

// ---- alertmanager ----

TEST(RenderGroupAlertmanager, FiringResentAndResolvedArePostableAlerts) {
  scenario sc;
  const config::sink_config am = sink(config::sink_type::alertmanager);
  json::array firing = only_body(am, sc.firing()).as_array();
  ASSERT_EQ(firing.size(), 3u);
  EXPECT_EQ(firing[0].at("labels"), json::parse(R"({"alertname":"cdn_rebuffering",
    "severity":"critical","team":"video","cdn":"edgeB",
    "incident":"cdn_rebuffering/cdn=edgeB/1775750580"})"));
  EXPECT_EQ(firing[0].at("startsAt"), "2026-04-09T16:03:00Z");
  EXPECT_EQ(firing[0].at("endsAt"), "2026-04-09T16:06:00Z") << "now + 4 x interval (30s)";
  EXPECT_EQ(firing[0].at("annotations").at("ratio"), "0.3106796116504854");
  EXPECT_EQ(firing[0].at("generatorURL"), "http://host:9786");
  EXPECT_EQ(firing[1].at("labels").at("sessionid"), "s0");
  EXPECT_EQ(firing[1].at("labels").at("cdn"), "edgeB");
  EXPECT_EQ(firing[1].at("startsAt"), "2026-04-09T15:53:00Z");
  EXPECT_EQ(firing[1].at("endsAt"), "2026-04-09T16:06:00Z");
  EXPECT_FALSE(firing[0].as_object().contains("status")) << "postable alerts have no status";

  // Re-sent while it fires: the group alert alone, its endsAt pushed on.
  notify::group_event again = sc.resent();
  again.now = now + 30;
  json::array resent = only_body(am, again).as_array();
  ASSERT_EQ(resent.size(), 1u);
  EXPECT_EQ(resent[0].at("labels"), firing[0].at("labels"));
  EXPECT_EQ(resent[0].at("startsAt"), "2026-04-09T16:03:00Z");
  EXPECT_EQ(resent[0].at("endsAt"), "2026-04-09T16:06:30Z");

  json::array resolved = only_body(am, sc.resolved()).as_array();
  ASSERT_EQ(resolved.size(), 1u);
  EXPECT_EQ(resolved[0].at("labels"), firing[0].at("labels"));
  EXPECT_EQ(resolved[0].at("endsAt"), "2026-04-09T17:04:00Z");
}

TEST(RenderGroupAlertmanager, EmptyRuleLabelsAreLeftOut) {
  scenario sc(R"(  - name: r
    qoefilter: "cirrbufferingratio > 2"
    group_by: [cdn]
    when: "ratio > 10%"
    labels: {team: ""}
)");
  json::array alerts = only_body(sink(config::sink_type::alertmanager), sc.firing()).as_array();
  EXPECT_FALSE(alerts[0].at("labels").as_object().contains("team"));
  json::value hook = only_body(sink(config::sink_type::webhook), sc.firing());
  EXPECT_EQ(hook.at("alerts").at(0).at("labels").at("team"), "");
}

// ---- slack ----

TEST(RenderGroupSlack, OneMessagePerChangeWithTheNumbers) {
  scenario sc;
  json::value v = only_body(sink(config::sink_type::slack), sc.firing());
  const std::string headline =
      "cdn_rebuffering: cdn=edgeB: 31.07 % of 412 sessions have cirrbufferingratio &gt; 2, "
      "p95(latency) 4.7 (ratio &gt; 10% AND p95(latency) &gt; 4)";
  EXPECT_EQ(str(v.at("text")), headline);
  const json::array& blocks = v.at("blocks").as_array();
  ASSERT_EQ(blocks.size(), 3u);
  EXPECT_EQ(str(blocks[0].at("text").at("text")), headline);
  EXPECT_EQ(str(blocks[1].at("text").at("text")),
            "\xe2\x80\xa2 `s0` cirrbufferingratio 5.5 % &gt; 2 %\n"
            "\xe2\x80\xa2 `s1` cirrbufferingratio 5.5 % &gt; 2 %");
  EXPECT_EQ(str(blocks[2].at("elements").at(0).at("text")),
            "Window 2026-04-09T15:52:00Z \xe2\x80\x93 2026-04-09T16:02:00Z \xc2\xb7 severity "
            "critical \xc2\xb7 incident cdn_rebuffering/cdn=edgeB/1775750580");

  json::value r = only_body(sink(config::sink_type::slack), sc.resolved());
  EXPECT_EQ(str(r.at("text")).rfind("Resolved: cdn_rebuffering: cdn=edgeB: 2.43 % of 412", 0), 0u);
  EXPECT_EQ(r.at("blocks").as_array().size(), 2u) << "no evidence with a resolve";
}

// ---- pagerduty ----

TEST(RenderGroupPagerDuty, OneIncidentPerGroupWithTheFiguresInCustomDetails) {
  scenario sc;
  json::value v = only_body(sink(config::sink_type::pagerduty), sc.firing());
  EXPECT_EQ(v.at("event_action"), "trigger");
  EXPECT_EQ(v.at("dedup_key"), "cdn_rebuffering/cdn=edgeB/1775750580");
  EXPECT_EQ(v.at("client"), "qoewatch");
  EXPECT_EQ(v.at("client_url"), "http://host:9786");
  EXPECT_FALSE(v.as_object().contains("routing_key")) << "added by the delivery, never stored";
  const json::value& p = v.at("payload");
  EXPECT_EQ(str(p.at("summary")), "cdn_rebuffering: " + std::string(firing_summary));
  EXPECT_EQ(p.at("source"), "qoewatch");
  EXPECT_EQ(p.at("severity"), "critical");
  EXPECT_EQ(p.at("timestamp"), "2026-04-09T16:04:00Z");
  EXPECT_EQ(p.at("component"), "cdn_rebuffering");
  EXPECT_EQ(p.at("group"), "cdn=edgeB");
  EXPECT_EQ(p.at("class"), "ratio > 10% AND p95(latency) > 4");
  EXPECT_EQ(p.at("custom_details"), json::parse(R"j({"rule":"cdn_rebuffering",
    "group":{"cdn":"edgeB"},
    "aggregates":{"sessions":412,"offending":128,"ratio":0.3106796116504854,"p95(latency)":4.7},
    "when":"ratio > 10% AND p95(latency) > 4",
    "window":{"start":"2026-04-09T15:52:00Z","end":"2026-04-09T16:02:00Z"},
    "query":"https://smartsight3.mediamelon.com/mm-apis/listsessions/199493832?period=x",
    "sessions":[
      {"sessionid":"s0","summary":"cirrbufferingratio 5.5 % > 2 %","cirrbufferingratio":"5.5",
       "cdn":"edgeB","latency":"4.5","assetname":"Finale"},
      {"sessionid":"s1","summary":"cirrbufferingratio 5.5 % > 2 %","cirrbufferingratio":"5.5",
       "cdn":"edgeB","latency":"4.5"}],
    "description":"Rebuffering on one CDN"})j"));
}

TEST(RenderGroupPagerDuty, TheResolveNamesTheIncidentOnly) {
  scenario sc;
  EXPECT_EQ(only_body(sink(config::sink_type::pagerduty), sc.resolved()),
            json::parse(R"({"event_action":"resolve",
              "dedup_key":"cdn_rebuffering/cdn=edgeB/1775750580"})"));
}

TEST(RenderGroup, NothingWithoutARuleOrAnIncident) {
  scenario sc;
  notify::group_event e = sc.firing();
  e.incident.key.clear();
  EXPECT_TRUE(notify::render_group(sink(config::sink_type::webhook), e).empty());
  e = sc.firing();
  e.rule = nullptr;
  EXPECT_TRUE(notify::render_group(sink(config::sink_type::pagerduty), e).empty());
}
