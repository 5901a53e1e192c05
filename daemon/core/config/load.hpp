// Loading and validating the main config file and the rule files it names.
//
// Every problem is collected (not just the first) as a diagnostic that prints as
//   file:line:column: key.path: what is wrong (what would be right)
// Reads files; otherwise pure (no logging, no network). Never throws for bad input.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace qoewatch::config {

struct diagnostic {
  std::string file;
  int line = 0;         // 1-based; 0 when the problem is the file as a whole
  int column = 0;       // 1-based
  std::string path;     // key path, e.g. "rules[2].window"; may be empty
  std::string message;  // what is wrong, with the fix in parentheses where there is one

  /// "file:line:column: path: message" (parts that are unknown are left out).
  std::string to_string() const;
};

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

/// The secrets a configuration names, read from their files (or the environment).
struct secrets {
  std::string api_key;                              // SmartSight
  std::map<std::string, std::string> signing_keys;  // sink name: HMAC key (decoded)
  std::map<std::string, std::string> routing_keys;  // sink name: PagerDuty routing key
  std::map<std::string, std::string> urls;          // sink name: URL read from url_file
  std::string tls_cert_pem;                         // web.tls_cert_file's text
  std::string tls_key_pem;                          // web.tls_key_file's text
  bool operator==(const secrets&) const = default;
};

/// load(path), then every secret it names: a config whose secrets cannot be read is not
/// usable, so those failures join the other errors (and `config` is unset). No message ever
/// holds secret text.
load_result load_with_secrets(const std::string& path, secrets& out);

/// Reads the secrets of `cfg` (after load). Appends one diagnostic per unreadable secret.
secrets read_secrets(const daemon_config& cfg, std::vector<diagnostic>& errors);

/// Reads the API key from smartsight.api_key_file or the environment variable
/// smartsight.api_key_env, trimming surrounding whitespace. On failure returns std::nullopt
/// and sets `error` to a message that names the file or variable but never any key text.
std::optional<std::string> read_api_key(const smartsight_config& cfg, diagnostic& error);

/// The closest of `candidates` to `word` by edit distance, or empty when none is close.
std::string nearest(std::string_view word, const std::vector<std::string_view>& candidates);

}  // namespace qoewatch::config
