#include "cli/options.hpp"

#include <algorithm>
#include <iterator>

#include "fetch/query.hpp"

namespace qoewatch::cli {

parse_result parse(const std::vector<std::string_view>& args) {
  parse_result r;
  options o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (a == "--help" || a == "-h") {
      o.help = true;
    } else if (a == "--version") {
      o.version = true;
    } else if (a == "--check-config") {
      o.check_config = true;
    } else if (a == "--once") {
      o.once = true;
    } else if (a == "--dry-run") {
      o.dry_run = true;
    } else if (a == "--dead-letters") {
      o.dead_letters = true;
    } else if (a == "--log-level" || a.rfind("--log-level=", 0) == 0) {
      std::string_view level;
      if (a == "--log-level") {
        if (i + 1 >= args.size()) {
          r.error = "--log-level needs a level (trace, debug, info, warn, error, critical, off)";
          return r;
        }
        level = args[++i];
      } else {
        level = a.substr(12);
      }
      static constexpr std::string_view levels[] = {"trace", "debug",    "info", "warn",
                                                    "error", "critical", "off"};
      if (std::find(std::begin(levels), std::end(levels), level) == std::end(levels)) {
        r.error = "unknown log level '" + std::string(level) +
                  "' (use trace, debug, info, warn, error, critical or off)";
        return r;
      }
      o.log_level = std::string(level);
    } else if (a == "--config" || a == "-c") {
      if (i + 1 >= args.size() || args[i + 1].empty()) {
        r.error = "--config needs a file name";
        return r;
      }
      o.config = std::string(args[++i]);
    } else if (a.rfind("--config=", 0) == 0) {
      o.config = std::string(a.substr(9));
      if (o.config.empty()) {
        r.error = "--config needs a file name";
        return r;
      }
    } else {
      r.error = "unknown argument '" + std::string(a) + "'";
      return r;
    }
  }
  if (!o.help && !o.version && o.config.empty()) {
    r.error = "--config FILE is required";
    return r;
  }
  if (o.check_config && (o.once || o.dry_run)) {
    r.error = "--check-config does not poll; it cannot be combined with --once or --dry-run";
    return r;
  }
  if (o.dead_letters && (o.once || o.dry_run || o.check_config)) {
    r.error =
        "--dead-letters only lists; it cannot be combined with --once, --dry-run or "
        "--check-config";
    return r;
  }
  r.value = std::move(o);
  return r;
}

std::string usage() {
  return "usage: qoewatchd --config FILE [--once] [--dry-run] [--log-level LEVEL]\n"
         "       qoewatchd --config FILE --check-config\n"
         "       qoewatchd --config FILE --dead-letters\n"
         "       qoewatchd --version | --help\n"
         "\n"
         "Watches MediaMelon SmartSight sessions against QoE rules: polls each rule on its\n"
         "schedule, exports Prometheus metrics and notifies sinks of offending sessions and "
         "incidents.\n"
         "\n"
         "  -c, --config FILE   the main config file (rule_files are relative to its folder)\n"
         "      --check-config  validate the config and every rule file, print the query each\n"
         "                      rule sends, exit 0 when valid and 1 with every error otherwise\n"
         "      --once          poll every rule once, deliver, exit 0 when all of it worked\n"
         "      --dry-run       print each notification as one JSON line on stdout; send nothing\n"
         "      --dead-letters  list the notifications given up on (rejected by the receiver\n"
         "                      or older than the sink's max_age) from the state database\n"
         "      --log-level L   trace, debug, info (default), warn, error, critical or off\n"
         "      --version       print the version and exit\n"
         "  -h, --help          print this help and exit\n"
         "\n"
         "Signals: SIGTERM/SIGINT stop gracefully, SIGHUP reloads the config and rule files.\n";
}

std::string version_line() {
  return std::string("qoewatchd ") + QOEWATCH_VERSION;
}

std::string check_config_report(const config::daemon_config& cfg,
                                std::chrono::system_clock::time_point now) {
  std::string out;
  out += cfg.file + ": OK, " + std::to_string(cfg.rules.size()) +
         (cfg.rules.size() == 1 ? " rule, " : " rules, ") + std::to_string(cfg.sinks.size()) +
         (cfg.sinks.size() == 1 ? " sink\n" : " sinks\n");
  for (const config::rule_config& r : cfg.rules) {
    std::string sinks;
    for (const std::string& s : r.sinks) sinks += (sinks.empty() ? "" : ",") + s;
    out += r.name + " (every " + format_duration(r.interval) + ", window " +
           format_duration(r.window) + ", delay " + format_duration(r.delay) + ", " +
           std::string(config::to_string(r.severity)) +
           ", sinks: " + (sinks.empty() ? "none" : sinks) + "): GET " +
           fetch::listsessions_url(cfg.smartsight, r, fetch::window_at(r, now), 0) + "\n";
  }
  return out;
}

}  // namespace qoewatch::cli
