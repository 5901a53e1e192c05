#include "core/query.hpp"

#include <algorithm>
#include <limits>
#include <memory>
#include <optional>
#include <string_view>
#include <variant>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "core/filter_eval.hpp"
#include "core/json_text.hpp"

namespace qoewatch::sim {

namespace {

struct parsed_query {
  std::int64_t start = 0;
  std::int64_t end = 0;
  std::vector<std::string> metrics;
  bool started = false;
  bool allstatus = false;
  std::optional<dimension_match> filter;   // absent or without groups: every row
  std::optional<qoe_condition> qoefilter;  // absent: every row
  std::string orderby;
  bool ascending = false;
  std::int64_t limit = default_limit;
  std::int64_t offset = 0;
};

// Digits only (no sign, no spaces), at most 18 of them so the value fits comfortably.
std::optional<std::int64_t> parse_uint(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

// The value as it appears in an error message: quoted, long values shortened.
std::string quoted(std::string_view v) {
  constexpr std::size_t max = 120;
  if (v.size() > max) return "\"" + std::string(v.substr(0, max)) + "...\"";
  return "\"" + std::string(v) + "\"";
}

std::string_view trim_spaces(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// Fills `q` from the parameters; returns the error message for a 400, or empty.
std::string parse_query(const query_params& params, parsed_query& q) {
  static constexpr std::string_view known[] = {
      "period",  "metrics", "aggby", "sessiontype", "allstatus",   "filter",       "qoefilter",
      "orderby", "order",   "limit", "offset",      "concurrency", "businesserror"};
  std::vector<std::string_view> seen;
  const std::string* period = nullptr;
  const std::string* metrics = nullptr;
  for (const auto& [key, value] : params) {
    if (std::find(std::begin(known), std::end(known), key) == std::end(known)) continue;
    if (std::find(seen.begin(), seen.end(), key) != seen.end())
      return key + ": given more than once";
    seen.push_back(key);
    if (key == "period") {
      period = &value;
    } else if (key == "metrics") {
      metrics = &value;
    } else if (key == "aggby") {
      if (value != "sessionid") return "aggby: must be sessionid, not " + quoted(value);
    } else if (key == "sessiontype") {
      if (value != "ended" && value != "started")
        return "sessiontype: must be ended or started, not " + quoted(value);
      q.started = value == "started";
    } else if (key == "allstatus") {
      if (value != "0" && value != "1") return "allstatus: must be 0 or 1, not " + quoted(value);
      q.allstatus = value == "1";
    } else if (key == "filter") {
      auto f = dimension_match::compile(value);
      if (const filter_error* e = std::get_if<filter_error>(&f))
        return "filter: column " + std::to_string(e->column) + ": " + e->message + " in " +
               quoted(value);
      q.filter = std::move(std::get<dimension_match>(f));
    } else if (key == "qoefilter") {
      // An empty condition means no condition, as if the parameter were absent.
      if (trim_spaces(value).empty()) continue;
      auto c = qoe_condition::compile(value);
      if (const filter_error* e = std::get_if<filter_error>(&c))
        return "qoefilter: column " + std::to_string(e->column) + ": " + e->message + " in " +
               quoted(value);
      q.qoefilter = std::move(std::get<qoe_condition>(c));
    } else if (key == "orderby") {
      if (!is_field_name(value)) return "orderby: " + quoted(value) + " is not a field name";
      q.orderby = value;
    } else if (key == "order") {
      if (value != "asc" && value != "desc")
        return "order: must be asc or desc, not " + quoted(value);
      q.ascending = value == "asc";
    } else if (key == "limit") {
      std::optional<std::int64_t> n = parse_uint(value);
      if (!n || *n < 1 || *n > max_limit)
        return "limit: must be an integer from 1 to " + std::to_string(max_limit) + ", not " +
               quoted(value);
      q.limit = *n;
    } else if (key == "offset") {
      std::optional<std::int64_t> n = parse_uint(value);
      if (!n) return "offset: must be an integer >= 0, not " + quoted(value);
      q.offset = *n;
    } else if (key == "concurrency") {
      if (value != "0" && value != "1") return "concurrency: must be 0 or 1, not " + quoted(value);
    } else if (key == "businesserror") {
      if (value != "true" && value != "false" && value != "0" && value != "1")
        return "businesserror: must be true or false, not " + quoted(value);
    }
  }

  if (!period) return "period: required (start=<epoch seconds>,end=<epoch seconds>)";
  {
    std::optional<std::int64_t> start, end;
    std::string_view rest = *period;
    bool ok = true;
    int parts = 0;
    while (ok && !rest.empty()) {
      std::size_t comma = rest.find(',');
      std::string_view part = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      if (comma != std::string_view::npos && rest.empty()) ok = false;
      ++parts;
      std::size_t eq = part.find('=');
      if (eq == std::string_view::npos) {
        ok = false;
        break;
      }
      std::string_view name = part.substr(0, eq);
      std::optional<std::int64_t> v = parse_uint(part.substr(eq + 1));
      if (!v || (name != "start" && name != "end")) ok = false;
      std::optional<std::int64_t>& slot = name == "start" ? start : end;
      if (slot) ok = false;
      slot = v;
    }
    if (!ok || parts != 2 || !start || !end)
      return "period: " + quoted(*period) + " is not start=<epoch seconds>,end=<epoch seconds>";
    if (*start > *end)
      return "period: start " + std::to_string(*start) + " is after end " + std::to_string(*end);
    q.start = *start;
    q.end = *end;
  }

  if (!metrics || metrics->empty())
    return "metrics: required (a comma list of fields such as latency,sessionid,endtime)";
  {
    std::string_view rest = *metrics;
    for (;;) {
      std::size_t comma = rest.find(',');
      std::string_view name = trim_spaces(rest.substr(0, comma));
      if (name.empty()) return "metrics: empty field name in " + quoted(*metrics);
      if (!is_field_name(name))
        return "metrics: " + quoted(name) + " is not a field name (in " + quoted(*metrics) + ")";
      if (std::find(q.metrics.begin(), q.metrics.end(), name) == q.metrics.end())
        q.metrics.emplace_back(name);
      if (comma == std::string_view::npos) break;
      rest = rest.substr(comma + 1);
    }
  }
  if (q.orderby.empty()) q.orderby = q.metrics.front();
  return {};
}

// One selected session of either kind.
struct candidate {
  const generated_session* g = nullptr;
  const control_session* c = nullptr;
  field get(std::string_view name, std::int64_t now) const {
    return g ? get_field(*g, name, now) : get_field(*c, name, now);
  }
};

// A candidate with its sort key computed once.
struct keyed {
  candidate cand;
  int rank = 2;  // 0: number, 1: text, 2: missing
  double number = 0;
  std::string text;
  std::string id;
};

// One row's values of the names the filters read, in their slots; kept across rows so a
// scan does not allocate per row.
struct row_values {
  std::vector<field> held;  // the dimension fields, alive while their text is viewed
  std::vector<std::string> scratch;
  std::vector<std::optional<std::string_view>> dimensions;
  std::vector<std::optional<double>> metrics;

  explicit row_values(const parsed_query& q) {
    const std::size_t dims = q.filter ? q.filter->names().size() : 0;
    held.resize(dims);
    scratch.resize(dims);
    dimensions.resize(dims);
    metrics.resize(q.qoefilter ? q.qoefilter->names().size() : 0);
  }
};

template <class Session>
void select(const Session& s, candidate cand, const parsed_query& q, std::int64_t now,
            row_values& row, std::vector<candidate>& out) {
  session_status st = status_at(s.starttime, s.endtime, now);
  if (st == session_status::pending) return;
  if (st == session_status::running && !q.allstatus) return;
  std::int64_t t = q.started ? s.starttime : s.endtime;
  if (t < q.start || t > q.end) return;
  if (q.filter && !q.filter->empty()) {
    const std::vector<std::string>& names = q.filter->names();
    for (std::size_t i = 0; i < names.size(); ++i) {
      row.held[i] = cand.get(names[i], now);
      row.dimensions[i] = text_of(row.held[i], row.scratch[i]);
    }
    if (!q.filter->accepts(row.dimensions)) return;
  }
  if (q.qoefilter) {
    const std::vector<std::string>& names = q.qoefilter->names();
    for (std::size_t i = 0; i < names.size(); ++i)
      row.metrics[i] = number_of(cand.get(names[i], now));
    // A row lacking a metric the condition reads cannot be judged: it is left out.
    if (q.qoefilter->judge(row.metrics) != qoe_condition::verdict::match) return;
  }
  out.push_back(cand);
}

// Parses the parameters and applies --require-listed-fields; returns the 400 message or empty.
std::string validate(const query_params& params, const query_options& options, parsed_query& q) {
  std::string error = parse_query(params, q);
  if (error.empty() && options.require_listed_fields) {
    auto listed = [&q](std::string_view n) {
      return std::find(q.metrics.begin(), q.metrics.end(), n) != q.metrics.end();
    };
    if (q.qoefilter)
      for (const std::string& m : q.qoefilter->names())
        if (!listed(m))
          error = "qoefilter: " + m + " is not in metrics (list every field it reads)";
    if (error.empty() && !listed(q.orderby)) error = "orderby: " + q.orderby + " is not in metrics";
  }
  return error;
}

std::vector<candidate> select_all(const parsed_query& q, const session_store& store,
                                  std::int64_t now) {
  std::vector<candidate> selected;
  row_values row(q);
  const std::deque<generated_session>& all = store.generated();
  auto first = all.begin(), last = all.end();
  if (!q.started && store.generated_by_end()) {
    // Sessions in endtime order (a week of backlog for a backtest): only the period's.
    first =
        std::lower_bound(all.begin(), all.end(), q.start,
                         [](const generated_session& s, std::int64_t t) { return s.endtime < t; });
    last =
        std::upper_bound(first, all.end(), q.end,
                         [](std::int64_t t, const generated_session& s) { return t < s.endtime; });
  }
  for (auto it = first; it != last; ++it)
    select(*it, candidate{&*it, nullptr}, q, now, row, selected);
  for (const control_session& s : store.control())
    select(s, candidate{nullptr, &s}, q, now, row, selected);
  return selected;
}

// Orders the selected rows and returns the first `count` of them in order.
std::vector<candidate> sorted_prefix(const std::vector<candidate>& selected, const parsed_query& q,
                                     std::int64_t now, std::size_t count) {
  std::vector<keyed> rows;
  rows.reserve(selected.size());
  std::string scratch;
  for (const candidate& c : selected) {
    keyed k;
    k.cand = c;
    field f = c.get(q.orderby, now);
    if (std::optional<double> n = number_of(f)) {
      k.rank = 0;
      k.number = *n;
    } else if (std::optional<std::string_view> t = text_of(f, scratch)) {
      k.rank = 1;
      k.text = std::string(*t);
    }
    field id = c.get("sessionid", now);
    if (std::optional<std::string_view> t = text_of(id, scratch)) k.id = std::string(*t);
    rows.push_back(std::move(k));
  }
  const bool asc = q.ascending;
  auto before = [asc](const keyed& a, const keyed& b) {
    if (a.rank != b.rank) return a.rank < b.rank;
    if (a.rank == 0 && a.number != b.number) return asc ? a.number < b.number : a.number > b.number;
    if (a.rank == 1 && a.text != b.text) return asc ? a.text < b.text : a.text > b.text;
    return a.id < b.id;
  };
  count = std::min(count, rows.size());
  if (count < rows.size())
    std::partial_sort(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(count), rows.end(),
                      before);
  else
    std::sort(rows.begin(), rows.end(), before);
  std::vector<candidate> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) out.push_back(rows[i].cand);
  return out;
}

// The page [offset, offset + limit) of `total` rows, `ordered` holding at least its rows.
boost::json::object render_page(const parsed_query& q, const std::vector<candidate>& ordered,
                                std::int64_t total, std::int64_t now,
                                const query_options& options) {
  const std::int64_t page_end = std::min(total, q.offset >= total ? total : q.offset + q.limit);
  const std::int64_t pages = total == 0 ? 0 : (total + q.limit - 1) / q.limit;
  boost::json::array page;
  for (std::int64_t i = std::min(q.offset, total); i < page_end; ++i) {
    boost::json::object row;
    for (const std::string& name : q.metrics) {
      field f = ordered[static_cast<std::size_t>(i)].get(name, now);
      if (std::holds_alternative<std::monostate>(f)) continue;
      row[name] = json_of(f);
    }
    if (options.extra_counters) row["totalpages"] = pages;
    page.push_back(std::move(row));
  }

  boost::json::object body;
  const bool records = options.counters == counters_mode::records;
  body["totalcount"] = records ? total : pages;
  body["pagecount"] = records ? pages : total;
  if (options.extra_counters) body["totalrecords"] = total;
  body["response"] = std::move(page);
  return body;
}

// The time after `now` at which the first session of the store changes status (pending to
// running, running to ended); INT64_MAX when every session has ended.
std::int64_t next_status_change(const session_store& store, std::int64_t now) {
  std::int64_t next = std::numeric_limits<std::int64_t>::max();
  auto visit = [&](std::int64_t start, std::int64_t end) {
    if (now < start)
      next = std::min(next, start);
    else if (now < end)
      next = std::min(next, end);
  };
  for (const generated_session& s : store.generated()) visit(s.starttime, s.endtime);
  for (const control_session& s : store.control()) visit(s.starttime, s.endtime);
  return next;
}

}  // namespace

query_result handle_listsessions(const query_params& params, const session_store& store,
                                 std::int64_t now, const query_options& options) {
  query_result result;
  parsed_query q;
  std::string error = validate(params, options, q);
  if (!error.empty()) {
    result.status = 400;
    result.body = boost::json::object{{"error", error}};
    return result;
  }
  std::vector<candidate> selected = select_all(q, store, now);
  const auto total = static_cast<std::int64_t>(selected.size());
  const std::int64_t page_end = std::min(total, q.offset >= total ? total : q.offset + q.limit);
  std::vector<candidate> ordered =
      sorted_prefix(selected, q, now, static_cast<std::size_t>(page_end));
  result.body = render_page(q, ordered, total, now, options);
  return result;
}

// ---- page_cache ----

struct page_cache::ordered_rows {
  std::vector<candidate> rows;  // every matching row, in response order
};

page_cache::page_cache(std::size_t max_bytes) : max_bytes_(max_bytes) {}
page_cache::~page_cache() = default;

void page_cache::clear() {
  periods_.clear();
  selections_.clear();
  pages_.clear();
  bytes_ = 0;
}

page_answer page_cache::answer(const query_params& params, const session_store& store,
                               std::int64_t now, const query_options& options) {
  page_answer out;
  parsed_query q;
  std::string error = validate(params, options, q);
  if (!error.empty()) {
    // Errors are cheap and not cached.
    out.status = 400;
    out.body = to_json_text(boost::json::object{{"error", error}});
    return out;
  }

  // Everything cached was computed at a time from which no session changed status, from this
  // exact set of sessions.
  if (!valid_ || store.version() != version_ || now < computed_at_ || now >= stable_until_) {
    clear();
    valid_ = true;
    version_ = store.version();
    computed_at_ = now;
    stable_until_ = next_status_change(store, now);
  }

  // The period selects the sessions (of the right status) whose time lies in [start, end];
  // the same sessions lie in [first, last] of their times, so that range stands for every
  // period selecting them: pages read with a sliding "now - window" bound still match.
  const period_key pk{q.start, q.end, q.started, q.allstatus};
  auto p = periods_.find(pk);
  if (p == periods_.end()) {
    if (periods_.size() >= max_periods) periods_.clear();
    std::int64_t first = std::numeric_limits<std::int64_t>::max();
    std::int64_t last = std::numeric_limits<std::int64_t>::min();
    auto visit = [&](std::int64_t start, std::int64_t end) {
      session_status st = status_at(start, end, now);
      if (st == session_status::pending || (st == session_status::running && !q.allstatus)) return;
      std::int64_t t = q.started ? start : end;
      if (t < q.start || t > q.end) return;
      first = std::min(first, t);
      last = std::max(last, t);
    };
    for (const generated_session& s : store.generated()) visit(s.starttime, s.endtime);
    for (const control_session& s : store.control()) visit(s.starttime, s.endtime);
    p = periods_.emplace(pk, std::make_pair(first, last)).first;
  }

  // The selection key: every parameter but the period and paging, in request order (a
  // parameter given twice was refused above), then the canonical period.
  std::string key;
  for (const auto& [k, v] : params) {
    if (k == "period" || k == "limit" || k == "offset") continue;
    key += k;
    key += '=';
    key += v;
    key += '\n';
  }
  key += "period=" + std::to_string(p->second.first) + "," + std::to_string(p->second.second);
  std::string page_key =
      key + "\nlimit=" + std::to_string(q.limit) + "\noffset=" + std::to_string(q.offset);

  if (auto hit = pages_.find(page_key); hit != pages_.end()) {
    ++hits_;
    out.body = hit->second.body;
    out.rows = hit->second.rows;
    return out;
  }
  ++misses_;

  auto sel = selections_.find(key);
  if (sel == selections_.end()) {
    auto rows = std::make_unique<ordered_rows>();
    std::vector<candidate> selected = select_all(q, store, now);
    rows->rows = sorted_prefix(selected, q, now, selected.size());
    const std::size_t cost = rows->rows.size() * sizeof(candidate) + key.size();
    if (bytes_ + cost > max_bytes_) clear();
    bytes_ += cost;
    sel = selections_.emplace(key, std::move(rows)).first;
  }
  const std::vector<candidate>& ordered = sel->second->rows;
  const auto total = static_cast<std::int64_t>(ordered.size());
  out.body = to_json_text(render_page(q, ordered, total, now, options));
  const std::int64_t page_end = std::min(total, q.offset >= total ? total : q.offset + q.limit);
  out.rows = static_cast<std::size_t>(page_end - std::min(q.offset, total));

  const std::size_t cost = out.body.size() + page_key.size();
  if (bytes_ + cost <= max_bytes_) {
    bytes_ += cost;
    pages_.emplace(std::move(page_key), cached_body{out.body, out.rows});
  }
  return out;
}

}  // namespace qoewatch::sim
