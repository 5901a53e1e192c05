#include "silence/dispatch.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <cctype>
#include <optional>

namespace qoewatch::silence {

namespace {

constexpr std::string_view prefix = "/api/v2/";

// The query's values by name, decoded ('+' is a space, as in a form).
struct query {
  std::vector<std::pair<std::string, std::string>> params;
  std::vector<std::string> all(std::string_view name) const {
    std::vector<std::string> out;
    for (const auto& [k, v] : params)
      if (k == name) out.push_back(v);
    return out;
  }
  std::optional<std::string> first(std::string_view name) const {
    for (const auto& [k, v] : params)
      if (k == name) return v;
    return std::nullopt;
  }
};

std::optional<query> parse_query(std::string_view target, std::string& path) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return std::nullopt;
  path = std::string(url->encoded_path());
  query q;
  boost::urls::encoding_opts opts;
  opts.space_as_plus = true;
  for (const auto& p : url->params(opts)) q.params.emplace_back(p.key, p.value);
  return q;
}

// A boolean parameter: absent, or not one of Go's spellings (Alertmanager 0.25 ignores those),
// takes the default.
bool flag(const query& q, std::string_view name, bool fallback) {
  std::optional<std::string> v = q.first(name);
  if (!v) return fallback;
  for (std::string_view yes : {"1", "t", "T", "TRUE", "true", "True"})
    if (*v == yes) return true;
  for (std::string_view no : {"0", "f", "F", "FALSE", "false", "False"})
    if (*v == no) return false;
  return fallback;
}

// An answer with Alertmanager's {"code", "message"} body.
api_answer coded(unsigned status, unsigned code, std::string_view message) {
  return {status,
          boost::json::serialize(boost::json::object{{"code", code}, {"message", message}}) + "\n"};
}

// Alertmanager's words: "method PUT is not allowed, but [GET,POST] are".
api_answer method_not_allowed(std::string_view method, std::string_view allowed) {
  return coded(
      405, 405,
      "method " + std::string(method) + " is not allowed, but [" + std::string(allowed) + "] are");
}

api_answer not_found(std::string_view path) {
  return coded(404, 404, "path " + std::string(path) + " was not found");
}

api_result list_silences(const query& q, const api_world& w) {
  decoded_filter f = decode_filter(q.all("filter"));
  if (f.error) return {*f.error, {}};
  std::vector<silence> out;
  for (const silence& s : *w.silences)
    if (listed_under(s, f.matchers)) out.push_back(s);
  sort_for_listing(out, w.now);
  return {{200, encode_silences(out, w.now)}, {}};
}

api_result list_alerts(const query& q, const api_world& w) {
  decoded_filter f = decode_filter(q.all("filter"));
  if (f.error) return {*f.error, {}};
  // Nothing is inhibited or unprocessed here: those two flags select nothing.
  const bool active = flag(q, "active", true), silenced = flag(q, "silenced", true);
  std::optional<matcher> receiver;
  if (std::optional<std::string> r = q.first("receiver"); r && !r->empty()) {
    matcher_result m = make_matcher("receiver", match_type::regex, *r);
    if (!m.ok) return {api_error(400, "failed to parse receiver param: " + m.error), {}};
    receiver = std::move(*m.ok);
  }
  std::vector<alert> out;
  for (alert& a : w.alerts ? w.alerts() : std::vector<alert>{}) {
    if (!all_match(f.matchers, a.labels)) continue;
    a.silenced_by = silenced_by(*w.silences, a.labels, w.now);
    const bool suppressed = a.muted || !a.silenced_by.empty();
    if (!suppressed && !active) continue;
    if (suppressed && !silenced) continue;
    if (receiver && std::none_of(a.receivers.begin(), a.receivers.end(),
                                 [&](const std::string& name) { return receiver->matches(name); }))
      continue;
    out.push_back(std::move(a));
  }
  return {{200, encode_alerts(out)}, {}};
}

api_result post_silence(std::string_view body, const api_world& w) {
  decoded_postable d = decode_postable(body);
  if (!d.ok) return {d.error, {}};
  change c = post(*w.silences, std::move(*d.ok), w.now, w.new_id);
  if (c.status != 200) return {api_error(c.status, c.error), {}};
  return {{200, encode_silence_id(c.id)}, std::move(c.write)};
}

}  // namespace

bool is_api_path(std::string_view path) {
  return path.starts_with(prefix) || path == "/api/v2";
}

api_result dispatch(const api_request& req, const api_world& w) {
  std::string path;
  std::optional<query> q = parse_query(req.target, path);
  if (!q) return {api_error(400, "the request target is not a valid URL"), {}};
  const bool get = req.method == "GET" || req.method == "HEAD";
  const std::string_view rest = std::string_view(path).substr(std::min(path.size(), prefix.size()));
  if (rest == "status") {
    if (!get) return {method_not_allowed(req.method, "GET"), {}};
    return {{200, encode_status(w.version, w.started_at)}, {}};
  }
  if (rest == "silences") {
    if (get) return list_silences(*q, w);
    if (req.method == "POST") return post_silence(req.body, w);
    return {method_not_allowed(req.method, "GET,POST"), {}};
  }
  if (rest.starts_with("silence/")) {
    // Ids are stored in lower case; Alertmanager reads a UUID in any case.
    std::string lowered(rest.substr(8));
    for (char& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const std::string_view id = lowered;
    if (id.empty() || id.find('/') != std::string_view::npos) return {not_found(path), {}};
    if (!is_uuid(id))
      return {
          coded(422, 601, "silenceID in path must be of type uuid: \"" + std::string(id) + "\""),
          {}};
    if (get) {
      for (const silence& s : *w.silences)
        if (s.id == id) return {{200, encode_silence(s, w.now)}, {}};
      return {{404, ""}, {}};
    }
    if (req.method == "DELETE") {
      change c = expire(*w.silences, id, w.now);
      if (c.status != 200) return {api_error(c.status, c.error), {}};
      return {{200, ""}, std::move(c.write)};
    }
    return {method_not_allowed(req.method, "GET,DELETE"), {}};
  }
  if (rest == "alerts") {
    if (get) return list_alerts(*q, w);
    return {method_not_allowed(req.method, "GET"), {}};
  }
  return {not_found(path), {}};
}

}  // namespace qoewatch::silence
