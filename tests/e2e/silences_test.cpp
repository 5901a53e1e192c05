// Silences end to end, with Debian's amtool against qoewatchd: add, query, expire, update;
// `alert query` showing what fires and what is silenced; a silenced group not notified, and
// notified once its silence is expired; silences surviving SIGKILL; the API's safety defaults
// (loopback only without users, basic auth with amtool's user:password@ URL).
#include <crypt.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>

#include "e2e/harness.hpp"
#include "support/process.hpp"

namespace json = boost::json;
using namespace qoewatch::test;
using namespace qoewatch::e2e;
using namespace std::chrono_literals;

namespace {

const std::string rule_name = "cdn_rebuffering";

struct command_result {
  int code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// amtool against `url`, as an operator runs it.
command_result amtool(const std::string& url, std::vector<std::string> args) {
  args.insert(args.begin(), "--alertmanager.url=" + url);
  child_process p("/usr/bin/amtool", std::move(args));
  command_result r;
  while (std::optional<std::string> line = p.read_line(20s)) r.out += *line + "\n";
  r.code = p.wait(20s);
  r.err = p.log();
  return r;
}

std::vector<std::string> sessions_of(const std::string& prefix, const std::string& cdn, int n,
                                     int offending, std::int64_t endtime) {
  std::vector<std::string> out;
  for (int i = 1; i <= n; ++i)
    out.push_back(session(prefix + std::to_string(i), endtime,
                          std::string(R"("latency":3,"cirrbufferingratio":)") +
                              (i <= offending ? "5" : "0") + R"(,"cdn":")" + cdn + "\""));
  return out;
}

// Firing group notifications the receiver got for `cdn`.
std::size_t fired_for(const std::string& file, const std::string& cdn) {
  std::size_t n = 0;
  for (json::value& v : notifications(file))
    if (v.at("groupKey") == ("qoewatch/" + rule_name + "/cdn=" + cdn).c_str() &&
        v.at("status") == "firing")
      ++n;
  return n;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

class Silences : public testing::Test {
 protected:
  config_builder builder(const std::string& sim_port, const std::string& hook_port) const {
    config_builder c;
    c.smartsight(sim_port);
    c.rule(rule_spec(rule_name, "cirrbufferingratio > 2")
               .window_of("60s")
               .with("group_by: [cdn]")
               .with("when: \"ratio > 20%\"")
               .with("min_sample: 4")
               .with("resolve_after: 1")
               .with("evidence: 2"));
    c.sink(webhook(hook_port));
    return c;
  }
  temp_dir dir_;
};

}  // namespace

TEST_F(Silences, AmtoolSilencesAGroupThatIsToldOnceTheSilenceIsExpired) {
  sim s({"--rate", "0"});
  const std::string received = (dir_.path / "received.jsonl").string();
  receiver hook(received);
  const std::string cfg = builder(s.port, hook.port).write(dir_);
  auto daemon =
      std::make_unique<qoewatchd>(cfg, std::map<std::string, std::string>{{"QW_KEY", s.key}});
  const std::string url = "http://127.0.0.1:" + daemon->port();

  // Before anything fires: the silence, as the issue's operator types it.
  command_result added = amtool(url, {"silence", "add", "alertname=cdn_rebuffering", "cdn=edgeB",
                                      "--duration", "2h", "--comment", "edgeB maintenance"});
  ASSERT_EQ(added.code, 0) << added.out << added.err << daemon->log();
  const std::string id = trimmed(added.out);
  ASSERT_EQ(id.size(), 36u) << id;
  command_result query = amtool(url, {"silence", "query"});
  ASSERT_EQ(query.code, 0) << query.err;
  EXPECT_NE(query.out.find(id), std::string::npos) << query.out;
  EXPECT_NE(query.out.find("edgeB maintenance"), std::string::npos) << query.out;
  EXPECT_NE(query.out.find("cdn=\"edgeB\""), std::string::npos) << query.out;
  EXPECT_EQ(trimmed(amtool(url, {"silence", "query", "-q", "cdn=edgeB"}).out), id);
  EXPECT_EQ(trimmed(amtool(url, {"silence", "query", "-q", "cdn=edgeA"}).out), "");
  ASSERT_TRUE(
      wait_for_metric(daemon->port(), "qoewatch_silences{state=\"active\"}", equal_to(1), 10s));

  // edgeA and edgeB both fire: edgeA is told, edgeB is held and counted.
  const std::int64_t t0 = wall_now() - 1;
  std::vector<std::string> rows = sessions_of("b", "edgeB", 5, 4, t0);
  for (const std::string& r : sessions_of("a", "edgeA", 5, 3, t0)) rows.push_back(r);
  add_sessions(s, rows);
  ASSERT_TRUE(eventually([&] { return fired_for(received, "edgeA") == 1; }, 20s)) << daemon->log();
  ASSERT_TRUE(wait_for_metric(
      daemon->port(),
      "qoewatch_notifications_silenced_total{rule=\"" + rule_name + "\",sink=\"hook\"}",
      equal_to(1), 10s));
  EXPECT_EQ(fired_for(received, "edgeB"), 0u);

  // amtool alert query: edgeA active; edgeB only with --silenced, suppressed by the silence.
  ASSERT_TRUE(eventually(
      [&] {
        return amtool(url, {"alert", "query"}).out.find("edgeA") != std::string::npos;
      },
      10s));
  command_result active = amtool(url, {"alert", "query"});
  EXPECT_EQ(active.out.find("edgeB"), std::string::npos) << active.out;
  command_result silenced = amtool(url, {"-o", "json", "alert", "query", "--silenced"});
  ASSERT_EQ(silenced.code, 0) << silenced.err;
  const json::value alerts = json::parse(silenced.out);
  ASSERT_EQ(alerts.as_array().size(), 1u) << silenced.out;
  EXPECT_EQ(alerts.at(0).at("labels").at("cdn"), "edgeB");
  EXPECT_EQ(alerts.at(0).at("status").at("state"), "suppressed");
  EXPECT_EQ(alerts.at(0).at("status").at("silencedBy").at(0), id.c_str());

  // SIGKILL: the silence is in the state database, and still holds.
  daemon->signal(SIGKILL);
  daemon->wait(10s);
  daemon = std::make_unique<qoewatchd>(cfg, std::map<std::string, std::string>{{"QW_KEY", s.key}});
  const std::string url2 = "http://127.0.0.1:" + daemon->port();
  EXPECT_EQ(trimmed(amtool(url2, {"silence", "query", "-q"}).out), id);
  ASSERT_TRUE(wait_for_more_polls(daemon->port(), rule_name, 2, 20s));
  EXPECT_EQ(fired_for(received, "edgeB"), 0u);

  // Expired: edgeB, still firing, is told now, once.
  command_result expired = amtool(url2, {"silence", "expire", id});
  ASSERT_EQ(expired.code, 0) << expired.err;
  ASSERT_TRUE(eventually([&] { return fired_for(received, "edgeB") == 1; }, 20s)) << daemon->log();
  ASSERT_TRUE(wait_for_more_polls(daemon->port(), rule_name, 2, 20s));
  EXPECT_EQ(fired_for(received, "edgeB"), 1u);
  EXPECT_EQ(fired_for(received, "edgeA"), 1u);
  EXPECT_EQ(trimmed(amtool(url2, {"silence", "query", "-q"}).out), "");  // active only
  EXPECT_EQ(trimmed(amtool(url2, {"silence", "query", "-q", "--expired"}).out), id);
  EXPECT_TRUE(
      wait_for_metric(daemon->port(), "qoewatch_silences{state=\"expired\"}", equal_to(1), 10s));
  EXPECT_NE(
      daemon->log().find("silence " + id + " expired at the request of an unauthenticated client"),
      std::string::npos);
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait(15s), 0);
}

TEST_F(Silences, AmtoolUpdatesInPlaceAndGetsAlertmanagersErrors) {
  sim s({"--rate", "0"});
  receiver hook((dir_.path / "received.jsonl").string());
  qoewatchd daemon(builder(s.port, hook.port).write(dir_), {{"QW_KEY", s.key}});
  const std::string url = "http://127.0.0.1:" + daemon.port();
  const std::string id =
      trimmed(amtool(url, {"silence", "add", "cdn=~\"edge.*\"", "--comment", "first"}).out);
  ASSERT_EQ(id.size(), 36u) << id << daemon.log();
  // An update with the same matchers keeps the id (Alertmanager's rule).
  command_result updated =
      amtool(url, {"silence", "update", id, "--duration", "3h", "--comment", "extended"});
  ASSERT_EQ(updated.code, 0) << updated.err;
  command_result json_list = amtool(url, {"-o", "json", "silence", "query"});
  const json::value list = json::parse(json_list.out);
  ASSERT_EQ(list.as_array().size(), 1u) << json_list.out;
  EXPECT_EQ(list.at(0).at("id"), id.c_str());
  EXPECT_EQ(list.at(0).at("comment"), "extended");

  // Alertmanager's words for what is wrong, and nothing stored.
  // (amtool reads a matcher it cannot parse as an alertname: a bad regex comes from elsewhere.)
  const http_reply bad_regex =
      http_request(daemon.port(), "POST", "/api/v2/silences",
                   R"({"matchers":[{"isEqual":true,"isRegex":true,"name":"cdn","value":"[edge"}],)"
                   R"("createdBy":"x","comment":"x","startsAt":"2020-01-01T00:00:00Z",)"
                   R"("endsAt":"2099-01-01T00:00:00Z"})",
                   {{"Content-Type", "application/json"}});
  EXPECT_EQ(bad_regex.status, 400u);
  EXPECT_NE(bad_regex.body.find("missing ]"), std::string::npos) << bad_regex.body;
  command_result unknown =
      amtool(url, {"silence", "expire", "98e68380-4bed-43ea-abdf-1b115f805deb"});
  EXPECT_NE(unknown.code, 0);
  EXPECT_NE((unknown.out + unknown.err).find("silence not found"), std::string::npos)
      << unknown.out << unknown.err;
  command_result past = amtool(url, {"silence", "add", "cdn=edgeA", "--comment", "x", "--start",
                                     "2020-01-01T00:00:00Z", "--end", "2020-01-01T01:00:00Z"});
  EXPECT_NE(past.code, 0);
  EXPECT_NE((past.out + past.err).find("in the past"), std::string::npos) << past.out << past.err;
  EXPECT_EQ(amtool(url, {"-o", "json", "silence", "query", "--expired"}).out, "[]\n");
  EXPECT_EQ(json::parse(amtool(url, {"-o", "json", "silence", "query"}).out).as_array().size(), 1u);
}

namespace {

std::string bcrypt(const std::string& password) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  if (crypt_gensalt_rn("$2b$", 4, nullptr, 0, salt, sizeof salt) == nullptr) return "";
  crypt_data data{};
  const char* out = crypt_r(password.c_str(), salt, &data);
  return out == nullptr ? "" : out;
}

}  // namespace

TEST_F(Silences, TheApiNeedsAUserOrALoopbackListenOrAnExplicitSetting) {
  sim s({"--rate", "0"});
  receiver hook((dir_.path / "received.jsonl").string());
  {
    // On every address, no users: the API refuses and names the settings; /metrics answers.
    config_builder c = builder(s.port, hook.port);
    c.listen = "0.0.0.0:0";
    qoewatchd daemon(c.write(dir_), {{"QW_KEY", s.key}});
    http_reply r = http_request(daemon.port(), "GET", "/api/v2/status");
    EXPECT_EQ(r.status, 403u);
    EXPECT_NE(r.body.find("web.allow_unauthenticated_writes"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("web.basic_auth_users"), std::string::npos) << r.body;
    EXPECT_EQ(http_request(daemon.port(), "GET", "/metrics").status, 200u);
    EXPECT_EQ(http_request(daemon.port(), "GET", "/").status, 200u);
  }
  {
    config_builder c = builder(s.port, hook.port);
    c.listen = "0.0.0.0:0";
    c.extra = "web:\n  allow_unauthenticated_writes: true\n";
    qoewatchd daemon(c.write(dir_), {{"QW_KEY", s.key}});
    EXPECT_EQ(http_request(daemon.port(), "GET", "/api/v2/status").status, 200u);
  }
  {
    // With users: every call needs one; amtool's user:password@ URL works.
    config_builder c = builder(s.port, hook.port);
    c.extra = "web:\n  basic_auth_users:\n    oncall: \"" + bcrypt("pager duty") + "\"\n";
    qoewatchd daemon(c.write(dir_), {{"QW_KEY", s.key}});
    EXPECT_EQ(http_request(daemon.port(), "GET", "/api/v2/silences").status, 401u);
    EXPECT_EQ(http_request(daemon.port(), "GET", "/").status, 401u);  // the status page too
    EXPECT_EQ(http_request(daemon.port(), "GET", "/healthz").status, 200u);
    EXPECT_NE(amtool("http://127.0.0.1:" + daemon.port(), {"silence", "query"}).code, 0);
    const std::string url = "http://oncall:pager%20duty@127.0.0.1:" + daemon.port();
    command_result added = amtool(url, {"silence", "add", "cdn=edgeB", "--comment", "auth"});
    ASSERT_EQ(added.code, 0) << added.out << added.err;
    EXPECT_EQ(trimmed(amtool(url, {"silence", "query", "-q"}).out), trimmed(added.out));
    EXPECT_EQ(daemon.log().find("pager duty"), std::string::npos);
    EXPECT_NE(daemon.log().find("created at the request of user oncall"), std::string::npos)
        << daemon.log();
  }
}

TEST_F(Silences, ABrowserPageCannotSilenceThroughALoopbackListen) {
  sim s({"--rate", "0"});
  receiver hook((dir_.path / "received.jsonl").string());
  qoewatchd daemon(builder(s.port, hook.port).write(dir_), {{"QW_KEY", s.key}});
  const std::string body =
      R"({"matchers":[{"isEqual":true,"isRegex":true,"name":"alertname","value":".+"}],)"
      R"("createdBy":"x","comment":"x","startsAt":"2020-01-01T00:00:00Z",)"
      R"("endsAt":"2099-01-01T00:00:00Z"})";
  const std::string port = daemon.port();
  using headers = std::map<std::string, std::string>;
  struct row {
    headers h;
    unsigned status;
  };
  for (const row& r : {
           // A form or fetch() from any page: text/plain needs no preflight.
           row{{{"Content-Type", "text/plain"}}, 415},
           row{{{"Content-Type", "application/json"}, {"Origin", "http://evil.example"}}, 403},
           row{{{"Content-Type", "application/json"}, {"Sec-Fetch-Site", "cross-site"}}, 403},
           // DNS rebinding: a name of the attacker's that resolves to 127.0.0.1.
           row{{{"Content-Type", "application/json"}, {"Host", "evil.example:" + port}}, 403},
           // What amtool sends, and a page of the daemon's own origin.
           row{{{"Content-Type", "application/json"}}, 200},
           row{{{"Content-Type", "application/json"},
                {"Origin", "http://127.0.0.1:" + port},
                {"Sec-Fetch-Site", "same-origin"}},
               200},
       }) {
    const http_reply a = http_request(port, "POST", "/api/v2/silences", body, r.h);
    EXPECT_EQ(a.status, r.status) << testing::PrintToString(r.h) << ": " << a.body;
  }
  EXPECT_EQ(json::parse(http_request(port, "GET", "/api/v2/silences").body).as_array().size(), 2u);
}

TEST_F(Silences, AMaintenanceWindowHoldsARuleThatGoesOnBeingJudged) {
  sim s({"--rate", "0"});
  const std::string received = (dir_.path / "received.jsonl").string();
  receiver hook(received);
  config_builder c = builder(s.port, hook.port);
  // A window that always holds, on a named zone's wall clock.
  c.extra = R"(time_intervals:
  - name: always
    time_intervals:
      - times: [{start_time: "00:00", end_time: "24:00"}]
        location: Europe/Berlin
)";
  c.rules[0].with("mute_time_intervals: [always]");
  const std::int64_t t0 = wall_now() - 1;
  add_sessions(s, sessions_of("b", "edgeB", 5, 4, t0));
  qoewatchd daemon(c.write(dir_), {{"QW_KEY", s.key}});
  // Judged and exported: the group fires; held: counted, not sent.
  ASSERT_TRUE(wait_for_metric(
      daemon.port(), "qoewatch_group_firing{group=\"cdn=edgeB\",rule=\"" + rule_name + "\"}",
      equal_to(1), 20s))
      << daemon.log();
  ASSERT_TRUE(wait_for_metric(
      daemon.port(),
      "qoewatch_notifications_silenced_total{rule=\"" + rule_name + "\",sink=\"hook\"}",
      at_least(1), 10s));
  ASSERT_TRUE(wait_for_more_polls(daemon.port(), rule_name, 2, 20s));
  EXPECT_EQ(fired_for(received, "edgeB"), 0u);
  // amtool lists it as suppressed, by no silence.
  const std::string url = "http://127.0.0.1:" + daemon.port();
  command_result listed = amtool(url, {"-o", "json", "alert", "query", "--silenced"});
  ASSERT_EQ(listed.code, 0) << listed.err;
  const json::value alerts = json::parse(listed.out);
  ASSERT_EQ(alerts.as_array().size(), 1u) << listed.out;
  EXPECT_EQ(alerts.at(0).at("status").at("state"), "suppressed");
  EXPECT_TRUE(alerts.at(0).at("status").at("silencedBy").as_array().empty());
  EXPECT_EQ(amtool(url, {"alert", "query"}).out.find("edgeB"), std::string::npos);
}
