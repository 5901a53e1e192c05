// qoewatchd: the executable is this file alone; everything else lives in the libraries.
#include <spdlog/spdlog.h>

#include <chrono>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/options.hpp"
#include "config/load.hpp"
#include "export/web_server.hpp"
#include "run/backtest.hpp"
#include "run/daemon.hpp"
#include "run/logging.hpp"
#include "run/rule_tests.hpp"
#include "run/state_tools.hpp"

// EX_CONFIG: the configuration is unusable, so restarting cannot help (the unit's
// RestartPreventExitStatus).
constexpr int config_error_exit = 78;

int main(int argc, char** argv) {
  using namespace qoewatch;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  cli::parse_result parsed = cli::parse(args);
  if (!parsed) {
    std::cerr << "qoewatchd: " << parsed.error << "\n" << cli::usage();
    return 2;
  }
  const cli::options& opt = *parsed.value;
  if (opt.help) {
    std::cout << cli::usage();
    return 0;
  }
  if (opt.version) {
    std::cout << cli::version_line() << "\n";
    return 0;
  }

  run::setup_logging(opt.log_level, opt.log_format);

  // Rule tests name their own rule files and settings: no config is loaded.
  if (!opt.test_files.empty()) return run::test_rules(opt.test_files);

  if (opt.dead_letters || !opt.migrate_state_from.empty()) {
    // Both work on the config's state and exit. SQLite needs no secret (anyone who can read
    // the database may list it); PostgreSQL's URL is one, read with the others.
    config::load_result loaded = config::load(opt.config);
    config::secrets secrets;
    if (loaded.config && loaded.config->state.backend == config::state_backend::postgresql)
      secrets = config::read_secrets(*loaded.config, loaded.errors);
    if (!loaded.errors.empty()) {
      for (const config::diagnostic& d : loaded.errors) std::cerr << d.to_string() << "\n";
      return 1;
    }
    if (opt.dead_letters) return run::list_dead_letters(*loaded.config, secrets);
    return run::migrate_state(*loaded.config, secrets, opt.migrate_state_from);
  }

  if (opt.backtest) {
    // Beside a live daemon on the same config: no state, no port, and of the secrets only
    // SmartSight's key.
    config::load_result loaded = config::load(opt.config);
    std::optional<std::string> key;
    if (loaded.config && loaded.errors.empty()) {
      config::diagnostic key_error;
      key = config::read_api_key(loaded.config->smartsight, key_error);
      if (!key) loaded.errors.push_back(key_error);
    }
    if (!loaded.errors.empty()) {
      for (const config::diagnostic& d : loaded.errors) std::cerr << d.to_string() << "\n";
      return 1;
    }
    return run::backtest(*loaded.config, *key, opt, std::chrono::system_clock::now());
  }

  config::secrets secrets;
  config::load_result loaded = config::load_with_secrets(opt.config, secrets);
  if (!loaded.errors.empty()) {
    const std::string summary = std::to_string(loaded.errors.size()) +
                                (loaded.errors.size() == 1 ? " error" : " errors") + " in " +
                                opt.config;
    if (opt.check_config) {
      for (const config::diagnostic& d : loaded.errors) std::cerr << d.to_string() << "\n";
      std::cerr << "qoewatchd: " << summary << "\n";
      return 1;
    }
    // A service's start: through the logger, so the journal files them as errors (and JSON
    // logs stay one object per line).
    for (const config::diagnostic& d : loaded.errors) spdlog::critical("{}", d.to_string());
    spdlog::critical("{}; not starting", summary);
    return config_error_exit;
  }
  // A certificate or key OpenSSL cannot use is a config error (exit 78: no restart loop).
  std::string problem;
  if (loaded.config->web.tls())
    problem = metrics::tls_problem(secrets.tls_cert_pem, secrets.tls_key_pem);
  if (!problem.empty()) {
    const config::source_location& w = loaded.config->web.tls_where;
    const std::string line =
        w.file + ":" + std::to_string(w.line) + ":" + std::to_string(w.column) + ": " + problem;
    if (opt.check_config) {
      std::cerr << line << "\nqoewatchd: 1 error in " << opt.config << "\n";
      return 1;
    }
    spdlog::critical("{}", line);
    spdlog::critical("1 error in {}; not starting", opt.config);
    return config_error_exit;
  }
  if (opt.check_config) {
    std::cout << cli::check_config_report(*loaded.config, std::chrono::system_clock::now());
    return 0;
  }
  spdlog::info("{} starting: {} rule(s), {} sink(s), SmartSight at {}, state in {}",
               cli::version_line(), loaded.config->rules.size(), loaded.config->sinks.size(),
               loaded.config->smartsight.base_url, config::describe_state(*loaded.config));
  run::options run_opt{.config_path = opt.config, .once = opt.once, .dry_run = opt.dry_run};
  int code = run::run_daemon(run_opt, std::move(*loaded.config), std::move(secrets));
  spdlog::info("stopped (exit {})", code);
  return code;
}
