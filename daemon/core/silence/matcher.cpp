#include "silence/matcher.hpp"

#include <re2/re2.h>

#include "text/utf8.hpp"

namespace qoewatch::silence {

namespace {

bool space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == '\v';
}

bool name_start(char c, bool colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}

bool name_char(char c, bool colon) {
  return name_start(c, colon) || (c >= '0' && c <= '9');
}

bool valid_name(std::string_view n, bool colon) {
  if (n.empty() || !name_start(n.front(), colon)) return false;
  for (char c : n)
    if (!name_char(c, colon)) return false;
  return true;
}

std::string quoted(std::string_view v) {
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::shared_ptr<const re2::RE2> compile(const std::string& pattern, std::string& error) {
  re2::RE2::Options o;
  o.set_log_errors(false);
  auto re = std::make_shared<const re2::RE2>(pattern, o);
  if (!re->ok()) {
    error = re->error();
    return nullptr;
  }
  return re;
}

}  // namespace

struct matcher_builder {
  static void set(matcher& m, std::shared_ptr<const re2::RE2> re) { m.anchored_ = std::move(re); }
};

std::string_view to_string(match_type t) {
  switch (t) {
    case match_type::equal:
      return "=";
    case match_type::not_equal:
      return "!=";
    case match_type::regex:
      return "=~";
    case match_type::not_regex:
      return "!~";
  }
  return "=";
}

match_type type_of(bool is_equal, bool is_regex) {
  return is_regex ? (is_equal ? match_type::regex : match_type::not_regex)
                  : (is_equal ? match_type::equal : match_type::not_equal);
}

bool is_equal(match_type t) {
  return t == match_type::equal || t == match_type::regex;
}

bool is_regex(match_type t) {
  return t == match_type::regex || t == match_type::not_regex;
}

bool matcher::matches(std::string_view v) const {
  switch (type) {
    case match_type::equal:
      return v == value;
    case match_type::not_equal:
      return v != value;
    case match_type::regex:
      return anchored_ && re2::RE2::PartialMatch(v, *anchored_);
    case match_type::not_regex:
      return !(anchored_ && re2::RE2::PartialMatch(v, *anchored_));
  }
  return false;
}

bool matcher::matches(const label_set& labels) const {
  auto it = labels.find(name);
  return matches(it == labels.end() ? std::string_view{} : std::string_view{it->second});
}

std::string matcher::text() const {
  return name + std::string(to_string(type)) + quoted(value);
}

bool matcher::same_as(const matcher& o) const {
  return name == o.name && type == o.type && value == o.value;
}

matcher_result make_matcher(std::string name, match_type type, std::string value,
                            bool allow_colon) {
  if (!valid_name(name, allow_colon)) return {{}, "invalid label name " + quoted(name)};
  matcher m;
  m.name = std::move(name);
  m.type = type;
  m.value = std::move(value);
  if (type == match_type::equal || type == match_type::not_equal) {
    if (!text::is_utf8(m.value)) return {{}, "invalid label value " + quoted(m.value)};
    return {std::move(m), {}};
  }
  // The pattern must stand on its own (Alertmanager's silences check it so), then it is
  // anchored by wrapping, as Alertmanager builds it.
  std::string error;
  if (!compile(m.value, error))
    return {{}, "invalid regular expression " + quoted(m.value) + ": " + error};
  auto anchored = compile("^(?:" + m.value + ")$", error);
  if (!anchored) return {{}, "invalid regular expression " + quoted(m.value) + ": " + error};
  matcher_builder::set(m, std::move(anchored));
  return {std::move(m), {}};
}

matcher_result parse_matcher(std::string_view text) {
  const std::string bad = "bad matcher format: " + std::string(text);
  std::size_t i = 0;
  while (i < text.size() && space(text[i])) ++i;
  const std::size_t name_at = i;
  if (i >= text.size() || !name_start(text[i], true)) return {{}, bad};
  while (i < text.size() && name_char(text[i], true)) ++i;
  const std::string_view name = text.substr(name_at, i - name_at);
  while (i < text.size() && space(text[i])) ++i;
  const std::string_view rest = text.substr(i);
  match_type type;
  if (rest.starts_with("=~")) {
    type = match_type::regex;
    i += 2;
  } else if (rest.starts_with("!=")) {
    type = match_type::not_equal;
    i += 2;
  } else if (rest.starts_with("!~")) {
    type = match_type::not_regex;
    i += 2;
  } else if (rest.starts_with("=")) {
    type = match_type::equal;
    i += 1;
  } else {
    return {{}, bad};
  }
  while (i < text.size() && space(text[i])) ++i;
  std::size_t end = text.size();
  while (end > i && space(text[end - 1])) --end;
  const std::string_view raw = text.substr(i, end - i);
  if (!text::is_utf8(raw)) return {{}, "matcher value not valid UTF-8: " + std::string(raw)};
  const std::string unescaped_quote =
      "matcher value contains unescaped double quote: " + std::string(raw);
  std::string_view inner = raw;
  if (raw.starts_with('"')) {
    if (raw.size() < 2 || raw.back() != '"') return {{}, unescaped_quote};
    inner = raw.substr(1, raw.size() - 2);
  }
  std::string value;
  for (std::size_t k = 0; k < inner.size(); ++k) {
    const char c = inner[k];
    if (c == '"') return {{}, unescaped_quote};
    if (c != '\\' || k + 1 == inner.size()) {
      value += c;
      continue;
    }
    const char next = inner[++k];
    if (next == 'n')
      value += '\n';
    else if (next == '"' || next == '\\')
      value += next;
    else {
      value += '\\';
      value += next;
    }
  }
  // A closing quote escaped by the backslash before it is no closing quote.
  if (raw.starts_with('"') && raw.size() >= 2) {
    std::size_t slashes = 0;
    for (std::size_t k = raw.size() - 1; k > 1 && raw[k - 1] == '\\'; --k) ++slashes;
    if (slashes % 2 == 1) return {{}, unescaped_quote};
  }
  return make_matcher(std::string(name), type, std::move(value), true);
}

bool all_match(const std::vector<matcher>& matchers, const label_set& labels) {
  for (const matcher& m : matchers)
    if (!m.matches(labels)) return false;
  return true;
}

bool matches_empty(const matcher& m) {
  switch (m.type) {
    case match_type::equal:
    case match_type::regex:
      return m.matches(std::string_view{});
    case match_type::not_equal:
    case match_type::not_regex:
      return false;
  }
  return false;
}

}  // namespace qoewatch::silence
