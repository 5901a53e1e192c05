// Loading and validating the main config file and the rule files it names.
//
// Every problem is collected (not just the first) as a diagnostic that prints as
//   file:line:column: key.path: what is wrong (what would be right)
// Reads files; otherwise pure (no logging, no network). Never throws for bad input.
// The secrets a config names are read separately (config/secrets.hpp), or by
// load_with_secrets.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/diagnostic.hpp"
#include "config/secrets.hpp"

namespace qoewatch::config {

struct load_result {
  std::optional<daemon_config> config;  // set only when there are no errors
  std::vector<diagnostic> errors;
};

/// Loads `path`, the rule files its `rule_files` globs match (relative to its folder), and
/// validates all of it. Does not read the API key: see read_api_key.
load_result load(const std::string& path);

/// Loads from YAML text instead of a file; `file` names it in messages and anchors relative
/// paths (rule_files, api_key_file, state_dir).
load_result load_from_string(std::string_view yaml, const std::string& file);

/// The settings of the main config at `path` without its rules, for rule tests
/// (--test-rules, core/ruletest), which name their own rule files: every section is read and
/// checked as load() does but rules: and rule_files:, which are not read at all (a config
/// whose rules live elsewhere, such as /etc/qoewatch/rules/, still lends its settings). Reads
/// no secret and no environment variable.
load_result load_settings(const std::string& path);

/// load(path), then every secret it names, from `source`: a config whose secrets cannot be
/// read is not usable, so those failures join the other errors (and `config` is unset). No
/// message ever holds secret text. `out` is set only on success.
load_result load_with_secrets(const std::string& path, secrets& out, const secret_source& source);
/// The same from secret_source::system(): the daemon's entry point.
load_result load_with_secrets(const std::string& path, secrets& out);

}  // namespace qoewatch::config
