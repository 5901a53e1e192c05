// Rule unit tests (qoewatchd --test-rules, in the spirit of `promtool test rules`): a test file
// names rule files and the settings they are judged in, gives input sessions, and says what
// the rules should have done by given times: which incidents or groups fired and resolved,
// with which figures, which are firing or pending, which sessions were notified, and what
// the Prometheus metrics read. This header holds a test file as plain structs and its loader
// (the format is in docs/rules.md, "Testing a rule").
//
// The loader reads the test file, the rule files it names and the main config it borrows
// settings from; otherwise it is pure. Every mistake is collected as a config::diagnostic,
// "file:line:column: key.path: message", as the config's are; none throws for bad input.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "config/diagnostic.hpp"

namespace qoewatch::ruletest {

/// The start of a test that names none: 2024-01-01T00:00:00Z (a Monday), in epoch seconds.
inline constexpr double default_start = 1704067200;

/// One value of an input session as written. A session is handed to the rules as the JSON
/// SmartSight would answer with: a plain number is a JSON number, a quoted one a string
/// (which the daemon reads as a number too), `true`/`false` a boolean, `null` or `~` null.
struct cell {
  enum class kind { number, text, boolean, null };
  kind k = kind::text;
  std::string text;   // as written
  double number = 0;  // kind::number: its value
  bool operator==(const cell&) const = default;
};

/// One input session (a row of `sessions:`, or one a `series:` made).
struct input_row {
  std::string sessionid;
  double endtime = 0;                                // epoch seconds
  std::vector<std::pair<std::string, cell>> values;  // every other key, in file order
  int line = 0;                                      // the row, or its series
  bool operator==(const input_row&) const = default;
};

/// A check, and the line of the key that asks for it (what a failure points at).
template <class T>
struct checked {
  T value{};
  int line = 0;
};

/// An incident or group expected to fire or resolve. Only what is given is checked.
struct expected_event {
  // A population rule's group: its values, aligned with the rule's group_by.
  std::optional<std::vector<std::string>> group;
  std::optional<double> sessions;
  std::optional<double> offending;
  std::optional<double> ratio;
  // Aggregates by their text in the rule ("p95(latency)"); std::nullopt: expected n/a.
  std::vector<std::pair<std::string, std::optional<double>>> aggregates;
};

/// A series of the metrics qoewatchd exports, and the value it should read.
struct expected_metric {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // sorted by name
  std::optional<double> value;                              // std::nullopt: must be absent
  std::string selector;                                     // as written
  int line = 0;
};

/// A group's values, aligned with the rule's group_by.
using group_values = std::vector<std::string>;

/// One `expect:` entry: at one time, about one rule (and the metrics). What is absent is not
/// checked; an empty list is checked (nothing fired).
struct expectation {
  double at = 0;        // epoch seconds
  std::string at_text;  // as written ("+5m")
  int line = 0;
  std::optional<std::size_t> rule;  // index in the config's rules; none: metrics only
  // Changes since the previous evaluation time of the test (or its start).
  std::optional<checked<std::vector<expected_event>>> fired;
  std::optional<checked<std::vector<expected_event>>> resolved;
  // After the last poll at or before `at`.
  std::optional<checked<bool>> firing;                              // anything of the rule fires
  std::optional<checked<std::vector<group_values>>> firing_groups;  // population rules
  std::optional<checked<std::vector<group_values>>> pending;        // population rules
  // Session ids notified since the previous evaluation time.
  std::optional<checked<std::vector<std::string>>> notified;
  std::vector<expected_metric> metrics;
};

struct test_case {
  std::string name;
  int line = 0;
  double start = default_start;     // epoch seconds: t0, what offsets count from
  std::vector<input_row> rows;      // by endtime (stable)
  std::vector<expectation> expect;  // in time order
};

struct test_file {
  std::string file;           // as given
  config::daemon_config cfg;  // the settings and the rules of its rule_files
  std::vector<test_case> tests;
};

struct load_result {
  std::optional<test_file> value;  // set only when there are no errors
  std::vector<config::diagnostic> errors;
};

/// Loads the test file at `path` with the rule files and the config it names (paths relative
/// to its folder). The config lends its settings (smartsight, defaults, sinks,
/// time_intervals, max_catchup): its own rules are not read, nor any secret.
load_result load(const std::string& path);

/// The same from text; `file` names it in messages and anchors its relative paths.
load_result load_from_string(std::string_view text, const std::string& file);

/// Reads a time of a test: an offset from `start` (`-3m`, `+90s`, `0s`, `5m`, `1h30m`) or an
/// RFC 3339 time (`2024-01-01T00:02:00Z`). Epoch seconds; std::nullopt when it is neither.
std::optional<double> read_time(std::string_view text, double start);

}  // namespace qoewatch::ruletest
