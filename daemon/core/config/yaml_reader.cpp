#include "config/yaml_reader.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "config/common.hpp"
#include "rules/expr.hpp"

namespace qoewatch::config::yaml {

namespace fs = std::filesystem;

std::optional<YAML::Node> parse(std::string_view text, const std::string& file,
                                std::vector<diagnostic>& errors) {
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    diagnostic d;
    d.file = file;
    if (!e.mark.is_null()) {
      d.line = e.mark.line + 1;
      d.column = e.mark.column + 1;
    }
    d.message = "not valid YAML: " + e.msg;
    errors.push_back(std::move(d));
    return std::nullopt;
  }
}

node::node(const document& doc, YAML::Node value, std::string path)
    : doc_(&doc), value_(std::move(value)), path_(std::move(path)) {}

YAML::Mark node::mark() const {
  // An absent key's node has no position (and yaml-cpp throws when asked for it).
  return value_.IsDefined() ? value_.Mark() : YAML::Mark::null_mark();
}

source_location node::where() const {
  YAML::Mark m = mark();
  return {doc_->file, m.line + 1, m.column + 1};
}

node node::operator[](std::string_view key) const {
  return node(*doc_, value_[std::string(key)], key_path(path_, key));
}

node node::at(std::size_t i) const {
  return node(*doc_, value_[i], index_path(path_, i));
}

void node::for_each_entry(
    const std::function<void(const std::string&, const node&, const node&)>& f) const {
  for (auto it = value_.begin(); it != value_.end(); ++it) {
    const std::string name = it->first.Scalar();
    const std::string p = key_path(path_, name);
    f(name, node(*doc_, it->first, p), node(*doc_, it->second, p));
  }
}

void node::report(const YAML::Mark& at, std::string path, std::string message) const {
  diagnostic d;
  d.file = doc_->file;
  if (!at.is_null()) {
    d.line = at.line + 1;
    d.column = at.column + 1;
  }
  d.path = std::move(path);
  d.message = std::move(message);
  doc_->errors->push_back(std::move(d));
}

void node::error(std::string message) const {
  report(mark(), path_, std::move(message));
}

void node::error(std::string path, std::string message) const {
  report(mark(), std::move(path), std::move(message));
}

void node::error_at(std::size_t offset, std::string message) const {
  YAML::Mark m = mark();
  if (!m.is_null()) {
    // yaml-cpp tags quoted scalars "!": skip the opening quote.
    int quote = value_.Tag() == "!" ? 1 : 0;
    m.column += quote + static_cast<int>(offset);
  }
  report(m, path_, std::move(message));
}

void node::missing(std::string_view key, std::string message) const {
  report(mark(), key_path(path_, key), std::move(message));
}

bool node::check_map(
    const std::vector<std::string_view>& known, std::string_view what,
    const std::function<std::optional<std::string>(const std::string& key)>& explain) const {
  if (!value_.IsMap()) {
    error("must be a mapping (" + std::string(what) + ")");
    return false;
  }
  for (auto it = value_.begin(); it != value_.end(); ++it) {
    std::string key = it->first.Scalar();
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    const node k(*doc_, it->first, key_path(path_, key));
    if (std::optional<std::string> why = explain ? explain(key) : std::nullopt) {
      k.error(std::move(*why));
      continue;
    }
    std::string near = nearest(key, known);
    k.error("unknown key" + (near.empty() ? " (valid keys: " + join_list(known) + ")"
                                          : " (did you mean " + in_quotes(near) + "?)"));
  }
  return true;
}

std::optional<std::string> node::text(bool allow_empty) const {
  if (!value_.IsScalar()) {
    error(value_.IsNull() ? "has no value" : "must be a string");
    return std::nullopt;
  }
  if (!allow_empty && value_.Scalar().empty()) {
    error("must not be empty");
    return std::nullopt;
  }
  return value_.Scalar();
}

std::optional<bool> node::boolean() const {
  const std::string s = value_.IsScalar() ? value_.Scalar() : std::string{};
  if (s == "true") return true;
  if (s == "false") return false;
  error(value_.IsScalar() ? in_quotes(s) + " is not true or false" : "must be true or false");
  return std::nullopt;
}

std::optional<duration> node::duration_value(bool allow_zero) const {
  if (!value_.IsScalar()) {
    error("must be a duration (use 30s, 5m, 1h)");
    return std::nullopt;
  }
  std::optional<duration> d = parse_duration(value_.Scalar());
  if (!d) {
    error(in_quotes(value_.Scalar()) + " is not a duration (use 30s, 5m, 1h)");
    return std::nullopt;
  }
  if (!allow_zero && d->count() == 0) {
    error("must be longer than 0s");
    return std::nullopt;
  }
  return d;
}

std::optional<std::int64_t> node::whole_number(std::int64_t lo, std::int64_t hi,
                                               std::string_view what) const {
  std::string hint =
      "(" + std::string(what) + ", " + std::to_string(lo) + " to " + std::to_string(hi) + ")";
  if (!value_.IsScalar()) {
    error("must be a whole number " + hint);
    return std::nullopt;
  }
  const std::string& s = value_.Scalar();
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || ptr != s.data() + s.size()) {
    error(in_quotes(s) + " is not a whole number " + hint);
    return std::nullopt;
  }
  if (v < lo || v > hi) {
    error(std::to_string(v) + " is out of range " + hint);
    return std::nullopt;
  }
  return v;
}

std::optional<double> node::number(double lo, double hi, std::string_view what) const {
  std::string hint = "(" + std::string(what) + ", " + rules::format_number(lo) + " to " +
                     rules::format_number(hi) + ")";
  double v = 0;
  const std::string s = value_.IsScalar() ? value_.Scalar() : std::string{};
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (!value_.IsScalar() || s.empty() || ec != std::errc{} || ptr != s.data() + s.size() ||
      !std::isfinite(v)) {
    error((s.empty() ? std::string("must be a number ") : in_quotes(s) + " is not a number ") +
          hint);
    return std::nullopt;
  }
  if (v < lo || v > hi) {
    error(rules::format_number(v) + " is out of range " + hint);
    return std::nullopt;
  }
  return v;
}

std::optional<std::uint64_t> node::byte_size() const {
  const std::string hint = " (use 67108864, 512KiB, 64MiB or 1GiB)";
  if (!value_.IsScalar()) {
    error("must be a size" + hint);
    return std::nullopt;
  }
  const std::string& s = value_.Scalar();
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  std::string_view unit(ptr, static_cast<std::size_t>(s.data() + s.size() - ptr));
  std::uint64_t scale = unit.empty()    ? 1
                        : unit == "KiB" ? 1ull << 10
                        : unit == "MiB" ? 1ull << 20
                        : unit == "GiB" ? 1ull << 30
                                        : 0;
  if (s.empty() || ec != std::errc{} || scale == 0 || v == 0 || v > (1ull << 40) / scale) {
    error(in_quotes(s) + " is not a size" + hint);
    return std::nullopt;
  }
  return v * scale;
}

std::optional<std::vector<std::pair<std::string, node>>> node::string_list(
    std::string_view example) const {
  if (!value_.IsSequence()) {
    error("must be a list (write " + std::string(example) + ")");
    return std::nullopt;
  }
  std::vector<std::pair<std::string, node>> out;
  bool ok = true;
  for (std::size_t i = 0; i < size(); ++i) {
    node item = at(i);
    if (std::optional<std::string> s = item.text())
      out.emplace_back(*s, std::move(item));
    else
      ok = false;
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::string> node::http_url() const {
  std::optional<std::string> s = text();
  if (!s) return std::nullopt;
  if (std::optional<std::string> problem = url_problem(*s, in_quotes(*s))) {
    error(*problem);
    return std::nullopt;
  }
  return s;
}

std::optional<std::string> node::local_path() const {
  std::optional<std::string> s = text();
  if (!s) return std::nullopt;
  fs::path p(*s);
  return p.is_absolute() ? p.string() : (doc_->dir / p).lexically_normal().string();
}

std::optional<std::string> node::secret_path() const {
  std::optional<std::string> s = text();
  if (!s || s->starts_with(credentials_prefix)) return s;
  fs::path p(*s);
  return p.is_absolute() ? p.string() : (doc_->dir / p).lexically_normal().string();
}

}  // namespace qoewatch::config::yaml
