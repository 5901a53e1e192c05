#include "fetch/page.hpp"

#include <algorithm>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <charconv>
#include <cmath>

#include "rules/expr.hpp"

namespace qoewatch::fetch {

std::string_view to_string(skip_reason r) {
  switch (r) {
    case skip_reason::not_an_object:
      return "not_an_object";
    case skip_reason::no_sessionid:
      return "no_sessionid";
    case skip_reason::bad_endtime:
      return "bad_endtime";
    case skip_reason::missing_metric:
      return "missing_metric";
    case skip_reason::not_a_number:
      return "not_a_number";
  }
  return "unknown";
}

row_schema schema_for(const config::rule_config& rule) {
  row_schema s;
  s.metrics = rules::metrics_of(rule.condition);
  for (const std::string& f : rule.fields)
    if (std::find(s.metrics.begin(), s.metrics.end(), f) == s.metrics.end()) s.fields.push_back(f);
  return s;
}

std::optional<double> to_number(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return std::nullopt;
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || ptr != text.data() + text.size() || !std::isfinite(v))
    return std::nullopt;
  return v;
}

namespace {

namespace json = boost::json;

// A JSON value as a number: numbers and numeric strings count; everything else does not.
std::optional<double> number_of(const json::value& v) {
  switch (v.kind()) {
    case json::kind::double_: {
      double d = v.get_double();
      return std::isfinite(d) ? std::optional<double>(d) : std::nullopt;
    }
    case json::kind::int64:
      return static_cast<double>(v.get_int64());
    case json::kind::uint64:
      return static_cast<double>(v.get_uint64());
    case json::kind::string:
      return to_number(v.get_string());
    default:
      return std::nullopt;
  }
}

// A JSON value as report text: strings as they are, numbers printed, nothing for null.
std::string text_of(const json::value& v) {
  switch (v.kind()) {
    case json::kind::string:
      return std::string(v.get_string());
    case json::kind::int64:
      return std::to_string(v.get_int64());
    case json::kind::uint64:
      return std::to_string(v.get_uint64());
    case json::kind::double_:
      return rules::format_number(v.get_double());
    case json::kind::bool_:
      return v.get_bool() ? "true" : "false";
    default:
      return {};
  }
}

}  // namespace

page_result parse_page(std::string_view body, const row_schema& schema) {
  page_result r;
  boost::system::error_code ec;
  // The document lives for this call only: it is built in an arena (one buffer per thread,
  // reused page after page), not with an allocation and a free per value: malloc/free were
  // the biggest cost of a poll. The buffer stops growing at 4 MiB; a larger page takes the
  // rest from the heap for this call only, so one huge answer does not stay in the RSS.
  constexpr std::size_t kept_at_most = 4u << 20;
  thread_local std::vector<unsigned char> buffer;
  const std::size_t wanted = std::min(body.size() * 2 + 4096, kept_at_most);
  if (buffer.size() < wanted) buffer.resize(wanted);
  json::monotonic_resource arena(buffer.data(), buffer.size());
  json::value doc = json::parse(body, ec, &arena);
  if (ec) {
    r.error = "response is not JSON: " + ec.message();
    return r;
  }
  const json::object* top = doc.if_object();
  if (top == nullptr) {
    r.error = "response is not a JSON object";
    return r;
  }
  const json::value* list = top->if_contains("response");
  if (list == nullptr || !list->is_array()) {
    r.error = "response has no \"response\" array";
    return r;
  }
  page p;
  const json::array& rows = list->get_array();
  p.rows_in_page = rows.size();
  p.rows.reserve(rows.size());
  auto skip = [&p](skip_reason why) { ++p.skipped[static_cast<std::size_t>(why)]; };
  for (const json::value& item : rows) {
    const json::object* o = item.if_object();
    if (o == nullptr) {
      skip(skip_reason::not_an_object);
      continue;
    }
    session_row row;
    const json::value* id = o->if_contains("sessionid");
    if (id != nullptr) row.sessionid = text_of(*id);
    if (row.sessionid.empty()) {
      skip(skip_reason::no_sessionid);
      continue;
    }
    const json::value* end = o->if_contains("endtime");
    std::optional<double> endtime = end ? number_of(*end) : std::nullopt;
    if (!endtime) {
      skip(skip_reason::bad_endtime);
      continue;
    }
    row.endtime = *endtime;
    row.metrics.reserve(schema.metrics.size());
    std::optional<skip_reason> bad;
    for (const std::string& m : schema.metrics) {
      const json::value* v = o->if_contains(m);
      if (v == nullptr || v->is_null()) {
        bad = skip_reason::missing_metric;
        break;
      }
      std::optional<double> n = number_of(*v);
      if (!n) {
        bad = skip_reason::not_a_number;
        break;
      }
      row.metrics.push_back(*n);
    }
    if (bad) {
      skip(*bad);
      continue;
    }
    row.fields.reserve(schema.fields.size());
    for (const std::string& f : schema.fields) {
      const json::value* v = o->if_contains(f);
      row.fields.push_back(v ? text_of(*v) : std::string{});
    }
    p.rows.push_back(std::move(row));
  }
  r.value = std::move(p);
  return r;
}

}  // namespace qoewatch::fetch
