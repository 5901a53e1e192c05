#include "core/scenario.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <span>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "core/tables.hpp"

namespace qoewatch::sim {

namespace {

constexpr std::string_view root_keys[] = {"incidents"};
constexpr std::string_view incident_keys[] = {"name",     "start", "duration", "match",
                                              "multiply", "add",   "set"};

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string join(std::span<const std::string_view> names) {
  std::string out;
  for (std::string_view n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

// "did you mean X?" for a close name, else the list of allowed names.
std::string suggestion(std::string_view got, std::span<const std::string_view> allowed) {
  std::string_view best;
  std::size_t best_d = 3;
  for (std::string_view n : allowed) {
    std::size_t d = edit_distance(got, n);
    if (d < best_d) {
      best_d = d;
      best = n;
    }
  }
  if (!best.empty()) return "did you mean " + std::string(best) + "?";
  return "expected one of " + join(allowed);
}

bool contains(std::span<const std::string_view> names, std::string_view n) {
  return std::find(names.begin(), names.end(), n) != names.end();
}

struct load_error {
  std::string message;
};

class loader {
 public:
  explicit loader(std::string_view file) : file_(file) {}

  [[noreturn]] void fail(const YAML::Mark& mark, const std::string& path,
                         const std::string& what) const {
    std::ostringstream os;
    os << file_ << ':' << (mark.is_null() ? 1 : mark.line + 1) << ':'
       << (mark.is_null() ? 1 : mark.column + 1) << ": ";
    if (!path.empty()) os << path << ": ";
    os << what;
    throw load_error{os.str()};
  }

  scenario load(const YAML::Node& root) {
    scenario sc;
    if (!root.IsMap())
      fail(root.Mark(), "", "a scenario is a map with the key incidents (incidents: [...])");
    const YAML::Node* incidents = nullptr;
    YAML::Node incidents_node;
    check_keys(root, "", root_keys, "key");
    for (const auto& kv : root) {
      incidents_node = kv.second;
      incidents = &incidents_node;
    }
    if (!incidents) fail(root.Mark(), "", "missing key incidents");
    if (incidents->IsNull()) return sc;
    if (!incidents->IsSequence())
      fail(incidents->Mark(), "incidents", "expected a list of incidents (- name: ...)");
    std::size_t i = 0;
    for (const YAML::Node& n : *incidents) {
      std::string path = "incidents[" + std::to_string(i++) + "]";
      incident inc = load_incident(n, path);
      for (std::size_t j = 0; j < sc.incidents.size(); ++j)
        if (sc.incidents[j].name == inc.name)
          fail(name_mark_, path + ".name",
               "\"" + inc.name + "\" is already the name of incidents[" + std::to_string(j) + "]");
      sc.incidents.push_back(std::move(inc));
    }
    return sc;
  }

 private:
  // Rejects unknown and repeated keys of map `n`.
  void check_keys(const YAML::Node& n, const std::string& path,
                  std::span<const std::string_view> allowed, std::string_view what) {
    std::vector<std::string> seen;
    for (const auto& kv : n) {
      std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string();
      std::string key_path = path.empty() ? key : path + "." + key;
      if (!kv.first.IsScalar()) fail(kv.first.Mark(), path, "keys must be plain names");
      if (!allowed.empty() && !contains(allowed, key))
        fail(kv.first.Mark(), key_path,
             "unknown " + std::string(what) + " (" + suggestion(key, allowed) + ")");
      if (std::find(seen.begin(), seen.end(), key) != seen.end())
        fail(kv.first.Mark(), key_path, "repeated key");
      seen.push_back(key);
    }
  }

  std::string scalar(const YAML::Node& n, const std::string& path, std::string_view what) {
    if (!n.IsScalar()) fail(n.Mark(), path, "expected " + std::string(what));
    return n.Scalar();
  }

  duration parse_dur(const YAML::Node& n, const std::string& path) {
    std::string text = scalar(n, path, "a duration (use 30s, 5m, 1h)");
    std::optional<duration> d = parse_duration(text);
    if (!d) fail(n.Mark(), path, "\"" + text + "\" is not a duration (use 30s, 5m, 1h)");
    return *d;
  }

  std::vector<std::pair<std::string, double>> load_changes(const YAML::Node& n,
                                                           const std::string& path) {
    if (!n.IsMap()) fail(n.Mark(), path, "expected a map of metric: number ({latency: 4})");
    check_keys(n, path, generated_metric_names(), "metric");
    std::vector<std::pair<std::string, double>> out;
    for (const auto& kv : n) {
      std::string key_path = path + "." + kv.first.Scalar();
      std::string text = scalar(kv.second, key_path, "a number");
      double v = 0;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size() ||
          !std::isfinite(v))
        fail(kv.second.Mark(), key_path, "\"" + text + "\" is not a number");
      out.emplace_back(kv.first.Scalar(), v);
    }
    return out;
  }

  incident load_incident(const YAML::Node& n, const std::string& path) {
    if (!n.IsMap())
      fail(n.Mark(), path, "expected a map with name, start, duration, match and changes");
    check_keys(n, path, incident_keys, "key");
    incident inc;
    bool has_name = false, has_start = false, has_duration = false;
    for (const auto& kv : n) {
      const std::string key = kv.first.Scalar();
      const std::string key_path = path + "." + key;
      const YAML::Node& v = kv.second;
      if (key == "name") {
        inc.name = scalar(v, key_path, "a name");
        if (inc.name.empty()) fail(v.Mark(), key_path, "must not be empty");
        name_mark_ = v.Mark();
        has_name = true;
      } else if (key == "start") {
        // Negative: before the simulator started, for the backlog's sessions ("-50h").
        if (v.IsScalar() && v.Scalar().starts_with('-')) {
          std::optional<duration> back = parse_duration(std::string_view(v.Scalar()).substr(1));
          if (!back)
            fail(v.Mark(), key_path, "\"" + v.Scalar() + "\" is not a duration (use 30s, 5m, 1h)");
          inc.start = -*back;
        } else {
          inc.start = parse_dur(v, key_path);
        }
        has_start = true;
      } else if (key == "duration") {
        inc.length = parse_dur(v, key_path);
        if (inc.length.count() <= 0) fail(v.Mark(), key_path, "must be longer than 0s");
        has_duration = true;
      } else if (key == "match") {
        if (v.IsNull()) continue;
        if (!v.IsMap())
          fail(v.Mark(), key_path, "expected a map of dimension: value ({cdn: edgeB})");
        check_keys(v, key_path, generated_dimension_names(), "dimension");
        for (const auto& m : v) {
          std::string dim = m.first.Scalar();
          inc.match.emplace_back(dim, scalar(m.second, key_path + "." + dim, "a text value"));
        }
      } else if (key == "multiply") {
        inc.multiply = load_changes(v, key_path);
      } else if (key == "add") {
        inc.add = load_changes(v, key_path);
      } else if (key == "set") {
        inc.set = load_changes(v, key_path);
      }
    }
    if (!has_name) fail(n.Mark(), path, "missing key name");
    if (!has_start)
      fail(n.Mark(), path, "missing key start (offset from simulator start, e.g. 2m)");
    if (!has_duration) fail(n.Mark(), path, "missing key duration (e.g. 5m)");
    if (inc.multiply.empty() && inc.add.empty() && inc.set.empty())
      fail(n.Mark(), path, "no changes: give at least one of multiply, add, set");
    return inc;
  }

  std::string file_;
  YAML::Mark name_mark_;
};

}  // namespace

scenario_result parse_scenario(std::string_view text, std::string_view file_name) {
  scenario_result r;
  loader l(file_name);
  try {
    YAML::Node root = YAML::Load(std::string(text));
    if (!root.IsDefined() || root.IsNull()) {
      r.error = std::string(file_name) + ":1:1: missing key incidents (the file is empty)";
      return r;
    }
    r.value = l.load(root);
  } catch (const load_error& e) {
    r.error = e.message;
  } catch (const YAML::Exception& e) {
    r.error = std::string(file_name) + ":" + std::to_string(e.mark.line + 1) + ":" +
              std::to_string(e.mark.column + 1) + ": invalid YAML: " + e.msg;
  }
  return r;
}

scenario_result load_scenario_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    scenario_result r;
    r.error = path + ": cannot read the scenario file";
    return r;
  }
  std::ostringstream os;
  os << in.rdbuf();
  return parse_scenario(os.str(), path);
}

}  // namespace qoewatch::sim
