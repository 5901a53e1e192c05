#include "core/sim_api.hpp"

#include <charconv>
#include <cmath>

#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "core/json_text.hpp"

namespace qoewatch::sim {

namespace {

constexpr std::string_view listsessions_prefix = "/mm-apis/listsessions/";

api_response error(unsigned status, std::string_view message) {
  api_response r;
  r.status = status;
  r.body = error_body(message);
  return r;
}

api_response method_not_allowed(std::string_view allow) {
  api_response r = error(405, "method not allowed (use " + std::string(allow) + ")");
  r.allow = allow;
  return r;
}

// Constant-time comparison so response timing does not reveal how much of a key matched.
bool same_key(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

// Epoch seconds from an integer, a number (floored) or a numeric string.
std::optional<std::int64_t> epoch_of(const boost::json::value& v) {
  constexpr double limit = 9.0e15;
  auto from_double = [](double d) -> std::optional<std::int64_t> {
    if (!std::isfinite(d) || d < -limit || d > limit) return std::nullopt;
    return static_cast<std::int64_t>(std::floor(d));
  };
  switch (v.kind()) {
    case boost::json::kind::int64:
      return v.get_int64();
    case boost::json::kind::uint64:
      if (v.get_uint64() > static_cast<std::uint64_t>(limit)) return std::nullopt;
      return static_cast<std::int64_t>(v.get_uint64());
    case boost::json::kind::double_:
      return from_double(v.get_double());
    case boost::json::kind::string: {
      std::string_view s = v.get_string();
      double d = 0;
      auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
      if (s.empty() || ec != std::errc{} || ptr != s.data() + s.size()) return std::nullopt;
      return from_double(d);
    }
    default:
      return std::nullopt;
  }
}

// Percent-encodes bytes RFC 3986 does not allow in a path or query ('[', ']', '|', '"',
// spaces, non-ASCII, ...) so that targets sent by lenient clients still parse, as they would
// on most web servers. '%' is kept, so a broken escape like "%zz" stays an error.
std::string tolerant_target(std::string_view target) {
  static constexpr std::string_view allowed =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/?%";
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(target.size());
  for (char c : target) {
    if (allowed.find(c) != std::string_view::npos) {
      out += c;
    } else {
      auto u = static_cast<unsigned char>(c);
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 0xf];
    }
  }
  return out;
}

boost::json::object counts_json(const status_counts& c) {
  boost::json::object by;
  for (const auto& [status, n] : c.by_status) by[std::to_string(status)] = n;
  return {{"total", c.total}, {"by_status", std::move(by)}};
}

}  // namespace

std::string error_body(std::string_view message) {
  return to_json_text(boost::json::object{{"error", message}});
}

sim_api::sim_api(api_config config, session_store store)
    : config_(std::move(config)), store_(std::move(store)), faults_(config_.fault_seed) {
  if (config_.cache_pages) cache_ = std::make_unique<page_cache>();
}

api_response sim_api::handle(const api_request& req, std::int64_t now) {
  bool counted = true;
  api_response r;
  try {
    store_.advance(now);
    r = route(req, now, counted);
  } catch (const std::exception& e) {
    // Only allocation failure can get here; answer rather than drop the connection.
    r = error(500, std::string("internal error: ") + e.what());
  }
  if (counted) all_.add(r.status);
  return r;
}

api_response sim_api::route(const api_request& req, std::int64_t now, bool& counted) {
  if (!req.api_key) return error(401, "missing X-API-Key header");
  if (!same_key(*req.api_key, config_.api_key)) return error(401, "invalid API key");

  const std::string target = tolerant_target(req.target);
  boost::system::result<boost::urls::url_view> url = boost::urls::parse_origin_form(target);
  if (!url) return error(400, "malformed request target");
  const std::string path = url->path();

  if (path.starts_with(listsessions_prefix)) {
    std::string_view id = std::string_view(path).substr(listsessions_prefix.size());
    if (id != config_.customer_id)
      return error(404, "unknown customer id \"" + std::string(id) + "\"");
    if (req.method != "GET") {
      api_response r = method_not_allowed("GET");
      listsessions_.add(r.status);
      return r;
    }
    api_response r = listsessions(*url, now);
    listsessions_.add(r.status);
    return r;
  }
  if (path == "/_sim/faults") return faults(req);
  if (path == "/_sim/sessions") {
    if (req.method == "POST") return add_sessions(req.body);
    if (req.method == "DELETE") {
      std::size_t removed = store_.generated().size() + store_.control().size();
      store_.clear();
      api_response r;
      r.body = to_json_text(boost::json::object{{"removed", removed}, {"generating", false}});
      return r;
    }
    return method_not_allowed("POST, DELETE");
  }
  if (path == "/_sim/stats") {
    counted = false;
    if (req.method == "GET") return stats_body();
    if (req.method == "DELETE") {
      all_ = {};
      listsessions_ = {};
      return stats_body();
    }
    return method_not_allowed("GET, DELETE");
  }
  return error(404, "no such resource: " + path);
}

api_response sim_api::listsessions(const boost::urls::url_view& url, std::int64_t now) {
  const std::optional<fault_kind> fault = faults_.draw();
  if (fault == fault_kind::server_error) {
    api_response r = error(faults_.server_error_status(), "injected fault: server error");
    r.fault = to_string(*fault);
    return r;
  }
  if (fault == fault_kind::throttle) {
    api_response r = error(429, "injected fault: too many requests");
    r.retry_after = faults_.plan().retry_after_seconds;
    r.fault = to_string(*fault);
    return r;
  }
  query_params params;
  // '+' is a space in query values (form encoding), as browsers and curl send it.
  for (const boost::urls::param& p : url.params(boost::urls::encoding_opts(true)))
    params.emplace_back(p.key, p.value);
  api_response r;
  if (cache_) {
    page_answer a = cache_->answer(params, store_, now, config_.query);
    r.status = a.status;
    r.body = std::move(a.body);
    r.rows = a.rows;
  } else {
    query_result q = handle_listsessions(params, store_, now, config_.query);
    r.status = q.status;
    r.body = to_json_text(q.body);
    if (q.status == 200) r.rows = q.body.at("response").as_array().size();
  }
  if (!fault || r.status != 200) return r;
  r.fault = to_string(*fault);
  if (*fault == fault_kind::slow)
    r.delay_ms = faults_.plan().slow_ms;
  else if (*fault == fault_kind::reset)
    r.reset = true;
  else if (*fault == fault_kind::oversized)
    r.oversized_bytes = std::max<std::int64_t>(faults_.plan().oversized_bytes,
                                               static_cast<std::int64_t>(r.body.size()));
  else if (*fault == fault_kind::endless)
    r.endless = true;
  else if (*fault == fault_kind::trickle)
    r.trickle_ms = faults_.plan().trickle_ms;
  else if (*fault == fault_kind::huge_header)
    r.huge_header = true;
  else
    r.body = faults_.corrupt(*fault, std::move(r.body));
  return r;
}

api_response sim_api::faults(const api_request& req) {
  if (req.method == "PUT") {
    auto plan = parse_fault_plan(req.body);
    if (auto* why = std::get_if<std::string>(&plan)) return error(400, "fault plan: " + *why);
    faults_.set(std::get<fault_plan>(plan));
  } else if (req.method == "DELETE") {
    faults_.clear();
  } else if (req.method != "GET") {
    return method_not_allowed("GET, PUT, DELETE");
  }
  api_response r;
  r.body = describe(faults_.plan(), faults_.injected());
  return r;
}

api_response sim_api::add_sessions(std::string_view body) {
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(body, ec);
  if (ec) return error(400, "body: not JSON (" + ec.message() + ")");
  if (!doc.is_array()) return error(400, "body: expected a JSON array of session objects");
  std::vector<control_session> sessions;
  sessions.reserve(doc.as_array().size());
  std::size_t i = 0;
  for (boost::json::value& v : doc.as_array()) {
    std::string where = "sessions[" + std::to_string(i++) + "]";
    if (!v.is_object()) return error(400, where + ": expected an object");
    boost::json::object& o = v.as_object();
    control_session s;
    const boost::json::value* id = o.if_contains("sessionid");
    if (!id || !id->is_string() || id->get_string().empty())
      return error(400, where + ".sessionid: required, a non-empty string");
    s.sessionid = std::string(id->get_string());
    const boost::json::value* end = o.if_contains("endtime");
    if (!end) return error(400, where + ".endtime: required (epoch seconds)");
    std::optional<std::int64_t> e = epoch_of(*end);
    if (!e) return error(400, where + ".endtime: not a number of epoch seconds");
    s.endtime = *e;
    s.starttime = s.endtime - 60;
    if (const boost::json::value* start = o.if_contains("starttime")) {
      std::optional<std::int64_t> st = epoch_of(*start);
      if (!st) return error(400, where + ".starttime: not a number of epoch seconds");
      s.starttime = *st;
    }
    s.fields = std::move(o);
    sessions.push_back(std::move(s));
  }
  if (store_.control().size() + sessions.size() > config_.max_control_sessions)
    return error(400, "body: more than " + std::to_string(config_.max_control_sessions) +
                          " control sessions in total");
  const std::size_t added = sessions.size();
  store_.add_control(std::move(sessions));
  api_response r;
  r.body = to_json_text(
      boost::json::object{{"added", added}, {"control_sessions", store_.control().size()}});
  return r;
}

api_response sim_api::stats_body() const {
  boost::json::object o = counts_json(all_);
  o["listsessions"] = counts_json(listsessions_);
  o["sessions"] = boost::json::object{{"generated", store_.generated().size()},
                                      {"control", store_.control().size()},
                                      {"generating", store_.generating()}};
  if (cache_)
    o["page_cache"] = boost::json::object{
        {"hits", cache_->hits()}, {"misses", cache_->misses()}, {"bytes", cache_->bytes()}};
  api_response r;
  r.body = to_json_text(o);
  return r;
}

}  // namespace qoewatch::sim
