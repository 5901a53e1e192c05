// qoewatchd's command line, parsed without side effects so it is table-testable.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace qoewatch::cli {

struct options {
  std::string config;               // --config FILE
  bool check_config = false;        // --check-config
  bool version = false;             // --version
  bool help = false;                // --help / -h
  bool once = false;                // --once: poll every rule once, deliver, exit
  bool dry_run = false;             // --dry-run: print notifications instead of sending them
  bool dead_letters = false;        // --dead-letters: list notifications given up on, exit
  // --migrate-state FILE: copy a stopped single node's SQLite state (its qoewatch.db, or the
  // state_dir holding it) into the config's PostgreSQL database, then exit.
  std::string migrate_state_from;
  std::string log_level = "info";   // --log-level trace|debug|info|warn|error|critical|off
  std::string log_format = "text";  // --log-format text|json

  // --backtest: replay the rules over a past span, send nothing, write no state, exit.
  bool backtest = false;
  std::string from;                // --from TIME (RFC 3339, or relative: -7d, -36h, -90m, now)
  std::string to;                  // --to TIME; "" for now minus each rule's delay
  std::vector<std::string> rules;  // --rule NAME (repeatable): only these; none: every rule
  std::string output = "text";     // --output text|json
  std::string timezone = "UTC";    // --timezone ZONE: the days and night hours of the report

  // --test-rules FILE...: run rule unit tests (rules/tests/*.yaml); no --config needed.
  std::vector<std::string> test_files;
};

struct parse_result {
  std::optional<options> value;
  std::string error;  // set when !value: what is wrong, for stderr before the usage line
  explicit operator bool() const { return value.has_value(); }
};

/// Parses the arguments after the program name. Accepts `--config FILE` and `--config=FILE`
/// (and the same two forms of every option that takes a value).
parse_result parse(const std::vector<std::string_view>& args);

/// The --help text.
std::string usage();

/// "qoewatchd <version>".
std::string version_line();

/// What --check-config prints for a valid config: where the state lives (never the
/// PostgreSQL URL: only its file), then one line per rule, each with the exact listsessions
/// URL the first page of a poll at `now` would request (never the API key), followed by the
/// time intervals that hold its notifications, if it names any.
std::string check_config_report(const config::daemon_config& cfg,
                                std::chrono::system_clock::time_point now);

}  // namespace qoewatch::cli
