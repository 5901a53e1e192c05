// The smartsight-sim command line, parsed without side effects. Pure code.
//
//   smartsight-sim --listen HOST:PORT --customer-id ID --api-key-env NAME
//                  [--seed N] [--rate SESSIONS_PER_MIN]
//                  [--backlog N [--backlog-window DURATION]] [--scenario FILE]
//                  [--tls-cert FILE --tls-key FILE]
//                  [--counters records|pages] [--extra-counters] [--require-listed-fields]
//                  [--cache-pages] [--help]
// Options also accept the --name=value form.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/query.hpp"

namespace qoewatch::sim {

struct cli_options {
  bool help = false;  // --help: print usage_text() and exit 0; nothing else is checked
  std::string listen_host;
  std::uint16_t listen_port = 0;  // 0: any free port
  std::string customer_id;
  std::string api_key_env;
  std::string api_key;  // the value of $api_key_env; never print it
  std::uint64_t seed = 1;
  double rate_per_min = 60;
  std::int64_t backlog = 0;
  std::int64_t backlog_window_seconds = 3600;
  std::string scenario_file;
  std::string tls_cert;
  std::string tls_key;  // both set or both empty
  query_options query;
  bool cache_pages = false;  // --cache-pages
};

struct cli_result {
  std::optional<cli_options> value;
  std::string error;  // one line, e.g. "--rate: \"fast\" is not a number >= 0"
  explicit operator bool() const { return value.has_value(); }
};

/// Looks an environment variable up; std::nullopt when unset.
using env_lookup = std::function<std::optional<std::string>(std::string_view)>;

/// Parses the arguments after the program name. Reads the API key from `getenv`; an unset
/// or empty variable is an error. Never throws.
cli_result parse_cli(std::span<const std::string_view> args, const env_lookup& getenv);

/// The --help text.
std::string usage_text();

}  // namespace qoewatch::sim
