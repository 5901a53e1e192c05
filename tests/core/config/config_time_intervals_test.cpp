// Maintenance windows in the config (issue 18): time_intervals: in Alertmanager's syntax, the
// rules' mute_time_intervals and active_time_intervals naming them (in rule files too), and the
// two settings that come with the silence API (web.allow_unauthenticated_writes,
// state.silence_retention). Values as parsed, and the exact error texts an operator reads.
#include <gtest/gtest.h>

#include <chrono>

#include "config/load.hpp"
#include "config_fixtures.hpp"

using namespace qoewatch;
using namespace qoewatch::testing_config;
using namespace std::chrono_literals;
using names = std::vector<std::string>;

namespace {

// The minimal config (6 lines, its rule last) followed by `more`, which starts on line 7: a
// line indented by four spaces still belongs to the rule.
std::string with(const std::string& more) {
  return std::string(minimal) + more;
}

}  // namespace

TEST(ConfigTimeIntervals, UnauthenticatedWritesAreOffUnlessAllowed) {
  config::load_result r = config::load_from_string(minimal, "c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  EXPECT_FALSE(r.config->web.allow_unauthenticated_writes);

  r = config::load_from_string(with("web:\n  allow_unauthenticated_writes: true\n"), "c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  EXPECT_TRUE(r.config->web.allow_unauthenticated_writes);

  r = config::load_from_string(with("web: {allow_unauthenticated_writes: false}\n"), "c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  EXPECT_FALSE(r.config->web.allow_unauthenticated_writes);

  // Only true and false: yes, on and 1 mean true to some YAML readers and text to others.
  EXPECT_EQ(errors_of(with("web: {allow_unauthenticated_writes: yes}\n")),
            (names{"c.yaml:7:37: web.allow_unauthenticated_writes: \"yes\" is not true or false"}));
  EXPECT_EQ(errors_of(with("web: {allow_unauthenticated_writes: [true]}\n")),
            (names{"c.yaml:7:37: web.allow_unauthenticated_writes: must be true or false"}));
  EXPECT_EQ(errors_of(with("web: {allow_unauthenticated_write: true}\n")),
            (names{"c.yaml:7:7: web.allow_unauthenticated_write: unknown key (did you mean "
                   "\"allow_unauthenticated_writes\"?)"}));
}

TEST(ConfigTimeIntervals, SilenceRetentionIsAPositiveDurationInEitherBackend) {
  config::load_result r = config::load_from_string(minimal, "c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  EXPECT_EQ(r.config->state.silence_retention, 120h);  // Alertmanager's --data.retention

  r = config::load_from_string(with("state: {silence_retention: 30m}\n"), "c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  EXPECT_EQ(r.config->state.silence_retention, 30min);

  r = config::load_from_string(
      with("state:\n  backend: postgresql\n  url_file: /u\n  silence_retention: 1h30m\n"),
      "c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  EXPECT_EQ(r.config->state.silence_retention, 90min);

  EXPECT_EQ(errors_of(with("state: {silence_retention: 0s}\n")),
            (names{"c.yaml:7:28: state.silence_retention: must be longer than 0s"}));
  EXPECT_EQ(errors_of(with("state: {silence_retention: -1h}\n")),
            (names{"c.yaml:7:28: state.silence_retention: \"-1h\" is not a duration (use 30s, "
                   "5m, 1h)"}));
  EXPECT_EQ(errors_of(with("state: {silence_retention: 5 days}\n")),
            (names{"c.yaml:7:28: state.silence_retention: \"5 days\" is not a duration (use "
                   "30s, 5m, 1h)"}));
}
