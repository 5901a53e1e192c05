// qoewatchd: the executable is this file alone; everything else lives in the libraries.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string_view>
#include <vector>

#include "cli/options.hpp"
#include "config/load.hpp"

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

  config::load_result loaded = config::load(opt.config);
  if (loaded.config) {
    // A config that cannot find its API key is not usable: report it with the other errors.
    config::diagnostic key_error;
    if (!config::read_api_key(loaded.config->smartsight, key_error))
      loaded.errors.push_back(key_error);
  }
  if (!loaded.errors.empty()) {
    for (const config::diagnostic& d : loaded.errors) std::cerr << d.to_string() << "\n";
    std::cerr << "qoewatchd: " << loaded.errors.size()
              << (loaded.errors.size() == 1 ? " error" : " errors") << " in " << opt.config
              << "\n";
    return 1;
  }
  if (opt.check_config) {
    std::cout << cli::check_config_report(*loaded.config, std::chrono::system_clock::now());
    return 0;
  }
  std::cerr << "qoewatchd: this build only validates configurations; run with --check-config\n";
  return 2;
}
