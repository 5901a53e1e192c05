// Scripted incidents: a YAML scenario file changes the metrics of generated sessions that
// end inside an incident's window. Pure code (yaml-cpp stays inside scenario.cpp).
//
//   incidents:
//     - name: edgeB_slow_start
//       start: 2m            # offset from simulator start
//       duration: 5m
//       match: {cdn: edgeB}  # dimension equality; all must match; empty or absent: all
//       multiply: {latency: 4}
//       add: {cirrbufferingratio: 6}
//       set: {fatalerrors: 1}
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "duration.hpp"

namespace qoewatch::sim {

struct incident {
  std::string name;
  duration start{0};   // offset from the simulator's start
  duration length{0};  // the window is [sim_start + start, sim_start + start + length)
  std::vector<std::pair<std::string, std::string>> match;  // dimension -> value
  // Applied in this order: multiply, then add, then set. Keys are generated metric names.
  std::vector<std::pair<std::string, double>> multiply;
  std::vector<std::pair<std::string, double>> add;
  std::vector<std::pair<std::string, double>> set;
};

struct scenario {
  std::vector<incident> incidents;
};

struct scenario_result {
  std::optional<scenario> value;
  std::string error;  // "file:line:column: key.path: what is wrong" when !value
  explicit operator bool() const { return value.has_value(); }
};

/// Parses scenario YAML `text`; `file_name` prefixes error messages. Unknown keys, unknown
/// metric or dimension names, bad durations and non-numbers are errors naming the 1-based
/// line and column and the key path, e.g.
/// `s.yaml:4:12: incidents[0].start: "2x" is not a duration (use 30s, 5m, 1h)`.
/// Never throws.
scenario_result parse_scenario(std::string_view text, std::string_view file_name);

/// Reads and parses the file at `path`; an unreadable file is an error too. Never throws.
scenario_result load_scenario_file(const std::string& path);

}  // namespace qoewatch::sim
