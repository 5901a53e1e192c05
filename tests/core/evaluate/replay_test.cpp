// The replay the backtest and the rule tests share: the daemon's step, with the notified
// sessions remembered between polls and forgotten once no window can hold them.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/load.hpp"
#include "evaluate/replay.hpp"

using namespace qoewatch;

namespace {

config::daemon_config config_with(const std::string& rules) {
  config::load_result r = config::load_from_string(
      "smartsight: {customer_id: 7, api_key_env: K}\n"
      "sinks: [{name: hook, type: webhook, url: \"http://h/\"}]\n"
      "rules:\n" +
          rules,
      "t.yaml");
  for (const auto& d : r.errors) ADD_FAILURE() << d.to_string();
  return r.config ? *r.config : config::daemon_config{};
}

// A page of sessions (id, latency, cdn) that ended at `endtime`, read with the rule's schema.
fetch::page rows(const config::rule_config& rule,
                 const std::vector<std::tuple<std::string, double, std::string>>& sessions,
                 double endtime) {
  fetch::row_schema schema = fetch::schema_for(rule);
  fetch::page p;
  for (const auto& [id, latency, cdn] : sessions) {
    fetch::session_row row;
    row.sessionid = id;
    row.endtime = endtime;
    for (const std::string& m : schema.metrics) row.metrics.push_back(m == "latency" ? latency : 0);
    for (const std::string& f : schema.fields) row.fields.push_back(f == "cdn" ? cdn : "");
    p.rows.push_back(std::move(row));
  }
  p.rows_in_page = p.rows.size();
  return p;
}

}  // namespace

TEST(Replay, OverlappingWindowsNotifyEachSessionOnceAndForgetItLater) {
  config::daemon_config cfg = config_with(
      "  - {name: slow, qoefilter: \"latency > 5\", interval: 60s, window: 3m, delay: 0s}\n");
  const config::rule_config& rule = cfg.rules.at(0);
  std::vector<std::string> bodies;
  evaluate::replay r(cfg, rule, [&](state::outbox_row&& row) { bodies.push_back(row.body); });
  const std::int64_t t = 1'800'000'000;  // on the 60 s grid
  struct poll {
    std::int64_t end;
    std::size_t offending, notified;
    incident::transition change;
  };
  // a and b end at t - 30, c at t + 90: the windows [t-180, t], [t-120, t+60], ... overlap.
  const std::vector<poll> polls = {
      {t, 1, 1, incident::transition::fired},       // a (b is 4 s: not offending)
      {t + 60, 1, 0, incident::transition::none},   // a again: already notified
      {t + 120, 2, 1, incident::transition::none},  // a, and c which ended at t + 90
      {t + 180, 1, 0, incident::transition::none},  // c only: a left the window
  };
  for (const poll& p : polls) {
    evaluate::poll_outcome out =
        evaluate::prepare_outcome(rule, cfg.smartsight, {p.end - 180, p.end});
    if (p.end - 180 <= t - 30 && t - 30 <= p.end)
      evaluate::add_rows(out,
                         rows(rule, {{"a", 9, ""}, {"b", 4, ""}}, static_cast<double>(t - 30)));
    if (p.end - 180 <= t + 90 && t + 90 <= p.end)
      evaluate::add_rows(out, rows(rule, {{"c", 7, ""}}, static_cast<double>(t + 90)));
    evaluate::conclude(out);
    const evaluate::step_effects& fx = r.poll(out, static_cast<double>(p.end));
    EXPECT_EQ(fx.facts.offending, p.offending) << p.end - t;
    EXPECT_EQ(std::count(fx.notified.begin(), fx.notified.end(), true),
              static_cast<std::ptrdiff_t>(p.notified))
        << p.end - t;
    EXPECT_EQ(fx.change, p.change) << p.end - t;
  }
  EXPECT_EQ(bodies.size(), 2u);  // one webhook body for a, one for c
  EXPECT_TRUE(r.state().incident.firing);
  EXPECT_EQ(r.state().checkpoint, t + 180);
}

TEST(Replay, APopulationGroupFiresAfterItsPollsInARowAndResolves) {
  config::daemon_config cfg = config_with(
      "  - {name: cdn, qoefilter: \"latency > 5\", group_by: [cdn], when: \"ratio > 50%\",\n"
      "     min_sample: 2, for: 2, resolve_after: 1, interval: 60s, window: 1m, delay: 0s}\n");
  const config::rule_config& rule = cfg.rules.at(0);
  evaluate::replay r(cfg, rule);
  const std::int64_t t = 1'800'000'000;
  const std::vector<std::pair<bool, incident::transition>> polls = {
      {true, incident::transition::none},       // pending: 1 of 2
      {true, incident::transition::fired},      // 2 in a row
      {false, incident::transition::resolved},  // below, resolve_after 1
  };
  for (std::size_t i = 0; i < polls.size(); ++i) {
    const std::int64_t end = t + 60 * static_cast<std::int64_t>(i);
    evaluate::poll_outcome out = evaluate::prepare_outcome(rule, cfg.smartsight, {end - 60, end});
    const double bad = polls[i].first ? 9 : 1;
    evaluate::add_rows(out, rows(rule,
                                 {{"s" + std::to_string(i) + "a", bad, "edgeB"},
                                  {"s" + std::to_string(i) + "b", bad, "edgeB"}},
                                 static_cast<double>(end - 5)));
    evaluate::conclude(out);
    const evaluate::step_effects& fx = r.poll(out, static_cast<double>(end));
    const incident::transition change =
        fx.group_changes.empty() ? incident::transition::none : fx.group_changes[0].change;
    EXPECT_EQ(change, polls[i].second) << i;
  }
  EXPECT_TRUE(r.state().groups.empty() || !r.state().groups.begin()->second.firing);
}
