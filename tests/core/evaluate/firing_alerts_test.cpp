// The alerts the API lists are the ones the sinks were told: same labels, same fingerprint;
// muted while the rule's maintenance window holds; rows of rules no longer configured left out.
#include "evaluate/firing_alerts.hpp"

#include <gtest/gtest.h>

#include "notify/payload.hpp"
#include "population_fixture.hpp"

using namespace qoewatch;
using namespace qoewatch::testing_population;

TEST(FiringAlerts, AGroupIsListedWithTheLabelsAndFingerprintAlertmanagerWasSent) {
  fixture f(R"(  - name: cdn_rebuffering
    description: rebuffering on a CDN
    qoefilter: "cirrbufferingratio > 2"
    group_by: [cdn]
    when: "ratio > 10%"
    labels: {team: video}
    sinks: [am, hook]
  - {name: slow, qoefilter: latency > 5, interval: 30s, sinks: [hook]}
)");
  auto fx = f.poll({cdn("edgeB", 100, 31)});
  ASSERT_TRUE(fx.commit.groups);
  const json::value sent = body(fx.commit.outbox.at(0)).at(0);  // am: the group alert first
  std::vector<std::pair<std::string, std::string>> labels;
  for (const auto& [k, v] : sent.at("labels").as_object())
    labels.emplace_back(std::string(k), std::string(v.as_string()));

  const state::incident_row slow{"slow", "slow/1775749000", 1'775'749'000, 0, {"hook"}, {}};
  const state::incident_row gone{"gone", "gone/1", 1, 0, {"hook"}, {}};
  std::vector<silence::alert> alerts = evaluate::firing_alerts(
      {slow, gone}, *fx.commit.groups, f.cfg, t0 + 5, "http://qoewatch:9786");
  ASSERT_EQ(alerts.size(), 2u);
  const silence::alert& incident = alerts[0];
  EXPECT_EQ(incident.labels,
            (silence::label_set{
                {"alertname", "slow"}, {"incident", "slow/1775749000"}, {"severity", "warning"}}));
  EXPECT_EQ(incident.starts_at, 1'775'749'000'000);
  EXPECT_EQ(incident.ends_at, static_cast<std::int64_t>((t0 + 5) * 1000) + 4 * 30'000);
  EXPECT_EQ(incident.receivers, std::vector<std::string>{"hook"});

  const silence::alert& group = alerts[1];
  EXPECT_EQ(group.labels.at("cdn"), "edgeB");
  EXPECT_EQ(group.labels.at("team"), "video");
  EXPECT_EQ(group.fingerprint, notify::fingerprint(labels));
  EXPECT_EQ(group.annotations.at("description"), "rebuffering on a CDN");
  EXPECT_NE(group.annotations.at("summary").find("cdn=edgeB"), std::string::npos);
  EXPECT_EQ(group.generator_url, "http://qoewatch:9786");
  EXPECT_FALSE(group.muted);

  // t0 is 15:53 UTC: a mute from 15:00 to 16:00 holds.
  config::time_interval afternoon;
  afternoon.times = std::vector<config::time_range>{*config::parse_times("15:00", "16:00").ok};
  f.cfg.time_intervals = {{"deploys", {afternoon}}};
  f.cfg.rules[0].mute_time_intervals = {"deploys"};
  EXPECT_TRUE(evaluate::firing_alerts({}, *fx.commit.groups, f.cfg, t0, "").at(0).muted);
}
