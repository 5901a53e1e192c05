#include "ruletest/compare.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <set>

#include "ruletest/exposition.hpp"

namespace qoewatch::ruletest {

namespace {

std::string list_text(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + items[i];
  return out + "]";
}

std::string group_text(const config::rule_config& rule, const group_values& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size() && i < rule.group_by.size(); ++i)
    out += (i ? ", " : "") + rule.group_by[i] + ": " + values[i];
  return out + "}";
}

std::string optional_text(const std::optional<double>& v) {
  return v ? number_text(*v) : "n/a";
}

std::string expected_text(const config::rule_config& rule, const expected_event& e) {
  std::vector<std::string> parts;
  if (e.group) parts.push_back("group: " + group_text(rule, *e.group));
  if (e.sessions) parts.push_back("sessions: " + number_text(*e.sessions));
  if (e.offending) parts.push_back("offending: " + number_text(*e.offending));
  if (e.ratio) parts.push_back("ratio: " + number_text(*e.ratio));
  for (const auto& [name, value] : e.aggregates)
    parts.push_back(name + ": " + optional_text(value));
  std::string out = "{";
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? ", " : "") + parts[i];
  return out + "}";
}

std::string got_text(const config::rule_config& rule, const event& g) {
  const notify::group_info& f = g.figures;
  if (!g.population) return "{offending: " + std::to_string(f.offending) + "}";
  std::string out =
      "{group: " + group_text(rule, f.values) + ", sessions: " + std::to_string(f.sessions) +
      ", offending: " + std::to_string(f.offending) + ", ratio: " + number_text(f.ratio);
  for (const auto& [name, value] : f.aggregates) out += ", " + name + ": " + optional_text(value);
  return out + "}";
}

bool matches(const expected_event& e, const event& g) {
  const notify::group_info& f = g.figures;
  if (e.group && (!g.population || f.values != *e.group)) return false;
  if (e.sessions && !same_number(*e.sessions, static_cast<double>(f.sessions))) return false;
  if (e.offending && !same_number(*e.offending, static_cast<double>(f.offending))) return false;
  if (e.ratio && !same_number(*e.ratio, f.ratio)) return false;
  for (const auto& [name, want] : e.aggregates) {
    // (A named copy: clang does not let a lambda capture a structured binding.)
    const std::string& wanted = name;
    auto it = std::find_if(f.aggregates.begin(), f.aggregates.end(),
                           [&wanted](const auto& a) { return a.first == wanted; });
    if (it == f.aggregates.end() || want.has_value() != it->second.has_value()) return false;
    if (want && !same_number(*want, *it->second)) return false;
  }
  return true;
}

// Expected events against those seen: each expected one takes the first seen one it matches.
void compare_events(const config::rule_config& rule, const std::string& what,
                    const checked<std::vector<expected_event>>& want,
                    const std::vector<event>& seen, std::vector<mismatch>& out) {
  std::vector<bool> taken(seen.size(), false);
  mismatch m;
  for (const expected_event& e : want.value) {
    bool found = false;
    for (std::size_t i = 0; i < seen.size() && !found; ++i) {
      if (taken[i] || !matches(e, seen[i])) continue;
      taken[i] = found = true;
    }
    if (!found) m.missing.push_back(expected_text(rule, e));
  }
  for (std::size_t i = 0; i < seen.size(); ++i)
    if (!taken[i]) m.unexpected.push_back(got_text(rule, seen[i]));
  if (m.missing.empty() && m.unexpected.empty()) return;
  std::vector<std::string> expected, got;
  for (const expected_event& e : want.value) expected.push_back(expected_text(rule, e));
  for (const event& g : seen) got.push_back(got_text(rule, g));
  m.line = want.line;
  m.what = "rule " + rule.name + ": " + what;
  m.expected = list_text(expected);
  m.got = list_text(got);
  out.push_back(std::move(m));
}

// Texts in the order people count: "b-2" before "b-10" (runs of digits by their value).
bool natural_less(const std::string& a, const std::string& b) {
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (digit(a[i]) && digit(b[j])) {
      std::size_t ei = i, ej = j;
      while (ei < a.size() && digit(a[ei])) ++ei;
      while (ej < b.size() && digit(b[ej])) ++ej;
      // Leading zeros aside, the longer run is the larger number.
      std::string_view x(a.data() + i, ei - i), y(b.data() + j, ej - j);
      while (x.size() > 1 && x.front() == '0') x.remove_prefix(1);
      while (y.size() > 1 && y.front() == '0') y.remove_prefix(1);
      if (x.size() != y.size()) return x.size() < y.size();
      if (x != y) return x < y;
      if (ei - i != ej - j) return ei - i < ej - j;
      i = ei;
      j = ej;
      continue;
    }
    if (a[i] != b[j]) return a[i] < b[j];
    ++i;
    ++j;
  }
  return a.size() - i < b.size() - j;
}

// Two sets of texts (each item once, in natural order).
void compare_sets(const std::string& what, int line, std::vector<std::string> want,
                  std::vector<std::string> seen, std::vector<mismatch>& out) {
  for (std::vector<std::string>* v : {&want, &seen}) {
    std::sort(v->begin(), v->end(), natural_less);
    v->erase(std::unique(v->begin(), v->end()), v->end());
  }
  if (want == seen) return;
  mismatch m;
  m.line = line;
  m.what = what;
  std::set_difference(want.begin(), want.end(), seen.begin(), seen.end(),
                      std::back_inserter(m.missing), natural_less);
  std::set_difference(seen.begin(), seen.end(), want.begin(), want.end(),
                      std::back_inserter(m.unexpected), natural_less);
  m.expected = list_text(want);
  m.got = list_text(seen);
  out.push_back(std::move(m));
}

std::vector<std::string> group_texts(const config::rule_config& rule,
                                     const std::vector<group_values>& groups) {
  std::vector<std::string> out;
  for (const group_values& g : groups) out.push_back(group_text(rule, g));
  return out;
}

void compare_metrics(const expectation& x, const std::string& exposition,
                     std::vector<mismatch>& out) {
  if (x.metrics.empty()) return;
  const std::vector<sample> samples = parse_exposition(exposition);
  for (const expected_metric& want : x.metrics) {
    const series_id id{want.name, want.labels};
    const sample* found = nullptr;
    for (const sample& s : samples)
      if (s.series == id) found = &s;
    if (want.value && found && same_number(*want.value, found->value)) continue;
    if (!want.value && !found) continue;
    mismatch m;
    m.line = want.line;
    m.what = "metric " + to_string(id);
    m.expected = want.value ? number_text(*want.value) : "absent";
    if (found) {
      m.got = number_text(found->value);
    } else {
      // What the family holds instead: most often a label written differently.
      std::vector<std::string> others;
      for (const sample& s : samples)
        if (s.series.name == want.name)
          others.push_back(to_string(s.series) + " " + number_text(s.value));
      m.got = "absent";
      if (!others.empty())
        m.got += " (" + want.name + " has " +
                 (others.size() <= 5 ? list_text(others)
                                     : list_text({others.begin(), others.begin() + 5}) + " and " +
                                           std::to_string(others.size() - 5) + " more") +
                 ")";
    }
    out.push_back(std::move(m));
  }
}

}  // namespace

std::string number_text(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

bool same_number(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  if (a == b) return true;
  return std::fabs(a - b) <= 1e-9 * std::max(std::fabs(a), std::fabs(b));
}

std::vector<mismatch> compare(const config::daemon_config& cfg, const expectation& x,
                              const evaluation& e) {
  std::vector<mismatch> out;
  if (x.rule) {
    const config::rule_config& rule = cfg.rules.at(*x.rule);
    const rule_observation& seen = e.rules.at(*x.rule);
    const std::string about = "rule " + rule.name + ": ";
    if (x.fired) compare_events(rule, "fired", *x.fired, seen.fired, out);
    if (x.resolved) compare_events(rule, "resolved", *x.resolved, seen.resolved, out);
    if (x.firing && x.firing->value != seen.firing) {
      mismatch m;
      m.line = x.firing->line;
      m.what = about + "firing";
      m.expected = x.firing->value ? "true" : "false";
      m.got = seen.firing ? "true" : "false";
      out.push_back(std::move(m));
    }
    if (x.firing_groups)
      compare_sets(about + "firing", x.firing_groups->line,
                   group_texts(rule, x.firing_groups->value), group_texts(rule, seen.firing_groups),
                   out);
    if (x.pending)
      compare_sets(about + "pending", x.pending->line, group_texts(rule, x.pending->value),
                   group_texts(rule, seen.pending), out);
    if (x.notified)
      compare_sets(about + "notified", x.notified->line, x.notified->value, seen.notified, out);
  }
  compare_metrics(x, e.metrics, out);
  return out;
}

std::string render(const std::string& file, const test_case& t, const expectation& x,
                   const mismatch& m) {
  std::string out = file + ":" + std::to_string(m.line) + ": test \"" + t.name + "\", at " +
                    x.at_text + ": " + m.what + "\n";
  out += "  expected: " + m.expected + "\n";
  out += "  got:      " + m.got + "\n";
  auto items = [](const std::vector<std::string>& v) {
    std::string s;
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
    return s;
  };
  if (!m.missing.empty()) out += "  missing: " + items(m.missing) + "\n";
  if (!m.unexpected.empty()) out += "  unexpected: " + items(m.unexpected) + "\n";
  return out;
}

std::vector<std::string> check(const test_file& f, const test_case& t, const hooks& h) {
  std::vector<std::string> failures;
  const std::vector<evaluation> evaluations = run(f, t, h);
  for (const expectation& x : t.expect) {
    auto e = std::find_if(evaluations.begin(), evaluations.end(),
                          [&](const evaluation& each) { return each.at == x.at; });
    if (e == evaluations.end()) continue;  // run() evaluates at every time of t.expect
    for (const mismatch& m : compare(f.cfg, x, *e)) failures.push_back(render(f.file, t, x, m));
  }
  return failures;
}

std::string summary(const std::string& file, std::size_t tests, std::size_t passed) {
  std::string out = file + ": " + std::to_string(tests) + (tests == 1 ? " test, " : " tests, ") +
                    std::to_string(passed) + " passed";
  if (passed < tests) out += ", " + std::to_string(tests - passed) + " failed";
  return out;
}

}  // namespace qoewatch::ruletest
