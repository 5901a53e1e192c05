#include "ruletest/exposition.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

namespace qoewatch::ruletest {

namespace {

bool name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool name_char(char c) {
  return name_start(c) || (c >= '0' && c <= '9');
}

// Reads a series at the start of `text`; `pos` is left after it.
series_result read_series(std::string_view text, std::size_t& pos) {
  series_result r;
  auto fail = [&](std::size_t at, std::string why) {
    r.offset = at;
    r.error = std::move(why);
    return r;
  };
  auto skip_spaces = [&] {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) ++pos;
  };
  skip_spaces();
  series_id s;
  const std::size_t name_at = pos;
  if (pos >= text.size() || !name_start(text[pos]))
    return fail(pos, "expected a metric name (qoewatch_rule_firing{rule=\"r\"})");
  while (pos < text.size() && name_char(text[pos])) ++pos;
  s.name = std::string(text.substr(name_at, pos - name_at));
  skip_spaces();
  if (pos < text.size() && text[pos] == '{') {
    ++pos;
    for (;;) {
      skip_spaces();
      if (pos < text.size() && text[pos] == '}') {
        ++pos;
        break;
      }
      const std::size_t label_at = pos;
      if (pos >= text.size() || !name_start(text[pos]) || text[pos] == ':')
        return fail(pos, "expected a label name or }");
      while (pos < text.size() && name_char(text[pos]) && text[pos] != ':') ++pos;
      std::string label(text.substr(label_at, pos - label_at));
      skip_spaces();
      if (pos >= text.size() || text[pos] != '=')
        return fail(pos, "expected = after label " + label);
      ++pos;
      skip_spaces();
      if (pos >= text.size() || text[pos] != '"')
        return fail(pos, "expected a value in double quotes after " + label + "=");
      ++pos;
      std::string value;
      for (;;) {
        if (pos >= text.size()) return fail(pos, "the value of " + label + " is not closed by \"");
        const char c = text[pos++];
        if (c == '"') break;
        if (c != '\\') {
          value += c;
          continue;
        }
        if (pos >= text.size()) return fail(pos, "the value of " + label + " is not closed by \"");
        const char e = text[pos++];
        value += e == 'n' ? '\n' : e;
      }
      for (const auto& [have, unused] : s.labels)
        if (have == label) return fail(label_at, "label " + label + " is given twice");
      s.labels.emplace_back(std::move(label), std::move(value));
      skip_spaces();
      if (pos < text.size() && text[pos] == ',') {
        ++pos;
        continue;
      }
      if (pos < text.size() && text[pos] == '}') {
        ++pos;
        break;
      }
      return fail(pos, "expected , or } after a label's value");
    }
  }
  std::sort(s.labels.begin(), s.labels.end());
  r.value = std::move(s);
  return r;
}

std::optional<double> read_value(std::string_view v) {
  if (v == "+Inf" || v == "Inf") return std::numeric_limits<double>::infinity();
  if (v == "-Inf") return -std::numeric_limits<double>::infinity();
  if (v == "NaN") return std::numeric_limits<double>::quiet_NaN();
  double d = 0;
  if (!v.empty() && v.front() == '+') v.remove_prefix(1);
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (ec != std::errc{} || ptr != v.data() + v.size()) return std::nullopt;
  return d;
}

}  // namespace

series_result parse_series(std::string_view text) {
  std::size_t pos = 0;
  series_result r = read_series(text, pos);
  if (!r.value) return r;
  while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) ++pos;
  if (pos < text.size()) {
    r.value.reset();
    r.offset = pos;
    r.error = "unexpected text after the series (write name{label=\"value\"})";
  }
  return r;
}

std::string to_string(const series_id& s) {
  std::string out = s.name;
  if (s.labels.empty()) return out;
  out += '{';
  for (std::size_t i = 0; i < s.labels.size(); ++i) {
    if (i > 0) out += ',';
    out += s.labels[i].first + "=\"";
    for (char c : s.labels[i].second) {
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::vector<sample> parse_exposition(std::string_view text) {
  std::vector<sample> out;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (line.empty() || line.front() == '#') continue;
    std::size_t pos = 0;
    series_result s = read_series(line, pos);
    if (!s.value) continue;
    std::string_view rest = line.substr(pos);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    rest = rest.substr(0, rest.find(' '));  // a timestamp may follow
    if (std::optional<double> v = read_value(rest)) out.push_back({std::move(*s.value), *v});
  }
  return out;
}

}  // namespace qoewatch::ruletest
