// What systemd and the journal get from qoewatchd: the STATUS= line, priorities, JSON lines.
#include "service/status.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>


using namespace qoewatch;
using std::chrono::system_clock;

namespace {
system_clock::time_point at(std::int64_t epoch_ms) {
  return system_clock::time_point(std::chrono::milliseconds(epoch_ms));
}
}  // namespace

TEST(ServiceStatus, SaysWhatAnOperatorChecksFirst) {
  using service::rule_state;
  EXPECT_EQ(
      service::status_line({{"a", false, true, false}, {"b", false, true, false}}, 0, std::nullopt),
      "2 rules, waiting for the first polls, 0 notifications pending");
  EXPECT_EQ(service::status_line({{"a", true, true, false}, {"b", true, true, true}}, 1,
                                 at(1'800'000'003'000)),
            "2 rules, all sources up, 1 firing (b), last poll 08:00:03Z, 1 notification pending");
  EXPECT_EQ(service::status_line({{"a", true, false, true},
                                  {"b", true, false, false},
                                  {"c", true, false, false},
                                  {"d", true, false, false},
                                  {"e", false, true, false}},
                                 12, at(1'800'000'003'000)),
            "5 rules, 4 sources down (a, b, c and 1 more), 1 firing (a), last poll 08:00:03Z, 12 "
            "notifications pending");
  EXPECT_EQ(
      service::status_line({{"a", true, true, false}, {"b", false, true, false}}, 0, std::nullopt),
      "2 rules, b not polled yet, 0 notifications pending");
  EXPECT_EQ(service::status_line({{"only", true, true, false}}, 0, std::nullopt),
            "1 rule, all sources up, 0 notifications pending");
}

TEST(ServiceStatus, ReplicasSayHowManyRulesTheyOwnAndWhenTheStateIsDown) {
  using service::rule_state;
  using service::state_summary;
  EXPECT_EQ(service::status_line({{"a", true, true, false}}, 0, std::nullopt,
                                 state_summary{true, true, 3}),
            "state up, 1 of 3 rules owned, all sources up, 0 notifications pending");
  EXPECT_EQ(service::status_line({}, 2, std::nullopt, state_summary{false, true, 3}),
            "state database down, 0 of 3 rules owned, 2 notifications pending");
  EXPECT_EQ(service::status_line({{"a", true, true, false}}, 1, std::nullopt,
                                 state_summary{true, true, 3, 1, 2}),
            "state up, 1 of 3 rules and 1 of 2 sinks owned, all sources up, 1 notification "
            "pending");
  EXPECT_EQ(service::status_line({}, 0, std::nullopt, state_summary{true, true, 2, 0, 1}),
            "state up, 0 of 2 rules and 0 of 1 sink owned, 0 notifications pending");
  EXPECT_EQ(service::status_line({{"a", true, true, false}}, 0, std::nullopt,
                                 state_summary{false, false, 0}),
            "state database down, 1 rule, all sources up, 0 notifications pending");
}

TEST(ServiceStatus, JournalPrioritiesFollowSyslog) {
  EXPECT_EQ(service::syslog_priority("critical"), 2);
  EXPECT_EQ(service::syslog_priority("error"), 3);
  EXPECT_EQ(service::syslog_priority("warning"), 4);
  EXPECT_EQ(service::syslog_priority("info"), 6);
  EXPECT_EQ(service::syslog_priority("debug"), 7);
  EXPECT_EQ(service::syslog_priority("trace"), 7);
}

TEST(ServiceStatus, JsonLogLinesAreOneValidObjectWhateverTheMessage) {
  const std::string line = service::json_log_line(at(1'800'000'003'045), "warning",
                                                  "rule \"slow\": poll\nfailed\t\x01 \xff\xfe ok");
  EXPECT_EQ(line.find('\n'), std::string::npos);
  boost::json::value v = boost::json::parse(line);
  EXPECT_EQ(v.at("time"), "2027-01-15T08:00:03.045Z");
  EXPECT_EQ(v.at("level"), "warning");
  EXPECT_EQ(v.at("message"), "rule \"slow\": poll\nfailed\t\x01 \xef\xbf\xbd\xef\xbf\xbd ok");
  // Well-formed multi-byte characters pass unchanged; a truncated one does not.
  EXPECT_EQ(boost::json::parse(service::json_log_line(at(0), "info", "caf\xc3\xa9 \xe2\x82"))
                .at("message"),
            "caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd");
}
