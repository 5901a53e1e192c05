// The test file loader: the world the rules are judged in (rule_files:, and config: or inline
// defaults:, sinks:, time_intervals:), then each test's sessions and series. expect: entries
// are read in expect.cpp.
#include "ruletest/spec.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <tuple>

#include "config/common.hpp"
#include "config/load.hpp"
#include "config/sections.hpp"
#include "config/yaml_reader.hpp"
#include "duration.hpp"
#include "fetch/page.hpp"
#include "rules/metric_dictionary.hpp"
#include "ruletest/spec_parts.hpp"

namespace qoewatch::ruletest {

namespace {

namespace fs = std::filesystem;
namespace yaml = config::yaml;
using config::in_quotes;

config::diagnostic file_error(const std::string& file, std::string message) {
  config::diagnostic d;
  d.file = file;
  d.message = std::move(message);
  return d;
}

// ---- the world: settings and rules ----

// The settings inline in a test file; config: lends them instead.
const std::vector<std::string_view> inline_settings{"defaults", "sinks", "time_intervals"};

// The settings and the rules of the test file `n`. False when they are not usable.
bool world(const yaml::node& n, config::daemon_config& cfg) {
  const std::size_t errors_before = n.error_count();
  config::sections::declared_names names;
  if (yaml::node v = n["config"]) {
    std::optional<std::string> path = v.local_path();
    if (!path) return false;
    config::load_result loaded = config::load_settings(*path);
    for (config::diagnostic& d : loaded.errors) n.doc().errors->push_back(std::move(d));
    if (!loaded.config) return false;
    cfg = std::move(*loaded.config);
    names = config::sections::declared_in(cfg);
    for (std::string_view key : inline_settings)
      if (yaml::node s = n[key])
        s.error("config: already gives the settings (write " + std::string(key) +
                " in that config, or here without config:)");
  } else {
    if (yaml::node d = n["defaults"]) config::sections::defaults(d, cfg.defaults);
    if (yaml::node s = n["sinks"]) config::sections::sinks(s, cfg.sinks, names.sinks);
    if (yaml::node t = n["time_intervals"])
      config::sections::time_intervals(t, cfg.time_intervals, names.time_intervals);
  }
  cfg.file = n.doc().file;
  cfg.rules.clear();
  cfg.rule_files.clear();
  yaml::node files = n["rule_files"];
  if (!files) {
    n.missing("rule_files",
              "missing (required: the rule files to test, relative to this file, e.g. "
              "[../startup.yaml])");
    return false;
  }
  const config::sections::rule_context ctx = config::sections::context_for(cfg, names);
  const std::size_t before_rules = n.error_count();
  config::sections::rule_files(files, ctx, cfg);
  config::sections::unique_rule_names(cfg.rules, *n.doc().errors);
  if (cfg.rules.empty() && n.error_count() == before_rules)
    files.error("the files hold no rules (a test needs a rule to test)");
  return n.error_count() == errors_before;
}

// ---- sessions ----

// A value of a session: a scalar, read as SmartSight's JSON would carry it (see cell).
std::optional<cell> cell_of(const yaml::node& v) {
  const YAML::Node& y = v.yaml();
  if (y.IsNull()) return cell{cell::kind::null, "null", 0};
  if (!y.IsScalar()) {
    v.error("must be a number or a text (a session's metrics and dimensions are scalars)");
    return std::nullopt;
  }
  const std::string& s = y.Scalar();
  if (y.Tag() == "!") return cell{cell::kind::text, s, 0};  // quoted: a JSON string
  if (s == "true" || s == "false") return cell{cell::kind::boolean, s, 0};
  if (std::optional<double> d = fetch::to_number(s)) return cell{cell::kind::number, s, *d};
  return cell{cell::kind::text, s, 0};
}

// What the rules of a test read from a session: their metrics, fields and filter dimensions.
// A session key close to one of them, and read by none, is most likely a typo.
class reads {
 public:
  explicit reads(const config::daemon_config& cfg) {
    for (const config::rule_config& r : cfg.rules) {
      const fetch::row_schema s = fetch::schema_for(r);
      for (const std::string& m : s.metrics) add(m);
      for (const std::string& f : s.fields) add(f);
      for (const rules::dimension_group& g : r.filter.groups) add(g.dimension);
    }
    for (const rules::metric_info& m : rules::known_metrics()) known_.insert(std::string(m.name));
    for (const std::string& m : cfg.smartsight.extra_metrics) known_.insert(m);
  }

  // Reports `key` at `k` when it looks like a misspelt name the rules read.
  void check(const std::string& key, const yaml::node& k) const {
    if (names_.contains(key) || known_.contains(key)) return;
    std::vector<std::string_view> candidates(names_.begin(), names_.end());
    const std::string near = config::nearest(key, candidates);
    // A longer name that merely starts with the key (cdn, cdn_change_rate) is another name.
    if (near.empty() || near.starts_with(key)) return;
    k.error("no rule of this file reads " + in_quotes(key) + " (did you mean " + in_quotes(near) +
            "?)");
  }

 private:
  void add(const std::string& name) { names_.insert(name); }
  std::set<std::string> names_;
  std::set<std::string> known_;  // the dictionary and extra_metrics: never a typo
};

std::optional<input_row> session(const yaml::node& n, double start, const reads& read) {
  if (!n.is_map()) {
    n.error("must be a mapping (sessionid: ..., endtime: -3m, then metrics and dimensions)");
    return std::nullopt;
  }
  const std::size_t errors_before = n.error_count();
  input_row row;
  row.line = n.where().line;
  n.for_each_entry([&](const std::string& key, const yaml::node& k, const yaml::node& v) {
    if (key == "sessionid") {
      if (auto id = v.text()) row.sessionid = *id;
    } else if (key == "endtime") {
      if (auto t = parts::time_of(v, start)) row.endtime = *t;
    } else if (auto c = cell_of(v)) {
      read.check(key, k);
      row.values.emplace_back(key, std::move(*c));
    }
  });
  if (!n["sessionid"]) n.missing("sessionid", "missing (required: the session's id)");
  if (!n["endtime"])
    n.missing("endtime",
              "missing (required: when the session ended: -3m from the test's start, or an "
              "RFC 3339 time)");
  if (n.error_count() != errors_before) return std::nullopt;
  return row;
}

// A signed duration: "2s", "+2s", "-500ms".
std::optional<double> signed_seconds(std::string_view text) {
  double sign = 1;
  if (!text.empty() && (text.front() == '+' || text.front() == '-')) {
    sign = text.front() == '-' ? -1 : 1;
    text.remove_prefix(1);
  }
  std::optional<duration> d = parse_duration(text);
  if (!d) return std::nullopt;
  return sign * static_cast<double>(d->count()) / 1000.0;
}

constexpr std::string_view series_id_mark = "{i}";

// A series: `count` sessions whose ids number `{i}` from 1, ending `step` apart from
// `endtime` on; each value is the same for all, or a list the sessions take in turn.
void series(const yaml::node& n, double start, const reads& read, std::vector<input_row>& out) {
  if (!n.check_map({"sessionid", "count", "endtime", "step", "values"},
                   "sessionid: \"ok-{i}\", count: 100, endtime: -9m, step: 2s, values: {...}"))
    return;
  const std::size_t errors_before = n.error_count();
  std::string pattern;
  if (yaml::node v = n["sessionid"]) {
    if (auto s = v.text()) {
      pattern = *s;
      if (pattern.find(series_id_mark) == std::string::npos)
        v.error(
            "must hold {i} (the session's number, 1 to count: \"ok-{i}\"), so that each "
            "session has an id of its own");
    }
  } else {
    n.missing("sessionid", "missing (required: the sessions' ids, with {i}: \"ok-{i}\")");
  }
  std::int64_t count = 0;
  if (yaml::node v = n["count"]) {
    if (auto c = v.whole_number(1, 100000, "sessions the series makes")) count = *c;
  } else {
    n.missing("count", "missing (required: how many sessions the series makes)");
  }
  double first = 0;
  if (yaml::node v = n["endtime"]) {
    if (auto t = parts::time_of(v, start)) first = *t;
  } else {
    n.missing("endtime", "missing (required: when the first session ended: -9m, or RFC 3339)");
  }
  double step = 0;
  if (yaml::node v = n["step"]) {
    std::optional<std::string> s = v.text();
    std::optional<double> d = s ? signed_seconds(*s) : std::nullopt;
    if (s && !d)
      v.error(in_quotes(*s) +
              " is not a duration (use 2s, 500ms; -2s for sessions that end earlier and earlier)");
    if (d) step = *d;
  }
  std::vector<std::pair<std::string, std::vector<cell>>> values;
  if (yaml::node v = n["values"]) {
    if (!v.is_map()) {
      v.error(
          "must be a mapping (metric or dimension: a value, or a list the sessions take in "
          "turn)");
    } else {
      v.for_each_entry([&](const std::string& key, const yaml::node& k, const yaml::node& value) {
        std::vector<cell> cells;
        if (value.is_list()) {
          if (value.size() == 0)
            value.error("must not be empty (a list the sessions take in turn)");
          for (std::size_t i = 0; i < value.size(); ++i)
            if (auto c = cell_of(value.at(i))) cells.push_back(std::move(*c));
        } else if (auto c = cell_of(value)) {
          cells.push_back(std::move(*c));
        }
        if (key == "sessionid" || key == "endtime")
          k.error(key + " is the series' own key (write it beside values:)");
        read.check(key, k);
        values.emplace_back(key, std::move(cells));
      });
    }
  }
  if (n.error_count() != errors_before) return;
  for (std::int64_t i = 0; i < count; ++i) {
    input_row row;
    row.line = n.where().line;
    row.sessionid = pattern;
    const std::string number = std::to_string(i + 1);
    for (std::size_t at = row.sessionid.find(series_id_mark); at != std::string::npos;
         at = row.sessionid.find(series_id_mark, at + number.size()))
      row.sessionid.replace(at, series_id_mark.size(), number);
    row.endtime = first + static_cast<double>(i) * step;
    for (const auto& [key, cells] : values)
      row.values.emplace_back(key, cells[static_cast<std::size_t>(i) % cells.size()]);
    out.push_back(std::move(row));
  }
}

// ---- tests ----

std::optional<test_case> test(const yaml::node& n, const config::daemon_config& cfg,
                              const reads& read) {
  if (!n.check_map({"name", "start", "sessions", "series", "expect"},
                   "name:, sessions:, expect:, ..."))
    return std::nullopt;
  const std::size_t errors_before = n.error_count();
  test_case t;
  t.line = n.where().line;
  if (yaml::node v = n["name"]) {
    if (auto s = v.text()) t.name = *s;
  } else {
    n.missing("name", "missing (required: what the test shows, as failures name it)");
  }
  if (yaml::node v = n["start"]) {
    std::optional<std::string> s = v.text();
    std::optional<std::int64_t> ms = s ? parse_rfc3339_ms(*s) : std::nullopt;
    if (s && !ms) v.error(in_quotes(*s) + " is not an RFC 3339 time (2024-01-01T00:00:00Z)");
    if (ms) t.start = static_cast<double>(*ms) / 1000.0;
  }
  if (yaml::node v = n["sessions"]) {
    if (!v.is_list()) v.error("must be a list (- {sessionid: a1, endtime: -3m, latency: 7})");
    for (std::size_t i = 0; v.is_list() && i < v.size(); ++i)
      if (auto row = session(v.at(i), t.start, read)) t.rows.push_back(std::move(*row));
  }
  if (yaml::node v = n["series"]) {
    if (!v.is_list()) v.error("must be a list (- {sessionid: \"ok-{i}\", count: 100, ...})");
    for (std::size_t i = 0; v.is_list() && i < v.size(); ++i)
      series(v.at(i), t.start, read, t.rows);
  }
  if (yaml::node v = n["expect"])
    parts::expectations(v, cfg, t);
  else
    n.missing("expect", "missing (required: what the rules should have done, and when)");
  if (n.error_count() != errors_before) return std::nullopt;
  std::stable_sort(t.rows.begin(), t.rows.end(),
                   [](const input_row& a, const input_row& b) { return a.endtime < b.endtime; });
  return t;
}

// Report file by file (the test file first), top to bottom within each.
void sort_errors(const std::string& main_file, std::vector<config::diagnostic>& errors) {
  std::vector<std::string> order{main_file};
  for (const config::diagnostic& d : errors)
    if (std::find(order.begin(), order.end(), d.file) == order.end()) order.push_back(d.file);
  auto rank = [&](const config::diagnostic& d) {
    return std::tuple(std::find(order.begin(), order.end(), d.file) - order.begin(), d.line,
                      d.column);
  };
  std::stable_sort(errors.begin(), errors.end(),
                   [&](const auto& a, const auto& b) { return rank(a) < rank(b); });
}

}  // namespace

std::optional<double> read_time(std::string_view text, double start) {
  if (text.empty()) return std::nullopt;
  if (std::optional<double> offset = signed_seconds(text)) return start + *offset;
  if (text.front() == '+' || text.front() == '-') return std::nullopt;
  if (std::optional<std::int64_t> ms = parse_rfc3339_ms(text))
    return static_cast<double>(*ms) / 1000.0;
  return std::nullopt;
}

namespace parts {

std::optional<double> time_of(const yaml::node& v, double start) {
  std::optional<std::string> s = v.text();
  if (!s) return std::nullopt;
  std::optional<double> t = read_time(*s, start);
  if (!t)
    v.error(in_quotes(*s) +
            " is not a time (write an offset from the test's start: -3m, +90s, 0s; or an RFC "
            "3339 time: 2024-01-01T00:02:00Z)");
  return t;
}

std::string time_text(double epoch_seconds) {
  const bool whole = std::floor(epoch_seconds) == epoch_seconds;
  return utc_rfc3339(from_epoch_seconds(epoch_seconds), !whole);
}

}  // namespace parts

load_result load_from_string(std::string_view text, const std::string& file) {
  load_result result;
  std::vector<config::diagnostic>& errors = result.errors;
  std::optional<YAML::Node> root = yaml::parse(text, file, errors);
  if (!root) return result;
  if (!root->IsDefined() || root->IsNull()) {
    errors.push_back(file_error(file, "the file is empty (it needs rule_files: and tests:)"));
    return result;
  }
  const yaml::document doc{file, fs::path(file).parent_path(), &errors};
  const yaml::node n(doc, *root, "");
  if (!n.check_map({"rule_files", "config", "defaults", "sinks", "time_intervals", "tests"},
                   "rule_files:, tests:, ..."))
    return result;
  test_file f;
  f.file = file;
  // Tests are read only against rules that loaded: otherwise every check of a broken rule
  // would add an error of its own.
  if (world(n, f.cfg)) {
    const reads read(f.cfg);
    if (yaml::node v = n["tests"]) {
      if (!v.is_list() || v.size() == 0) v.error("must be a list of tests (- name: ...)");
      std::set<std::string> names;
      for (std::size_t i = 0; v.is_list() && i < v.size(); ++i) {
        std::optional<test_case> t = test(v.at(i), f.cfg, read);
        if (!t) continue;
        if (!names.insert(t->name).second)
          v.at(i)["name"].error("test name " + in_quotes(t->name) +
                                " is already used in this file (failures name the test)");
        f.tests.push_back(std::move(*t));
      }
    } else {
      n.missing("tests", "missing (required: the tests, - name: ...)");
    }
  }
  sort_errors(file, errors);
  if (errors.empty()) result.value = std::move(f);
  return result;
}

load_result load(const std::string& path) {
  std::string err;
  std::optional<std::string> text = config::read_file(path, err);
  if (!text) {
    load_result r;
    r.errors.push_back(file_error(path, "cannot read the test file: " + err));
    return r;
  }
  return load_from_string(*text, path);
}

}  // namespace qoewatch::ruletest
