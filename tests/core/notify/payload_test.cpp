// The webhook body on-call receives: Alertmanager's webhook shape, the evidence per session,
// and batching with truncatedAlerts.
#include "notify/payload.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "config/load.hpp"

using namespace qoewatch;
namespace json = boost::json;

namespace {

config::rule_config example_rule() {
  const char* yaml = R"(smartsight: {customer_id: 199493832, api_key_env: K}
sinks: [{name: oncall, type: webhook, url: "http://h/"}]
rules:
  - name: slow_startup_android
    description: Startup over 5 s on Android
    filter: "[platform=Android]"
    qoefilter: "latency > 5"
    fields: [assetname, cdn, sourcetype]
    severity: critical
    labels: {team: player}
)";
  config::load_result r = config::load_from_string(yaml, "t.yaml");
  EXPECT_TRUE(r.config);
  return r.config->rules.at(0);
}

fetch::session_row row(std::string id, double latency, double endtime,
                       std::vector<std::string> fields) {
  fetch::session_row r;
  r.sessionid = std::move(id);
  r.endtime = endtime;
  r.metrics = {latency};
  r.fields = std::move(fields);
  return r;
}

notify::context ctx() {
  notify::context c;
  c.receiver = "oncall";
  c.external_url = "http://host:9786";
  c.customer_id = 199493832;
  c.window = {1775749920, 1775750520};
  c.query = "https://smartsight3.mediamelon.com/mm-apis/listsessions/199493832?period=x";
  return c;
}

}  // namespace

TEST(Payload, MatchesTheAlertmanagerWebhookShape) {
  config::rule_config rule = example_rule();
  fetch::row_schema schema = fetch::schema_for(rule);
  fetch::session_row a = row("a1b2", 7.4, 1775749980, {"Finale", "edgeB", ""});
  std::vector<const fetch::session_row*> sessions{&a};
  std::vector<std::string> bodies = notify::build_notifications(rule, schema, sessions, ctx(), 100);
  ASSERT_EQ(bodies.size(), 1u);
  json::value v = json::parse(bodies[0]);
  json::value want = json::parse(R"({"version":"4","groupKey":"qoewatch/slow_startup_android",
    "status":"firing","receiver":"oncall",
    "groupLabels":{"alertname":"slow_startup_android"},
    "commonLabels":{"alertname":"slow_startup_android","severity":"critical","team":"player"},
    "commonAnnotations":{"description":"Startup over 5 s on Android"},
    "externalURL":"http://host:9786","truncatedAlerts":0,
    "alerts":[{"status":"firing",
      "labels":{"alertname":"slow_startup_android","severity":"critical","team":"player","sessionid":"a1b2"},
      "annotations":{"summary":"latency 7.4 s > 5 s","latency":"7.4","assetname":"Finale","cdn":"edgeB"},
      "startsAt":"2026-04-09T15:53:00Z","endsAt":"0001-01-01T00:00:00Z",
      "fingerprint":"FP"}],
    "qoewatch":{"rule":"slow_startup_android","customer_id":199493832,
      "window":{"start":1775749920,"end":1775750520},
      "query":"https://smartsight3.mediamelon.com/mm-apis/listsessions/199493832?period=x"}})");
  std::string fp = std::string(v.at("alerts").at(0).at("fingerprint").as_string());
  EXPECT_EQ(fp.size(), 16u);
  want.at("alerts").at(0).as_object()["fingerprint"] = fp;
  EXPECT_EQ(v, want) << bodies[0];
}

TEST(Payload, BatchesWithTruncatedAlertsAndEverySessionOnce) {
  config::rule_config rule = example_rule();
  fetch::row_schema schema = fetch::schema_for(rule);
  std::vector<fetch::session_row> rows;
  for (int i = 0; i < 7; ++i)
    rows.push_back(row("s" + std::to_string(i), 6 + i, 1775749980, {"", "", ""}));
  std::vector<const fetch::session_row*> sessions;
  for (const auto& r : rows) sessions.push_back(&r);
  std::vector<std::string> bodies = notify::build_notifications(rule, schema, sessions, ctx(), 3);
  ASSERT_EQ(bodies.size(), 3u);
  std::vector<std::int64_t> truncated;
  std::vector<std::string> seen;
  for (const std::string& b : bodies) {
    json::value v = json::parse(b);
    truncated.push_back(v.at("truncatedAlerts").to_number<std::int64_t>());
    for (const json::value& a : v.at("alerts").as_array())
      seen.emplace_back(a.at("labels").at("sessionid").as_string());
  }
  EXPECT_EQ(truncated, (std::vector<std::int64_t>{4, 1, 0}));
  EXPECT_EQ(seen, (std::vector<std::string>{"s0", "s1", "s2", "s3", "s4", "s5", "s6"}));
  EXPECT_TRUE(notify::build_notifications(rule, schema, {}, ctx(), 3).empty());
}

TEST(Payload, SummaryNamesTheTermsThatHold) {
  const char* yaml = R"y(smartsight: {customer_id: 1, api_key_env: K}
rules:
  - name: r
    qoefilter: "qualityofexperience < 40 OR (cirrbufferingratio > 5 AND NOT errors = 0)"
)y";
  config::load_result r = config::load_from_string(yaml, "t.yaml");
  ASSERT_TRUE(r.config);
  const config::rule_config& rule = r.config->rules.at(0);
  fetch::row_schema schema = fetch::schema_for(rule);
  ASSERT_EQ(schema.metrics,
            (std::vector<std::string>{"qualityofexperience", "cirrbufferingratio", "errors"}));
  fetch::session_row s;
  s.sessionid = "x";
  s.metrics = {35, 7.5, 2};
  EXPECT_EQ(notify::summary_of(rule, schema, s),
            "qualityofexperience 35 < 40, cirrbufferingratio 7.5 % > 5 %");
  s.metrics = {80, 7.5, 2};
  EXPECT_EQ(notify::summary_of(rule, schema, s), "cirrbufferingratio 7.5 % > 5 %");
  const char* negated = R"(smartsight: {customer_id: 1, api_key_env: K}
rules: [{name: r, qoefilter: "NOT errors = 0"}]
)";
  config::load_result n = config::load_from_string(negated, "t.yaml");
  ASSERT_TRUE(n.config);
  fetch::session_row e;
  e.metrics = {3};
  EXPECT_EQ(notify::summary_of(n.config->rules.at(0), fetch::schema_for(n.config->rules.at(0)), e),
            "matches NOT errors = 0");
}

TEST(Payload, FingerprintIsStableAndOrderIndependent) {
  std::string a = notify::fingerprint({{"alertname", "r"}, {"sessionid", "x"}});
  EXPECT_EQ(a, notify::fingerprint({{"sessionid", "x"}, {"alertname", "r"}}));
  EXPECT_NE(a, notify::fingerprint({{"alertname", "r"}, {"sessionid", "y"}}));
  EXPECT_NE(notify::fingerprint({{"ab", "c"}}), notify::fingerprint({{"a", "bc"}}));
  EXPECT_EQ(a, "47ec1162a8d8141b") << "the hash must never change across versions";
}

TEST(Payload, FingerprintWithAnExtraLabelEqualsTheWholeSetsFingerprint) {
  // Alerts are fingerprinted from the rule's sorted labels plus their sessionid, without
  // copying and sorting the set per alert: the hash must be the one of the whole set.
  using labels = std::vector<std::pair<std::string, std::string>>;
  const std::vector<labels> sets = {{},
                                    {{"alertname", "r"}},
                                    {{"alertname", "r"}, {"severity", "warning"}, {"team", "x"}},
                                    {{"a", "1"}, {"sessionid", "a"}, {"zz", ""}},
                                    {{"sessionid", "z"}, {"sessionid", ""}}};
  for (const labels& set : sets) {
    labels sorted = set;
    std::sort(sorted.begin(), sorted.end());
    for (std::string id : {"", "a", "x", "zzz", "\xff"}) {
      labels whole = set;
      whole.emplace_back("sessionid", id);
      EXPECT_EQ(notify::fingerprint_with(sorted, {"sessionid", id}), notify::fingerprint(whole))
          << set.size() << " labels, sessionid " << id;
    }
  }
}
