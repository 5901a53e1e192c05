#include "fetch/query.hpp"

#include <algorithm>

#include "duration.hpp"
#include "fetch/page.hpp"
#include "rules/expr.hpp"
#include "schedule/schedule.hpp"

namespace qoewatch::fetch {

window window_at(const config::rule_config& rule, std::chrono::system_clock::time_point now) {
  window w;
  w.end = schedule::aligned_end(rule, now);
  w.start = w.end - whole_seconds(rule.window);
  return w;
}

catchup window_after(const config::rule_config& rule, std::chrono::system_clock::time_point now,
                     std::optional<std::int64_t> checkpoint, duration max_catchup) {
  catchup c{window_at(rule, now), 0};
  if (!checkpoint || *checkpoint >= c.w.start) return c;
  std::int64_t reach = whole_seconds(max_catchup);
  std::int64_t earliest = std::min(c.w.end - reach, c.w.start);
  c.w.start = std::max(*checkpoint, earliest);
  c.skipped_seconds = c.w.start - *checkpoint;
  std::int64_t slice = std::max<std::int64_t>(1, whole_seconds(rule.window));
  // A poll a second late (interval == window) is not an outage: slice only beyond an interval.
  if (c.w.end - c.w.start > slice + whole_seconds(rule.interval)) {
    // At most one window long, and ending on the grid like every window (the config keeps
    // the window at least one interval long, so the grid has an end after the start).
    c.w.end = schedule::on_grid(rule, std::chrono::seconds(c.w.start + slice));
    if (c.w.end <= c.w.start) c.w.end = c.w.start + slice;
    c.behind = true;
  }
  return c;
}

std::vector<std::string> requested_metrics(const config::rule_config& rule) {
  const row_schema schema = schema_for(rule);
  std::vector<std::string> out = schema.metrics;
  auto add = [&out](const std::string& name) {
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  };
  add("sessionid");
  add("starttime");
  add("endtime");
  for (const std::string& f : schema.fields) add(f);
  return out;
}

std::string too_many_pages(std::size_t max_pages, int page_size) {
  return "window holds more than " + std::to_string(max_pages) + " pages of " +
         std::to_string(page_size) + " sessions (raise smartsight.max_pages or narrow the rule)";
}

std::string percent_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
}

namespace {
// The path part of base_url ("" for "https://host", "/proxy" for "https://host/proxy").
std::string_view base_path(std::string_view base_url) {
  std::size_t scheme = base_url.find("://");
  std::size_t slash = base_url.find('/', scheme == std::string_view::npos ? 0 : scheme + 3);
  return slash == std::string_view::npos ? std::string_view{} : base_url.substr(slash);
}
std::string_view origin(std::string_view base_url) {
  return base_url.substr(0, base_url.size() - base_path(base_url).size());
}
}  // namespace

listsessions_query::listsessions_query(const config::smartsight_config& api,
                                       const config::rule_config& rule)
    : origin_(origin(api.base_url)) {
  std::string metrics;
  for (const std::string& m : requested_metrics(rule)) {
    if (!metrics.empty()) metrics += ',';
    metrics += m;
  }
  head_ = std::string(base_path(api.base_url)) + "/mm-apis/listsessions/" +
          std::to_string(api.customer_id) + "?period=";
  auto param = [this](std::string_view name, std::string_view value) {
    middle_ += '&';
    middle_ += name;
    middle_ += '=';
    middle_ += percent_encode(value);
  };
  param("metrics", metrics);
  param("aggby", "sessionid");
  param("sessiontype", "ended");
  if (!rule.filter_text.empty()) param("filter", rule.filter_text);
  // A population rule judges every row itself: a qoefilter would remove the denominator.
  if (rule.has_qoefilter() && !rule.population()) {
    std::string server_filter = rules::server_side_filter(rule.condition);
    if (!server_filter.empty()) param("qoefilter", server_filter);
  }
  param("limit", std::to_string(api.page_size));
  middle_ += "&offset=";
}

std::string listsessions_query::target(window w, std::int64_t offset) const {
  // "start=S,end=E", percent-encoded: '=' is %3D and ',' is %2C; the digits stay as they are.
  std::string t = head_;
  t += "start%3D";
  t += std::to_string(w.start);
  t += "%2Cend%3D";
  t += std::to_string(w.end);
  t += middle_;
  t += std::to_string(offset);
  return t;
}

std::string listsessions_query::url(window w, std::int64_t offset) const {
  return origin_ + target(w, offset);
}

std::string listsessions_target(const config::smartsight_config& api,
                                const config::rule_config& rule, window w, std::int64_t offset) {
  return listsessions_query(api, rule).target(w, offset);
}

std::string listsessions_url(const config::smartsight_config& api, const config::rule_config& rule,
                             window w, std::int64_t offset) {
  return listsessions_query(api, rule).url(w, offset);
}

}  // namespace qoewatch::fetch
