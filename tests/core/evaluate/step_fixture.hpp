// What the per-session step tests share: a config with a webhook, an Alertmanager and a
// PagerDuty sink, one rule, polls of made-up sessions folded the way a poll folds them, the
// step applied as the rule runner applies it, and readers for what a step wrote.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/load.hpp"
#include "evaluate/step.hpp"

namespace qoewatch::testing_step {

using kind = evaluate::poll_outcome::kind;

constexpr double t0 = 1'775'750'000;  // a poll's end, epoch seconds

inline config::daemon_config config_with(const std::string& rule_yaml) {
  std::string yaml = R"(smartsight: {customer_id: 7, api_key_env: K}
sinks:
  - {name: hook, type: webhook, url: "http://h/"}
  - {name: am, type: alertmanager, urls: ["http://am/"]}
  - {name: pd, type: pagerduty, routing_key_file: /r}
rules:
)" + rule_yaml;
  config::load_result r = config::load_from_string(yaml, "t.yaml");
  for (const auto& d : r.errors) ADD_FAILURE() << d.to_string();
  return r.config ? *r.config : config::daemon_config{};
}

// One rule, its query, and the step's world.
struct fixture {
  explicit fixture(const std::string& rule_yaml)
      : cfg(config_with(rule_yaml)), rule(cfg.rules.at(0)), query(cfg.smartsight, rule) {
    env.cfg = &cfg;
    env.query = &query;
    env.external_url = "http://qoewatch:9786";
  }

  // A poll of the window ending at `end` that read these sessions (id, latency).
  evaluate::poll_outcome polled(std::int64_t end,
                                const std::vector<std::pair<std::string, double>>& sessions,
                                bool behind = false, evaluate::row_log::options keep = {}) {
    evaluate::poll_outcome out;
    out.what = kind::polled;
    out.window = {end - 600, end};
    out.behind = behind;
    out.pages = 1;
    out.acc = std::make_unique<evaluate::poll_accumulator>(rule, std::move(keep));
    boost::json::array rows;
    for (const auto& [id, latency] : sessions)
      rows.push_back({{"latency", latency}, {"sessionid", id}, {"endtime", end - 10}});
    auto page = out.acc->add_body(boost::json::serialize(boost::json::object{{"response", rows}}));
    EXPECT_TRUE(page) << page.error;
    return out;
  }

  evaluate::poll_outcome failed() {
    evaluate::poll_outcome out;
    out.what = kind::failed;
    out.error = "connection refused";
    return out;
  }

  // Steps and keeps what the daemon would keep: the next state and the notified pairs.
  evaluate::step_effects step(const evaluate::poll_outcome& out, double now = t0) {
    evaluate::step_effects fx = evaluate::step(rule, state, out, notified, now, env);
    state = fx.next;
    evaluate::remember(rule, out, fx, notified);
    return fx;
  }

  config::daemon_config cfg;
  config::rule_config rule;
  fetch::listsessions_query query;
  evaluate::step_env env;
  evaluate::rule_state state;
  evaluate::notified_sessions notified;
};

inline std::vector<std::string> sinks_of(const state::poll_commit& c) {
  std::vector<std::string> out;
  for (const auto& r : c.outbox) out.push_back(r.sink);
  return out;
}

inline std::vector<std::string> notified_ids(const state::poll_commit& c) {
  std::vector<std::string> out;
  for (const auto& n : c.notified) out.push_back(n.sessionid);
  return out;
}

inline boost::json::value body(const state::outbox_row& r) {
  return boost::json::parse(r.body);
}

}  // namespace qoewatch::testing_step
