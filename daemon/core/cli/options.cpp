#include "cli/options.hpp"

#include <algorithm>
#include <iterator>
#include <optional>

#include "fetch/query.hpp"

namespace qoewatch::cli {

parse_result parse(const std::vector<std::string_view>& args) {
  parse_result r;
  options o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    // `--name VALUE` or `--name=VALUE`: the value, or std::nullopt (with r.error) when absent.
    auto value = [&](std::string_view name,
                     std::string_view needs) -> std::optional<std::string_view> {
      std::string_view v;
      if (a.size() > name.size() && a.starts_with(name) && a[name.size()] == '=')
        v = a.substr(name.size() + 1);
      else if (i + 1 < args.size())
        v = args[++i];
      if (v.empty()) {
        r.error = std::string(name) + " needs " + std::string(needs);
        return std::nullopt;
      }
      return v;
    };
    auto is = [&a](std::string_view name) {
      return a == name || (a.starts_with(name) && a.size() > name.size() && a[name.size()] == '=');
    };
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
    } else if (a == "--backtest") {
      o.backtest = true;
    } else if (is("--from")) {
      std::optional<std::string_view> t = value("--from", "a time (RFC 3339, or relative: -7d)");
      if (!t) return r;
      o.from = std::string(*t);
    } else if (is("--to")) {
      std::optional<std::string_view> t = value("--to", "a time (RFC 3339, or relative: -1h)");
      if (!t) return r;
      o.to = std::string(*t);
    } else if (is("--rule")) {
      std::optional<std::string_view> name = value("--rule", "a rule name");
      if (!name) return r;
      o.rules.emplace_back(*name);
    } else if (is("--output")) {
      std::optional<std::string_view> format = value("--output", "a format (text or json)");
      if (!format) return r;
      if (*format != "text" && *format != "json") {
        r.error = "unknown output format '" + std::string(*format) + "' (use text or json)";
        return r;
      }
      o.output = std::string(*format);
    } else if (is("--timezone")) {
      std::optional<std::string_view> zone = value("--timezone", "a time zone (UTC, Europe/Paris)");
      if (!zone) return r;
      o.timezone = std::string(*zone);
    } else if (a == "--test-rules") {
      // Every following argument that is not an option is a test file.
      while (i + 1 < args.size() && !args[i + 1].starts_with("-"))
        o.test_files.emplace_back(args[++i]);
      if (o.test_files.empty()) {
        r.error = "--test-rules needs one or more test files";
        return r;
      }
    } else if (is("--log-format")) {
      std::optional<std::string_view> format = value("--log-format", "a format (text or json)");
      if (!format) return r;
      if (*format != "text" && *format != "json") {
        r.error = "unknown log format '" + std::string(*format) + "' (use text or json)";
        return r;
      }
      o.log_format = std::string(*format);
    } else if (is("--log-level")) {
      std::optional<std::string_view> level =
          value("--log-level", "a level (trace, debug, info, warn, error, critical, off)");
      if (!level) return r;
      static constexpr std::string_view levels[] = {"trace", "debug",    "info", "warn",
                                                    "error", "critical", "off"};
      if (std::find(std::begin(levels), std::end(levels), *level) == std::end(levels)) {
        r.error = "unknown log level '" + std::string(*level) +
                  "' (use trace, debug, info, warn, error, critical or off)";
        return r;
      }
      o.log_level = std::string(*level);
    } else if (is("--migrate-state")) {
      std::optional<std::string_view> file = value(
          "--migrate-state", "a file name (the qoewatch.db to copy, or the state_dir holding it)");
      if (!file) return r;
      o.migrate_state_from = std::string(*file);
    } else if (is("--config") || a == "-c") {
      if (a == "-c") a = "--config";
      std::optional<std::string_view> file = value("--config", "a file name");
      if (!file) return r;
      o.config = std::string(*file);
    } else {
      r.error = "unknown argument '" + std::string(a) + "'";
      return r;
    }
  }
  if (!o.test_files.empty()) {
    // Rule tests name their own rule files: nothing else of a daemon's run applies.
    if (!o.config.empty() || o.once || o.dry_run || o.check_config || o.dead_letters ||
        o.backtest || !o.migrate_state_from.empty()) {
      r.error =
          "--test-rules runs test files alone; it takes no --config and cannot be "
          "combined with other modes";
      return r;
    }
    r.value = std::move(o);
    return r;
  }
  if (!o.help && !o.version && o.config.empty()) {
    r.error = "--config FILE is required";
    return r;
  }
  const bool backtest_options = !o.from.empty() || !o.to.empty() || !o.rules.empty() ||
                                o.output != "text" || o.timezone != "UTC";
  if (backtest_options && !o.backtest) {
    r.error = "--from, --to, --rule, --output and --timezone belong to --backtest";
    return r;
  }
  if (o.backtest) {
    if (o.from.empty()) {
      r.error = "--backtest needs --from TIME (RFC 3339, or relative: -7d, -36h)";
      return r;
    }
    if (o.once || o.dry_run || o.check_config || o.dead_letters || !o.migrate_state_from.empty()) {
      r.error =
          "--backtest replays the past and sends nothing; it cannot be combined with --once, "
          "--dry-run, --check-config, --dead-letters or --migrate-state";
      return r;
    }
  }
  if (o.check_config && (o.once || o.dry_run)) {
    r.error = "--check-config does not poll; it cannot be combined with --once or --dry-run";
    return r;
  }
  if (!o.migrate_state_from.empty() &&
      (o.once || o.dry_run || o.check_config || o.dead_letters)) {
    r.error =
        "--migrate-state only copies the state; it cannot be combined with --once, --dry-run, "
        "--check-config or --dead-letters";
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
         "                 [--log-format text|json]\n"
         "       qoewatchd --config FILE --check-config\n"
         "       qoewatchd --config FILE --dead-letters\n"
         "       qoewatchd --config FILE --migrate-state SQLITE_FILE\n"
         "       qoewatchd --config FILE --backtest --from TIME [--to TIME] [--rule NAME]...\n"
         "                 [--output text|json] [--timezone ZONE]\n"
         "       qoewatchd --test-rules TEST_FILE...\n"
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
         "      --migrate-state SQLITE_FILE\n"
         "                      copy a stopped single node's state (SQLITE_FILE: its\n"
         "                      qoewatch.db, or its state_dir) into the config's PostgreSQL\n"
         "                      database, which must hold no qoewatch state yet; print the\n"
         "                      rows copied per table\n"
         "      --backtest      replay every rule (or each --rule NAME) over [--from, --to] as\n"
         "                      the daemon would have polled it, from SmartSight's history;\n"
         "                      print the incidents and notifications it would have sent\n"
         "                      (--output json: one object per line); sends nothing, writes\n"
         "                      no state. TIME: RFC 3339, or -7d, -36h, -90m, now. --to\n"
         "                      defaults to now minus each rule's delay; --timezone (UTC)\n"
         "                      sets the report's days and night hours\n"
         "      --test-rules TEST_FILE...\n"
         "                      run rule unit tests (see docs/rules.md): exit 0 when every\n"
         "                      test passes, 1 with a diff of each failure\n"
         "      --log-level L   trace, debug, info (default), warn, error, critical or off\n"
         "      --log-format F  text (default; under systemd's journal: <N> priority prefixes\n"
         "                      and no timestamps) or json (one object per line)\n"
         "      --version       print the version and exit\n"
         "  -h, --help          print this help and exit\n"
         "\n"
         "Signals: SIGTERM/SIGINT stop gracefully, SIGHUP reloads the config and rule files.\n";
}

std::string version_line() {
  return std::string("qoewatchd ") + QOEWATCH_VERSION;
}

namespace {

// "a, b, c".
std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

std::string check_config_report(const config::daemon_config& cfg,
                                std::chrono::system_clock::time_point now) {
  std::string out;
  out += cfg.file + ": OK, " + std::to_string(cfg.rules.size()) +
         (cfg.rules.size() == 1 ? " rule, " : " rules, ") + std::to_string(cfg.sinks.size()) +
         (cfg.sinks.size() == 1 ? " sink\n" : " sinks\n");
  out += "state in " + config::describe_state(cfg) + "\n";
  for (const config::rule_config& r : cfg.rules) {
    std::string sinks;
    for (const std::string& s : r.sinks) sinks += (sinks.empty() ? "" : ",") + s;
    out += r.name + " (every " + format_duration(r.interval) + ", window " +
           format_duration(r.window) + ", delay " + format_duration(r.delay) + ", " +
           std::string(config::to_string(r.severity)) +
           ", sinks: " + (sinks.empty() ? "none" : sinks) + "): GET " +
           fetch::listsessions_url(cfg.smartsight, r, fetch::window_at(r, now), 0) + "\n";
    if (!r.mute_time_intervals.empty())
      out += "  mute_time_intervals: " + joined(r.mute_time_intervals) +
             " (notifications held while any of them holds)\n";
    if (!r.active_time_intervals.empty())
      out += "  active_time_intervals: " + joined(r.active_time_intervals) +
             " (notifications held while none of them holds)\n";
    if (!r.population()) continue;
    std::string by;
    for (const std::string& d : r.group_by) by += (by.empty() ? "" : ",") + d;
    out += "  population rule: one group per " + (by.empty() ? "window (no group_by)" : by) +
           "; fires when " + r.when_text + " holds " + std::to_string(r.for_polls) +
           (r.for_polls == 1 ? " poll" : " polls in a row") + " (groups of at least " +
           std::to_string(r.min_sample) + " sessions); resolves after " +
           std::to_string(r.resolve_after) + " poll(s) of " +
           (r.resolve_when_text.empty() ? "NOT (" + r.when_text + ")" : r.resolve_when_text) +
           "\n";
    out += "  every row of the window is fetched and judged here" +
           (r.has_qoefilter()
                ? "; qoefilter \"" + r.qoefilter_text +
                      "\" is not sent to SmartSight (it would remove the denominator)"
                : std::string{}) +
           "\n";
  }
  return out;
}

}  // namespace qoewatch::cli
