// What the population step tests share: a config with one sink of each type, a population
// rule, windows of made-up sessions folded the way a poll folds them (through
// population_accumulator, from a listsessions body), the step applied as the rule runner
// applies it, and readers for what a step wrote.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/load.hpp"
#include "evaluate/population.hpp"
#include "evaluate/step.hpp"

namespace qoewatch::testing_population {

namespace json = boost::json;

constexpr double t0 = 1'775'750'000;  // the first poll's end, epoch seconds

inline config::daemon_config config_with(const std::string& rule_yaml) {
  std::string yaml = R"(smartsight: {customer_id: 7, api_key_env: K}
sinks:
  - {name: hook, type: webhook, url: "http://h/"}
  - {name: am, type: alertmanager, urls: ["http://am/"]}
  - {name: pd, type: pagerduty, routing_key_file: /r}
  - {name: chat, type: slack, url: "http://s/"}
rules:
)" + rule_yaml;
  config::load_result r = config::load_from_string(yaml, "t.yaml");
  for (const auto& d : r.errors) ADD_FAILURE() << d.to_string();
  return r.config ? *r.config : config::daemon_config{};
}

// `sessions` sessions of one group in a window: the first `offending` rebuffer (5 > 2), the
// rest do not (0.5); session i has latency i + 1 s. `dims` are the row's dimension keys as
// SmartSight sends them (none: the row lacks them). Ids are `prefix`-i.
struct cohort {
  json::object dims;
  int sessions = 0;
  int offending = 0;
  std::string prefix;
};

inline cohort cdn(const std::string& value, int sessions, int offending) {
  return {{{"cdn", value}}, sessions, offending, value.empty() ? "empty" : value};
}

// One rule, its query, and the step's world, stepping as the rule runner does: each poll
// ends 60 s after the last (plus `lag`, this process's own delay in polling).
struct fixture {
  explicit fixture(const std::string& rule_yaml)
      : cfg(config_with(rule_yaml)), rule(cfg.rules.at(0)), query(cfg.smartsight, rule) {
    env.cfg = &cfg;
    env.query = &query;
    env.external_url = "http://qoewatch:9786";
    // As a daemon with a state database starts a rule that has no firing groups.
    state.committed_groups = std::vector<state::incident_row>{};
  }

  double now() const { return t0 + 60.0 * polls + lag; }
  std::int64_t window_end() const { return 1'775'749'880 + 60 * polls; }

  // The outcome of a poll whose one page held `groups`.
  evaluate::poll_outcome outcome(const std::vector<cohort>& groups) {
    evaluate::poll_outcome out;
    out.what = evaluate::poll_outcome::kind::polled;
    out.window = {window_end() - 600, window_end()};
    out.pages = 1;
    json::array rows;
    for (const cohort& c : groups) {
      for (int i = 0; i < c.sessions; ++i) {
        json::object row = c.dims;
        row["sessionid"] = c.prefix + "-" + std::to_string(i);
        row["endtime"] = window_end() - 10;
        row["cirrbufferingratio"] = i < c.offending ? 5.0 : 0.5;
        row["latency"] = i + 1;
        rows.push_back(std::move(row));
      }
    }
    evaluate::population_accumulator acc(rule);
    auto page = acc.add_body(json::serialize(json::object{{"response", std::move(rows)}}));
    EXPECT_TRUE(page) << page.error;
    out.figures = std::make_unique<evaluate::window_figures>(acc.finish());
    return out;
  }

  evaluate::step_effects step(const evaluate::poll_outcome& out) {
    evaluate::step_effects fx = evaluate::step(rule, state, out, notified, now(), env);
    state = fx.next;
    ++polls;
    return fx;
  }
  evaluate::step_effects poll(const std::vector<cohort>& groups) { return step(outcome(groups)); }
  evaluate::step_effects fail() {
    evaluate::poll_outcome out;
    out.what = evaluate::poll_outcome::kind::failed;
    out.error = "connection refused";
    return step(out);
  }
  evaluate::step_effects remove() {
    evaluate::poll_outcome out;
    out.what = evaluate::poll_outcome::kind::removed;
    return step(out);
  }

  // The state of the group with these values (a group with no state reads as the default).
  incident::group_state group(const std::vector<std::string>& values) const {
    auto it = state.groups.find(values);
    return it == state.groups.end() ? incident::group_state{} : it->second;
  }
  // The key of a group fired by poll `poll`: named after that poll's window end.
  std::string key_at(int poll, const std::string& label) const {
    return incident::group_key_for(rule.name, label, fired_at(poll));
  }
  // The startsAt of a group fired by poll `poll`: its window's end.
  static double fired_at(int poll) { return 1'775'749'880.0 + 60.0 * poll; }

  config::daemon_config cfg;
  config::rule_config rule;
  fetch::listsessions_query query;
  evaluate::step_env env;
  evaluate::rule_state state;
  evaluate::notified_sessions notified;
  int polls = 0;
  double lag = 0;
};

inline std::vector<std::string> sinks_of(const state::poll_commit& c) {
  std::vector<std::string> out;
  for (const auto& r : c.outbox) out.push_back(r.sink);
  return out;
}

inline json::value body(const state::outbox_row& r) {
  return json::parse(r.body);
}

inline std::string str(const json::value& v) {
  return std::string(v.as_string());
}

// The labels of a webhook body's first alert (the group alert) as one object.
inline json::object group_labels(const state::outbox_row& r) {
  return body(r).at("alerts").at(0).at("labels").as_object();
}

// What a committed group row says: its key and dimensions.
inline std::vector<std::string> committed_keys(const state::poll_commit& c) {
  std::vector<std::string> out;
  if (c.groups)
    for (const state::incident_row& g : *c.groups) out.push_back(g.key);
  return out;
}

inline std::vector<std::string> labels_of(const evaluate::poll_facts& f) {
  std::vector<std::string> out;
  for (const auto& g : f.exported) out.push_back(g.label);
  return out;
}

}  // namespace qoewatch::testing_population
