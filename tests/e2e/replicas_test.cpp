// Replicas: qoewatchd processes that judge the same data give what they send the same
// identities (incident keys, webhook-ids), so receivers that dedupe on them hear one page.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <map>
#include <set>

#include "e2e/harness.hpp"
#include "support/process.hpp"

namespace json = boost::json;
using namespace qoewatch::test;
using namespace qoewatch::e2e;
using namespace std::chrono_literals;

namespace {

const std::string slow = R"("latency":9,"cirrbufferingratio":0,"fatalerrors":0)";

// The accepted POSTs of a --requests file: per webhook-id, how many copies and the sessions.
struct by_id {
  std::map<std::string, int> copies;
  std::map<std::string, std::set<std::string>> ids_of_session;
  std::set<std::string> incidents;
};

by_id read_by_id(const std::string& requests) {
  by_id out;
  for (const json::value& r : json_lines(requests)) {
    if (r.at("status").to_number<int>() / 100 != 2) continue;
    const std::string id(r.at("webhook_id").as_string());
    ++out.copies[id];
    const json::value& body = r.at("body");
    for (const json::value& a : body.at("alerts").as_array())
      if (const json::value* s = a.at("labels").as_object().if_contains("sessionid"))
        out.ids_of_session[std::string(s->as_string())].insert(id);
    out.incidents.insert(std::string(body.at("qoewatch").at("incident").at("key").as_string()));
  }
  return out;
}

}  // namespace

TEST(Replicas, TwoIndependentReplicasNotifyEachSessionUnderOneId) {
  // Two daemons, each with its own SQLite state, started a moment apart: their start jitters
  // and poll moments differ, the windows they judge do not. A 3 s delay means a session that
  // ended just now is first seen by both in the same window.
  sim s({"--rate", "0"});
  temp_dir a_dir, b_dir;
  const std::string requests = (a_dir.path / "requests.jsonl").string();
  receiver_options opts;
  opts.requests = requests;
  receiver hook((a_dir.path / "accepted.jsonl").string(), opts);
  config_builder c;
  c.smartsight(s.port);
  c.sink(webhook(hook.port, {"max_sessions_per_notification: 2"}));
  c.rule(rule_spec("slow", "latency > 5").delay_of("3s"));
  const std::map<std::string, std::string> env{{"QW_KEY", s.key}};
  qoewatchd a(c.write(a_dir), env);
  ASSERT_TRUE(wait_for_more_polls(a.port(), "slow", 1, 20s)) << a.log();
  qoewatchd b(c.write(b_dir), env);
  ASSERT_TRUE(wait_for_more_polls(b.port(), "slow", 1, 20s)) << b.log();

  std::vector<std::string> rows;
  std::set<std::string> expected;
  for (int i = 0; i < 5; ++i) {
    rows.push_back(session("r" + std::to_string(i), wall_now(), slow));
    expected.insert("r" + std::to_string(i));
  }
  add_sessions(s, rows);

  // Three bodies of at most 2 sessions, each sent by both replicas under one id.
  auto all_twice = [&] {
    const by_id got = read_by_id(requests);
    if (got.copies.size() < 3) return false;
    for (const auto& [id, n] : got.copies)
      if (n < 2) return false;
    return true;
  };
  ASSERT_TRUE(eventually(all_twice, 30s)) << json_lines(requests).size() << " POSTs\n"
                                          << a.log() << b.log();
  // Nothing more comes: a few more polls of each go by, and the outboxes are empty.
  for (qoewatchd* d : {&a, &b}) {
    ASSERT_TRUE(wait_for_more_polls(d->port(), "slow", 3, 20s)) << d->log();
    ASSERT_TRUE(wait_for_metric(d->port(), "qoewatch_outbox_pending{sink=\"hook\"}",
                                equal_to(0), 20s));
  }
  const by_id got = read_by_id(requests);
  EXPECT_EQ(got.copies.size(), 3u);
  for (const auto& [id, n] : got.copies) EXPECT_EQ(n, 2) << id;
  std::set<std::string> sessions;
  for (const auto& [session, ids] : got.ids_of_session) {
    sessions.insert(session);
    EXPECT_EQ(ids.size(), 1u) << session << " came under several webhook-ids";
  }
  EXPECT_EQ(sessions, expected);
  EXPECT_EQ(got.incidents.size(), 1u) << "both replicas name the incident alike";
  for (qoewatchd* d : {&a, &b}) {
    d->signal(SIGTERM);
    EXPECT_EQ(d->wait(15s), 0) << d->log();
  }
}
