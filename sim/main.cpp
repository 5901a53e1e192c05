// smartsight-sim: serves a simulated SmartSight session-list API. See `--help`.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string_view>
#include <vector>

#include "core/cli.hpp"
#include "core/scenario.hpp"
#include "core/sim_api.hpp"
#include "core/store.hpp"
#include "server/server.hpp"

int main(int argc, char** argv) {
  namespace sim = qoewatch::sim;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  sim::cli_result cli = sim::parse_cli(args, [](std::string_view name) {
    const char* v = std::getenv(std::string(name).c_str());
    return v ? std::optional<std::string>(v) : std::nullopt;
  });
  if (!cli) {
    std::cerr << "smartsight-sim: " << cli.error << "\n(see smartsight-sim --help)\n";
    return 2;
  }
  const sim::cli_options& o = *cli.value;
  if (o.help) {
    std::cout << sim::usage_text();
    return 0;
  }

  sim::generator_config gen;
  gen.seed = o.seed;
  gen.rate_per_min = o.rate_per_min;
  gen.backlog = o.backlog;
  gen.backlog_window = o.backlog_window_seconds;
  // A backlog longer than a day (a week, for a backtest) is kept whole.
  gen.retention = std::max<std::int64_t>(gen.retention, gen.backlog_window + 3600);
  if (!o.scenario_file.empty()) {
    sim::scenario_result sc = sim::load_scenario_file(o.scenario_file);
    if (!sc) {
      std::cerr << sc.error << "\n";
      return 2;
    }
    std::cerr << "smartsight-sim: scenario " << o.scenario_file << ": "
              << sc.value->incidents.size() << " incident(s)\n";
    gen.incidents = std::move(*sc.value);
  }

  const std::int64_t start = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
  sim::api_config api_config;
  api_config.customer_id = o.customer_id;
  api_config.api_key = o.api_key;
  api_config.query = o.query;
  api_config.cache_pages = o.cache_pages;
  api_config.fault_seed = o.seed;
  sim::session_store store(std::move(gen), start);
  store.advance(start);
  sim::sim_api api(std::move(api_config), std::move(store));

  sim::server_config server;
  server.host = o.listen_host;
  server.port = o.listen_port;
  server.tls_cert = o.tls_cert;
  server.tls_key = o.tls_key;
  return sim::run_server(server, api);
}
