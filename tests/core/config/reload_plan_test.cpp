// The reload plan as a table: which rules keep running, restart, start or go, and which sinks
// are added, kept, reconfigured or retired, for each kind of change an operator makes.
#include "config/reload_plan.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <ostream>

using namespace qoewatch;
using action = config::sink_plan::action;
using names = std::vector<std::string>;

namespace qoewatch::config {
void PrintTo(const sink_plan& p, std::ostream* os) {
  *os << "{" << p.name << ", " << static_cast<int>(p.what) << ", \"" << p.reason << "\"}";
}
}  // namespace qoewatch::config

namespace {

config::daemon_config load(const std::string& body) {
  config::load_result r = config::load_from_string(
      "smartsight: {customer_id: 7, api_key_env: K}\n" + body, "t.yaml");
  for (const auto& d : r.errors) ADD_FAILURE() << d.to_string();
  return r.config ? *r.config : config::daemon_config{};
}

const std::string sinks = R"(sinks:
  - {name: hook, type: webhook, url: "http://h/"}
  - {name: am, type: alertmanager, urls: ["http://am/"]}
)";

}  // namespace

TEST(ReloadPlan, AtStartEveryRuleStartsAndRemembersAndEverySinkIsAdded) {
  auto next = load(sinks + "rules:\n  - {name: a, qoefilter: latency > 5}\n"
                           "  - {name: b, qoefilter: latency > 9}\n");
  auto plan = config::plan_reload(nullptr, {}, next, {});
  EXPECT_EQ(plan.start, (names{"a", "b"}));
  EXPECT_EQ(plan.recall, (names{"a", "b"}));
  EXPECT_TRUE(plan.restart.empty());
  EXPECT_TRUE(plan.removed.empty());
  EXPECT_FALSE(plan.new_source);
  EXPECT_EQ(plan.sinks, (std::vector<config::sink_plan>{{"hook", action::add, ""},
                                                        {"am", action::add, ""}}));
  EXPECT_TRUE(plan.warnings.empty());
}

TEST(ReloadPlan, RulesKeepRestartStartOrGoByTheirSettingsOnly) {
  auto before = load(sinks + "rules:\n  - {name: keep, qoefilter: latency > 5}\n"
                             "  - {name: change, qoefilter: latency > 5}\n"
                             "  - {name: gone, qoefilter: latency > 5}\n");
  // `keep` moved down a line (another place in the file, the same settings).
  auto after = load(sinks + "rules:\n  - {name: change, qoefilter: latency > 6}\n"
                            "\n  - {name: keep, qoefilter: latency > 5}\n"
                            "  - {name: new, qoefilter: latency > 5}\n");
  auto plan = config::plan_reload(&before, {}, after, {});
  EXPECT_EQ(plan.removed, names{"gone"});
  EXPECT_EQ(plan.restart, names{"change"});
  EXPECT_EQ(plan.start, (names{"change", "new"}));
  EXPECT_EQ(plan.recall, names{"new"});
}

TEST(ReloadPlan, ANewSourceRestartsEveryRuleButRecallsNone) {
  auto before = load(sinks + "rules:\n  - {name: a, qoefilter: latency > 5}\n");
  auto after = before;
  config::secrets old_key, new_key;
  old_key.api_key = "k1";
  new_key.api_key = "k2";
  auto plan = config::plan_reload(&before, old_key, after, new_key);
  EXPECT_TRUE(plan.new_source);
  EXPECT_EQ(plan.restart, names{"a"});
  EXPECT_EQ(plan.start, names{"a"});
  EXPECT_TRUE(plan.recall.empty());

  after.smartsight.page_size = 10;
  plan = config::plan_reload(&before, old_key, after, old_key);
  EXPECT_TRUE(plan.new_source);
  EXPECT_FALSE(config::plan_reload(&before, old_key, before, old_key).new_source);
}

TEST(ReloadPlan, SinksAreKeptReconfiguredOrRetiredWithTheReasonTheirLettersCarry) {
  auto before = load(sinks + R"(  - {name: slack, type: slack, url: "http://s/"}
  - {name: pd, type: pagerduty, routing_key_file: /r}
rules: [{name: r, qoefilter: latency > 5}]
)");
  auto after = load(R"(sinks:
  - {name: hook, type: webhook, url: "http://h2/"}
  - {name: am, type: webhook, url: "http://am/"}
  - {name: pd, type: pagerduty, routing_key_file: /r}
  - {name: new, type: webhook, url: "http://n/"}
rules: [{name: r, qoefilter: latency > 5}]
)");
  config::secrets s1, s2;
  s1.routing_keys["pd"] = "r1";
  s2.routing_keys["pd"] = "r2";
  auto plan = config::plan_reload(&before, s1, after, s2);
  EXPECT_EQ(plan.sinks,
            (std::vector<config::sink_plan>{
                {"am", action::retire, "sink am changed type from alertmanager to webhook"},
                {"hook", action::reconfigure, ""},
                {"pd", action::reconfigure, ""},
                {"slack", action::retire, "sink slack was removed from the config"},
                {"am", action::add, ""},
                {"new", action::add, ""}}));
  // The same secrets: pd is kept as it is.
  plan = config::plan_reload(&before, s1, after, s1);
  EXPECT_EQ(plan.sinks[2], (config::sink_plan{"pd", action::keep, ""}));
}

TEST(ReloadPlan, ListenAndStateDirWaitForARestart) {
  auto before = load("rules: [{name: r, qoefilter: latency > 5}]\n");
  auto after = load("listen: 127.0.0.1:1\nstate_dir: /x\n"
                    "rules: [{name: r, qoefilter: latency > 5}]\n");
  auto plan = config::plan_reload(&before, {}, after, {});
  EXPECT_EQ(plan.warnings,
            (names{"listen changed to 127.0.0.1:1; it takes effect at the next restart",
                   "state_dir changed to /x; it takes effect at the next restart"}));
}

TEST(ReloadPlan, SilenceRetentionTakesEffectWithoutARestart) {
  auto before = load("rules: [{name: r, qoefilter: latency > 5}]\n");
  auto after =
      load("state: {silence_retention: 24h}\nrules: [{name: r, qoefilter: latency > 5}]\n");
  EXPECT_EQ(after.state.silence_retention, std::chrono::hours(24));
  EXPECT_TRUE(config::plan_reload(&before, {}, after, {}).warnings.empty());
}

TEST(ReloadPlan, AnEditThatChangesWhatIsJudgedResolvesWhatFired) {
  const std::string pop =
      "  - {name: p, qoefilter: cirrbufferingratio > 2, group_by: [cdn], when: \"ratio > 10%\"";
  auto running = load(sinks + "rules:\n" + pop + "}\n  - {name: s, qoefilter: latency > 5}\n");
  struct edit {
    std::string rules;
    names resolve;
  };
  const std::vector<edit> edits = {
      // How an incident is told or when polls run: its groups carry over.
      {pop + ", severity: critical, interval: 30s, for: 3, evidence: 2}\n"
             "  - {name: s, qoefilter: latency > 5, labels: {team: x}}\n",
       {}},
      // What holds: the threshold, the groups, the sample guard, the rows, the kind.
      {"  - {name: p, qoefilter: cirrbufferingratio > 2, group_by: [cdn], when: \"ratio > 20%\"}\n"
       "  - {name: s, qoefilter: latency > 6}\n",
       {"p"}},
      {"  - {name: p, qoefilter: cirrbufferingratio > 2, group_by: [cdn, platform], "
       "when: \"ratio > 10%\"}\n  - {name: s, qoefilter: latency > 5}\n",
       {"p"}},
      {pop + ", min_sample: 50}\n  - {name: s, qoefilter: latency > 5}\n", {"p"}},
      {pop + ", resolve_when: \"ratio < 5%\"}\n  - {name: s, qoefilter: latency > 5}\n", {"p"}},
      {pop + ", filter: \"[cdn=edgeB]\"}\n  - {name: s, qoefilter: latency > 5}\n", {"p"}},
      {"  - {name: p, qoefilter: cirrbufferingratio > 2}\n"
       "  - {name: s, qoefilter: latency > 5, when: \"p95(latency) > 4\"}\n",
       {"p", "s"}},
  };
  for (const edit& e : edits) {
    auto next = load(sinks + "rules:\n" + e.rules);
    auto plan = config::plan_reload(&running, {}, next, {});
    EXPECT_EQ(plan.resolve, e.resolve) << e.rules;
    for (const std::string& r : plan.resolve)
      EXPECT_NE(std::find(plan.restart.begin(), plan.restart.end(), r), plan.restart.end());
  }
}
