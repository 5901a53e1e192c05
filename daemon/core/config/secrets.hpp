// Reading the secrets a loaded configuration names: the SmartSight API key, sink signing
// secrets, PagerDuty routing keys, URLs kept in files, the web TLS files, the PostgreSQL
// connection string. They are read through a secret_source: the process's environment and
// files in production, a fake in tests. Every secret that cannot be read is a diagnostic
// naming the file or variable, never any secret text. Never throws.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/diagnostic.hpp"

namespace qoewatch::config {

/// The secrets a configuration names, read from their files (or the environment).
struct secrets {
  std::string api_key;                              // SmartSight
  std::map<std::string, std::string> signing_keys;  // sink name: HMAC key (decoded)
  std::map<std::string, std::string> routing_keys;  // sink name: PagerDuty routing key
  std::map<std::string, std::string> urls;          // sink name: URL read from url_file
  std::string tls_cert_pem;                         // web.tls_cert_file's text
  std::string tls_key_pem;                          // web.tls_key_file's text
  // state.url_file's text, trimmed: a postgresql:// URI or libpq keyword=value settings
  // (backend postgresql only). Holds the database password: log it only through redact_url.
  std::string state_url;
  bool operator==(const secrets&) const = default;
};

/// Where secrets come from. Both functions must be set.
struct secret_source {
  /// The value of environment variable `name`; std::nullopt when it is not set. Used for
  /// smartsight.api_key_env and for $CREDENTIALS_DIRECTORY.
  std::function<std::optional<std::string>(const std::string& name)> env;
  /// The whole text of the file at `path` (already expanded: never starts with
  /// $CREDENTIALS_DIRECTORY/); std::nullopt with `error` set to why not, e.g. "No such file or
  /// directory".
  std::function<std::optional<std::string>(const std::string& path, std::string& error)> file;

  /// getenv(3) and the file system: what the daemon reads.
  static const secret_source& system();
};

/// Reads the secrets of `cfg` (after load). Appends one diagnostic per unreadable secret.
secrets read_secrets(const daemon_config& cfg, std::vector<diagnostic>& errors,
                     const secret_source& source);
/// The same from secret_source::system().
secrets read_secrets(const daemon_config& cfg, std::vector<diagnostic>& errors);

/// Reads the API key from smartsight.api_key_file or the environment variable
/// smartsight.api_key_env, trimming surrounding whitespace. On failure returns std::nullopt
/// and sets `error` to a message that names the file or variable but never any key text.
std::optional<std::string> read_api_key(const smartsight_config& cfg, diagnostic& error,
                                        const secret_source& source);
/// The same from secret_source::system().
std::optional<std::string> read_api_key(const smartsight_config& cfg, diagnostic& error);

}  // namespace qoewatch::config
