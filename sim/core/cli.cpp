#include "core/cli.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <vector>

#include "duration.hpp"

namespace qoewatch::sim {

namespace {

constexpr double max_rate = 1000;  // sessions per minute; bounds memory (see store.hpp)
constexpr std::int64_t max_backlog = 1'000'000;

bool valid_customer_id(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
          c == '_'))
      return false;
  return true;
}

template <class T>
bool parse_integer(std::string_view s, T& out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc{} && ptr == s.data() + s.size();
}

std::string quoted(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

}  // namespace

std::string usage_text() {
  return R"(usage: smartsight-sim --listen HOST:PORT --customer-id ID --api-key-env NAME [options]

Simulates MediaMelon SmartSight's GET /mm-apis/listsessions/{customerId}.

required:
  --listen HOST:PORT        address to listen on; port 0 picks a free port. Prints
                            "listening on HOST:PORT" on stdout once bound.
  --customer-id ID          the customer id served (letters, digits, - and _)
  --api-key-env NAME        environment variable holding the X-API-Key value

options:
  --seed N                  generator seed (default 1)
  --rate N                  generated sessions ending per minute, 0..1000 (default 60)
  --backlog N               sessions that ended before the start (default 0)
  --backlog-window DURATION how long before the start they ended (default 1h)
  --scenario FILE           YAML file of scripted incidents
  --tls-cert FILE           serve HTTPS with this PEM certificate chain (needs --tls-key)
  --tls-key FILE            PEM private key for --tls-cert
  --counters records|pages  records (default): totalcount = matching rows, pagecount =
                            pages; pages: the other way round
  --extra-counters          also send totalrecords and a per-row totalpages
  --require-listed-fields   400 when qoefilter/orderby use a field missing from metrics
  --cache-pages             select, sort and render each listsessions page once and answer
                            repeats from memory (benchmarks; pays off with --rate 0)
  --help                    print this text

test control (same X-API-Key): POST /_sim/sessions (JSON array), DELETE /_sim/sessions,
GET|DELETE /_sim/stats. Exit status: 0 after SIGTERM/SIGINT, 2 for a bad command line or
scenario, 1 when the server cannot start.
)";
}

cli_result parse_cli(std::span<const std::string_view> args, const env_lookup& getenv) {
  cli_result r;
  cli_options o;
  auto fail = [&r](std::string message) {
    r.error = std::move(message);
    return r;
  };
  static constexpr std::string_view flags[] = {"--help", "--extra-counters",
                                               "--require-listed-fields", "--cache-pages"};
  static constexpr std::string_view valued[] = {
      "--listen",         "--customer-id", "--api-key-env", "--seed",    "--rate",    "--backlog",
      "--backlog-window", "--scenario",    "--tls-cert",    "--tls-key", "--counters"};
  std::vector<std::string_view> seen;
  bool window_given = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    std::string_view name = arg;
    std::optional<std::string_view> value;
    if (std::size_t eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    bool is_flag = std::find(std::begin(flags), std::end(flags), name) != std::end(flags);
    bool is_valued = std::find(std::begin(valued), std::end(valued), name) != std::end(valued);
    if (!is_flag && !is_valued) {
      if (!arg.starts_with("--")) return fail("unexpected argument " + quoted(arg));
      return fail("unknown option " + std::string(name) + " (see --help)");
    }
    if (std::find(seen.begin(), seen.end(), name) != seen.end())
      return fail(std::string(name) + ": given more than once");
    seen.push_back(name);
    if (is_flag) {
      if (value) return fail(std::string(name) + ": takes no value");
      if (name == "--help") o.help = true;
      if (name == "--extra-counters") o.query.extra_counters = true;
      if (name == "--require-listed-fields") o.query.require_listed_fields = true;
      if (name == "--cache-pages") o.cache_pages = true;
      continue;
    }
    if (!value) {
      if (i + 1 >= args.size()) return fail(std::string(name) + ": missing value");
      value = args[++i];
    }
    std::string_view v = *value;
    if (name == "--listen") {
      std::size_t colon = v.rfind(':');
      if (colon == std::string_view::npos || colon == 0)
        return fail("--listen: " + quoted(v) + " is not HOST:PORT (e.g. 127.0.0.1:8080)");
      std::string_view host = v.substr(0, colon);
      if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
      unsigned port = 0;
      if (!parse_integer(v.substr(colon + 1), port) || port > 65535)
        return fail("--listen: " + quoted(v.substr(colon + 1)) + " is not a port (0..65535)");
      o.listen_host = std::string(host);
      o.listen_port = static_cast<std::uint16_t>(port);
    } else if (name == "--customer-id") {
      if (!valid_customer_id(v))
        return fail("--customer-id: " + quoted(v) + " is not an id (letters, digits, - and _)");
      o.customer_id = std::string(v);
    } else if (name == "--api-key-env") {
      if (v.empty()) return fail("--api-key-env: empty variable name");
      o.api_key_env = std::string(v);
    } else if (name == "--seed") {
      if (!parse_integer(v, o.seed))
        return fail("--seed: " + quoted(v) + " is not a non-negative integer");
    } else if (name == "--rate") {
      double rate = 0;
      auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), rate);
      if (v.empty() || ec != std::errc{} || ptr != v.data() + v.size() || !std::isfinite(rate) ||
          rate < 0 || rate > max_rate)
        return fail("--rate: " + quoted(v) + " is not a number of sessions per minute from 0 to " +
                    std::to_string(static_cast<int>(max_rate)));
      o.rate_per_min = rate;
    } else if (name == "--backlog") {
      if (!parse_integer(v, o.backlog) || o.backlog < 0 || o.backlog > max_backlog)
        return fail("--backlog: " + quoted(v) + " is not a count from 0 to " +
                    std::to_string(max_backlog));
    } else if (name == "--backlog-window") {
      std::optional<duration> d = parse_duration(v);
      if (!d || d->count() < 1000)
        return fail("--backlog-window: " + quoted(v) +
                    " is not a duration of at least 1s (use 30s, 5m, 1h)");
      o.backlog_window_seconds = d->count() / 1000;
      window_given = true;
    } else if (name == "--scenario") {
      if (v.empty()) return fail("--scenario: empty file name");
      o.scenario_file = std::string(v);
    } else if (name == "--tls-cert") {
      if (v.empty()) return fail("--tls-cert: empty file name");
      o.tls_cert = std::string(v);
    } else if (name == "--tls-key") {
      if (v.empty()) return fail("--tls-key: empty file name");
      o.tls_key = std::string(v);
    } else if (name == "--counters") {
      if (v == "records")
        o.query.counters = counters_mode::records;
      else if (v == "pages")
        o.query.counters = counters_mode::pages;
      else
        return fail("--counters: must be records or pages, not " + quoted(v));
    }
  }
  if (o.help) {
    r.value = std::move(o);
    return r;
  }
  if (o.listen_host.empty()) return fail("--listen HOST:PORT is required");
  if (o.customer_id.empty()) return fail("--customer-id ID is required");
  if (o.api_key_env.empty()) return fail("--api-key-env NAME is required");
  if (o.tls_cert.empty() != o.tls_key.empty())
    return fail("--tls-cert and --tls-key must be given together");
  if (window_given && o.backlog == 0)
    return fail("--backlog-window: only meaningful with --backlog N");
  std::optional<std::string> key = getenv(o.api_key_env);
  if (!key || key->empty())
    return fail("--api-key-env: environment variable " + o.api_key_env + " is not set or empty");
  o.api_key = std::move(*key);
  r.value = std::move(o);
  return r;
}

}  // namespace qoewatch::sim
