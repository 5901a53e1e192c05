#include "config/load.hpp"

#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <tuple>

#include "config/common.hpp"
#include "config/sections.hpp"
#include "config/yaml_reader.hpp"
#include "rules/metric_dictionary.hpp"

namespace qoewatch::config {

namespace {

namespace fs = std::filesystem;

diagnostic file_error(const std::string& file, std::string message) {
  diagnostic d;
  d.file = file;
  d.message = std::move(message);
  return d;
}

bool has_glob_chars(std::string_view s) {
  return s.find_first_of("*?[") != std::string_view::npos;
}

// Expands one rule_files pattern relative to `dir`; sorted, as glob(3) returns them.
std::vector<std::string> expand(const fs::path& dir, const std::string& pattern) {
  fs::path p(pattern);
  std::string full = p.is_absolute() ? p.string() : (dir / p).string();
  std::vector<std::string> out;
  glob_t g{};
  if (::glob(full.c_str(), GLOB_ERR, nullptr, &g) == 0)
    for (std::size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  ::globfree(&g);
  return out;
}

// One rule file: a rules: section and nothing else. An empty file holds no rules.
void rule_file(const std::string& path, const sections::rule_context& ctx,
               std::vector<rule_config>& out, std::vector<diagnostic>& errors) {
  std::string err;
  std::optional<std::string> text = read_file(path, err);
  if (!text) {
    errors.push_back(file_error(path, "cannot read: " + err));
    return;
  }
  std::optional<YAML::Node> root = yaml::parse(*text, path, errors);
  if (!root || !root->IsDefined() || root->IsNull()) return;
  const yaml::document doc{path, fs::path(path).parent_path(), &errors};
  const yaml::node n(doc, *root, "");
  if (!n.check_map({"rules"}, "a rule file holds rules: [...]")) return;
  if (yaml::node section = n["rules"]) sections::rules(section, ctx, out);
}

}  // namespace

namespace sections {

void rule_files(const yaml::node& v, const rule_context& ctx, daemon_config& cfg) {
  auto patterns = v.string_list("[rules/*.yaml]");
  if (!patterns) return;
  std::set<std::string> seen;
  for (const auto& [pattern, item] : *patterns) {
    cfg.rule_files.push_back(pattern);
    std::vector<std::string> files = expand(v.doc().dir, pattern);
    if (files.empty() && !has_glob_chars(pattern)) {
      item.error(in_quotes(pattern) + " does not exist (paths are relative to the folder of " +
                 v.doc().file + ")");
      continue;
    }
    for (const std::string& file : files) {
      std::error_code ec;
      fs::path canonical = fs::weakly_canonical(file, ec);
      if (!seen.insert(ec ? file : canonical.string()).second) continue;
      rule_file(file, ctx, cfg.rules, *v.doc().errors);
    }
  }
}

void unique_rule_names(const std::vector<rule_config>& rules, std::vector<diagnostic>& errors) {
  for (std::size_t i = 0; i < rules.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (rules[i].name != rules[j].name) continue;
      const source_location& w = rules[i].where;
      const source_location& first = rules[j].where;
      errors.push_back({w.file, w.line, w.column, "rules",
                        "rule name " + in_quotes(rules[i].name) + " is already used at " +
                            first.file + ":" + std::to_string(first.line) + ":" +
                            std::to_string(first.column) + " (rule names must be unique)"});
      break;
    }
  }
}

declared_names declared_in(const daemon_config& cfg) {
  declared_names names;
  for (const sink_config& s : cfg.sinks) names.sinks.emplace_back(s.name, s.where.line);
  for (const named_time_interval& t : cfg.time_intervals)
    names.time_intervals.emplace_back(t.name, 0);
  return names;
}

rule_context context_for(const daemon_config& cfg, const declared_names& names) {
  rule_context ctx;
  ctx.defaults = &cfg.defaults;
  ctx.sinks = &cfg.sinks;
  ctx.sink_names = &names.sinks;
  ctx.time_interval_names = &names.time_intervals;
  for (const rules::metric_info& m : rules::known_metrics()) ctx.metrics.push_back(m.name);
  for (const std::string& m : cfg.smartsight.extra_metrics) ctx.metrics.push_back(m);
  return ctx;
}

}  // namespace sections

namespace {

// Older Alertmanager configs call the top-level list mute_time_intervals: (deprecated there
// for time_intervals:); one copied from them is told what to write, not only "unknown key".
std::optional<std::string> older_alertmanager_key(const std::string& key) {
  if (key != "mute_time_intervals") return std::nullopt;
  return "write time_intervals: (Alertmanager's newer name for this list; mute_time_intervals: "
         "belongs in a rule and names intervals of it)";
}

// Report file by file (in the order files were read), top to bottom within each.
void sort_errors(const std::string& main_file, std::vector<diagnostic>& errors) {
  std::vector<std::string> file_order{main_file};
  for (const diagnostic& d : errors)
    if (std::find(file_order.begin(), file_order.end(), d.file) == file_order.end())
      file_order.push_back(d.file);
  auto rank = [&](const diagnostic& d) {
    return std::tuple(std::find(file_order.begin(), file_order.end(), d.file) - file_order.begin(),
                      d.line, d.column);
  };
  std::stable_sort(errors.begin(), errors.end(),
                   [&](const diagnostic& a, const diagnostic& b) { return rank(a) < rank(b); });
}

// The main file's sections but its rules, in the order their errors are reported among equals.
daemon_config main_settings(const yaml::node& n, sections::declared_names& names) {
  daemon_config cfg;
  cfg.file = n.doc().file;
  if (yaml::node v = n["smartsight"])
    sections::smartsight(v, cfg.smartsight);
  else
    n.missing("smartsight",
              "missing (required: base_url, customer_id and api_key_file or api_key_env)");
  if (yaml::node v = n["listen"]) sections::listen(v, cfg.listen);
  if (yaml::node v = n["web"]) sections::web(v, cfg.web);
  if (yaml::node v = n["state_dir"])
    if (auto s = v.local_path()) cfg.state_dir = *s;
  if (yaml::node v = n["state"]) sections::state(v, n["state_dir"], cfg.state);
  if (yaml::node v = n["max_catchup"])
    if (auto d = v.duration_value(true)) cfg.max_catchup = *d;
  if (yaml::node v = n["defaults"]) sections::defaults(v, cfg.defaults);
  if (yaml::node v = n["sinks"]) sections::sinks(v, cfg.sinks, names.sinks);
  // Before the rules, wherever the file writes it: rules name these intervals.
  if (yaml::node v = n["time_intervals"])
    sections::time_intervals(v, cfg.time_intervals, names.time_intervals);
  return cfg;
}

// The main file's sections, rules included.
daemon_config main_file(const yaml::node& n) {
  sections::declared_names names;
  daemon_config cfg = main_settings(n, names);
  const sections::rule_context ctx = sections::context_for(cfg, names);
  if (yaml::node v = n["rules"]) sections::rules(v, ctx, cfg.rules);
  if (yaml::node v = n["rule_files"]) sections::rule_files(v, ctx, cfg);
  return cfg;
}

// The main file's keys; "state" before "state_dir": a short typo ("stat") means the section
// more often.
// clang-format off
const std::vector<std::string_view> main_keys{
    "smartsight", "listen", "web", "state", "state_dir", "max_catchup",
    "rule_files", "defaults", "sinks", "time_intervals", "rules"};
// clang-format on

// A main file's text: with its rules, or (a rule test's config) only its settings.
load_result load_text(std::string_view yaml_text, const std::string& file, bool with_rules) {
  load_result result;
  std::vector<diagnostic>& errors = result.errors;
  std::optional<YAML::Node> root = yaml::parse(yaml_text, file, errors);
  if (!root) return result;
  if (!root->IsDefined() || root->IsNull()) {
    errors.push_back(file_error(file, with_rules ? "the file is empty (it needs at least "
                                                   "smartsight: and rules)"
                                                 : "the file is empty (it needs at least "
                                                   "smartsight:)"));
    return result;
  }
  const yaml::document doc{file, fs::path(file).parent_path(), &errors};
  const yaml::node n(doc, *root, "");
  if (!n.check_map(main_keys, "smartsight:, rules: or rule_files:, ...", older_alertmanager_key))
    return result;
  daemon_config cfg;
  if (with_rules) {
    cfg = main_file(n);
    sections::unique_rule_names(cfg.rules, errors);
    if (cfg.rules.empty() && errors.empty())
      errors.push_back(file_error(file,
                                  "no rules are defined (add rules: here or rule files matching "
                                  "rule_files:; a daemon without rules would watch nothing)"));
  } else {
    sections::declared_names names;
    cfg = main_settings(n, names);
  }
  sort_errors(file, errors);
  if (errors.empty()) result.config = std::move(cfg);
  return result;
}

// The file at `path`, read as load_text reads text.
load_result load_file(const std::string& path, bool with_rules) {
  std::string err;
  std::optional<std::string> text = read_file(path, err);
  if (!text) {
    load_result r;
    r.errors.push_back(file_error(path, "cannot read the config file: " + err));
    return r;
  }
  return load_text(*text, path, with_rules);
}

}  // namespace

load_result load_from_string(std::string_view yaml_text, const std::string& file) {
  return load_text(yaml_text, file, true);
}

load_result load(const std::string& path) {
  return load_file(path, true);
}

load_result load_settings(const std::string& path) {
  return load_file(path, false);
}

load_result load_with_secrets(const std::string& path, secrets& out, const secret_source& source) {
  load_result r = load(path);
  if (!r.config) return r;
  secrets read = read_secrets(*r.config, r.errors, source);
  if (!r.errors.empty()) {
    r.config.reset();
    return r;
  }
  out = std::move(read);
  return r;
}

load_result load_with_secrets(const std::string& path, secrets& out) {
  return load_with_secrets(path, out, secret_source::system());
}

}  // namespace qoewatch::config
