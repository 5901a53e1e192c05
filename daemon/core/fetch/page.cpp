#include "fetch/page.hpp"

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/error.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>

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
  if (rule.has_qoefilter()) s.metrics = rules::metrics_of(rule.condition);
  auto add = [&s](const std::string& f) {
    if (std::find(s.metrics.begin(), s.metrics.end(), f) == s.metrics.end() &&
        std::find(s.fields.begin(), s.fields.end(), f) == s.fields.end())
      s.fields.push_back(f);
  };
  // A population rule's dimensions and aggregated metrics are fields: a row without them is
  // still judged (it falls in group "unknown", or does not carry the metric). A dimension is
  // a field even when the condition reads it as a metric: its value is the group's text.
  for (const std::string& f : rule.group_by)
    if (std::find(s.fields.begin(), s.fields.end(), f) == s.fields.end()) s.fields.push_back(f);
  for (const rules::aggregate& a : rule.aggregates) add(a.metric);
  for (const std::string& f : rule.fields) add(f);
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

// What a row's key was last given, kept raw until the row ends: of duplicate keys the last
// counts (as in the DOM), so nothing can be judged before the row is complete.
struct raw_value {
  enum class kind : unsigned char { absent, null, boolean, int64, uint64, double_, string, other };
  kind k = kind::absent;
  bool b = false;
  bool finite_number = false;  // k is a number kind and d holds it, finite
  std::int64_t i = 0;
  std::uint64_t u = 0;
  double d = 0;   // the number, as a double, for every number kind
  std::string s;  // reused from row to row, so a kept capacity means no allocation

  // Numbers are converted as they are read: the parser already knows their kind there, so
  // reading them at the row's end needs no switch on it.
  void set_number(kind number_kind, double value) {
    k = number_kind;
    d = value;
    finite_number = std::isfinite(value);
  }
  void set(kind other) {
    k = other;
    finite_number = false;
  }
};

// A value as a number: numbers and numeric strings count; everything else does not.
std::optional<double> number_of(const raw_value& v) {
  if (v.finite_number) return v.d;
  if (v.k == raw_value::kind::string) return to_number(v.s);
  return std::nullopt;
}

template <class Integer>
void print_integer(Integer n, std::string& out) {
  char digits[24];
  out.assign(digits, std::to_chars(digits, digits + sizeof digits, n).ptr);
}

// A value as report text, into `out`: strings as they are, numbers printed, nothing for null,
// objects and arrays.
void text_of(const raw_value& v, std::string& out) {
  switch (v.k) {
    case raw_value::kind::string:
      out.assign(v.s);
      return;
    case raw_value::kind::int64:
      return print_integer(v.i, out);
    case raw_value::kind::uint64:
      return print_integer(v.u, out);
    case raw_value::kind::double_:
      out = rules::format_number(v.d);
      return;
    case raw_value::kind::boolean:
      out.assign(v.b ? "true" : "false");
      return;
    default:
      out.clear();
  }
}

// The keys a row is read for, each once whatever roles it plays (a schema may name a metric
// twice, or name "sessionid" as a field). A row has tens of keys and most are none of these:
// a mask of the wanted lengths turns those away, and words holding a name's first and last
// 8 bytes settle the rest with a compare or two instead of a memcmp call.
class key_table {
 public:
  static constexpr std::size_t sessionid = 0;
  static constexpr std::size_t endtime = 1;
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  explicit key_table(const row_schema& schema) {
    add("sessionid");
    add("endtime");
    for (const std::string& m : schema.metrics) metric_slots_.push_back(add(m));
    for (const std::string& f : schema.fields) field_slots_.push_back(add(f));
  }

  std::size_t size() const { return names_.size(); }
  std::size_t longest() const { return longest_; }
  const std::vector<std::size_t>& metric_slots() const { return metric_slots_; }
  const std::vector<std::size_t>& field_slots() const { return field_slots_; }

  std::size_t find(std::string_view key) const {
    if ((length_mask_ >> length_bit(key.size()) & 1) == 0) return npos;
    const std::uint64_t head = head_of(key);
    const std::uint64_t tail = tail_of(key);
    for (std::size_t i = 0; i < names_.size(); ++i) {
      const name& n = names_[i];
      if (n.head == head && n.tail == tail && n.text.size() == key.size() &&
          (key.size() <= 16 ||
           std::memcmp(n.text.data() + 8, key.data() + 8, key.size() - 16) == 0))
        return i;
    }
    return npos;
  }

 private:
  struct name {
    std::string text;
    std::uint64_t head = 0;
    std::uint64_t tail = 0;
  };

  static std::size_t length_bit(std::size_t n) { return std::min<std::size_t>(n, 63); }

  // Every byte of a text of up to 8 bytes, or the first 8 of a longer one, as a word. Only
  // texts of one length are compared, so overlapping loads for 4 to 7 bytes are fine.
  static std::uint64_t head_of(std::string_view s) {
    std::uint64_t w = 0;
    if (s.size() >= 8) {
      std::memcpy(&w, s.data(), 8);
    } else if (s.size() >= 4) {
      std::uint32_t first = 0, last = 0;
      std::memcpy(&first, s.data(), 4);
      std::memcpy(&last, s.data() + s.size() - 4, 4);
      w = first | std::uint64_t{last} << 32;
    } else if (!s.empty()) {
      auto byte = [&s](std::size_t i) { return std::uint64_t{static_cast<unsigned char>(s[i])}; };
      w = byte(0) | byte(s.size() / 2) << 8 | byte(s.size() - 1) << 16;
    }
    return w;
  }
  // The last 8 bytes (overlapping the first for 8 to 15 bytes); 0 for a shorter text.
  static std::uint64_t tail_of(std::string_view s) {
    std::uint64_t w = 0;
    if (s.size() >= 8) std::memcpy(&w, s.data() + s.size() - 8, 8);
    return w;
  }

  std::size_t add(std::string_view text) {
    for (std::size_t i = 0; i < names_.size(); ++i)
      if (names_[i].text == text) return i;
    names_.push_back({std::string(text), head_of(text), tail_of(text)});
    length_mask_ |= std::uint64_t{1} << length_bit(text.size());
    longest_ = std::max(longest_, text.size());
    return names_.size() - 1;
  }

  std::vector<name> names_;
  std::vector<std::size_t> metric_slots_;  // aligned with row_schema::metrics
  std::vector<std::size_t> field_slots_;   // aligned with row_schema::fields
  std::uint64_t length_mask_ = 0;
  std::size_t longest_ = 0;
};

// The basic_parser handler: follows where it is in the document and keeps only the values of
// the keys the schema reads, in rows of the top-level "response" array. Errors are left to the
// parser (this handler never fails), so a body fails exactly as json::parse fails it.
class page_scanner {
 public:
  // The DOM parser's limits, so the same bodies are too large.
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  page_scanner(const row_schema& schema, const std::function<void(const session_row&)>& on_row,
               const std::function<void()>& on_restart)
      : keys_(schema), values_(keys_.size()), on_row_(on_row), on_restart_(on_restart) {
    longest_key_ = std::max(keys_.longest(), longest_top_key.size());
    row_.metrics.resize(schema.metrics.size());
    row_.fields.resize(schema.fields.size());
  }

  bool top_is_object() const { return top_is_object_; }
  bool has_response_array() const { return response_is_array_; }
  bool restart_refused() const { return restart_refused_; }
  page_counts counts() const {
    page_counts c = counts_;
    c.claimed_rows = claimed_rows_;
    return c;
  }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }

  bool on_object_begin(json::error_code&) {
    open(true);
    return true;
  }
  bool on_object_end(std::size_t, json::error_code&) {
    close();
    return true;
  }
  bool on_array_begin(json::error_code&) {
    open(false);
    return true;
  }
  bool on_array_end(std::size_t, json::error_code&) {
    close();
    return true;
  }

  bool on_key_part(json::string_view s, std::size_t n, json::error_code&) {
    // A key arrives in parts when it holds escapes; only one that could match is gathered.
    if ((where_ == where::row || where_ == where::top) && n <= longest_key_) {
      if (n == s.size()) key_.clear();
      key_.append(s.data(), s.size());
    }
    return true;
  }
  bool on_key(json::string_view s, std::size_t n, json::error_code&) {
    if (where_ != where::row && where_ != where::top) return true;
    std::string_view key;
    if (n == s.size()) {
      key = std::string_view(s.data(), s.size());
    } else if (n <= longest_key_) {
      key_.append(s.data(), s.size());
      key = key_;
    }
    // A key longer than any wanted one was not gathered, and matches nothing.
    const bool too_long = n > longest_key_;
    if (where_ == where::row) {
      const std::size_t i = too_long ? key_table::npos : keys_.find(key);
      slot_ = i == key_table::npos ? nullptr : &values_[i];
    } else {
      key_is_response_ = !too_long && key == response_key;
      key_is_counter_ = !too_long && (key == "totalcount" || key == "pagecount" ||
                                      key == "totalrecords");
      if (key_is_response_) begin_response();
    }
    return true;
  }

  bool on_string_part(json::string_view s, std::size_t n, json::error_code&) {
    if (where_ == where::row && slot_ != nullptr) {
      if (n == s.size()) slot_->s.clear();
      slot_->s.append(s.data(), s.size());
    }
    return true;
  }
  bool on_string(json::string_view s, std::size_t n, json::error_code&) {
    if (raw_value* v = scalar()) {
      if (n == s.size()) v->s.clear();
      v->s.append(s.data(), s.size());
      v->set(raw_value::kind::string);
    }
    return true;
  }

  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
    if (where_ == where::top && key_is_counter_ && i > 0)
      claimed_rows_ = std::max(claimed_rows_, static_cast<std::size_t>(i));
    if (raw_value* v = scalar()) {
      v->set_number(raw_value::kind::int64, static_cast<double>(i));
      v->i = i;
    }
    return true;
  }
  bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
    if (where_ == where::top && key_is_counter_)
      claimed_rows_ = std::max(claimed_rows_, static_cast<std::size_t>(u));
    if (raw_value* v = scalar()) {
      v->set_number(raw_value::kind::uint64, static_cast<double>(u));
      v->u = u;
    }
    return true;
  }
  bool on_double(double d, json::string_view, json::error_code&) {
    if (raw_value* v = scalar()) v->set_number(raw_value::kind::double_, d);
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    if (raw_value* v = scalar()) {
      v->set(raw_value::kind::boolean);
      v->b = b;
    }
    return true;
  }
  bool on_null(json::error_code&) {
    if (raw_value* v = scalar()) v->set(raw_value::kind::null);
    return true;
  }

  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  static constexpr std::string_view response_key = "response";
  static constexpr std::string_view longest_top_key = "totalrecords";  // of those read at top

  // Where the next key or value is; anywhere but the first four is of no interest.
  enum class where : unsigned char { document, top, response, row, elsewhere };

  void skip(skip_reason why) { ++counts_.skipped[static_cast<std::size_t>(why)]; }

  // A value that is not an object or array begins and ends here. Returns the row value to
  // fill, or nullptr when this value is not wanted.
  raw_value* scalar() {
    switch (where_) {
      case where::row: {
        raw_value* v = slot_;
        slot_ = nullptr;
        return v;
      }
      case where::response:
        ++counts_.rows_in_page;
        skip(skip_reason::not_an_object);
        return nullptr;
      case where::top:
        if (key_is_response_) response_is_array_ = false;
        return nullptr;
      default:
        return nullptr;
    }
  }

  void open(bool is_object) {
    switch (where_) {
      case where::row:
        if (slot_ != nullptr) slot_->set(raw_value::kind::other);
        slot_ = nullptr;
        break;
      case where::response:
        ++counts_.rows_in_page;
        if (is_object) {
          for (raw_value& v : values_) v.set(raw_value::kind::absent);
          slot_ = nullptr;
          in_row_ = true;
        } else {
          skip(skip_reason::not_an_object);
        }
        break;
      case where::top:
        if (key_is_response_) response_is_array_ = in_response_ = !is_object;
        break;
      case where::document:
        top_is_object_ = is_object;
        break;
      case where::elsewhere:
        break;
    }
    ++depth_;
    locate();
  }

  void close() {
    --depth_;
    if (depth_ == 2 && in_row_) {
      in_row_ = false;
      finish_row();
    } else if (depth_ == 1) {
      in_response_ = false;
    }
    locate();
  }

  void locate() {
    if (depth_ == 0)
      where_ = where::document;
    else if (depth_ == 1)
      where_ = top_is_object_ ? where::top : where::elsewhere;
    else if (depth_ == 2)
      where_ = in_response_ ? where::response : where::elsewhere;
    else
      where_ = depth_ == 3 && in_row_ ? where::row : where::elsewhere;
  }

  // Another top-level "response": the DOM keeps the last, so the counts start over and rows
  // already handed over must be taken back.
  void begin_response() {
    counts_ = {};
    response_is_array_ = false;
    if (rows_handed_ == 0) return;
    rows_handed_ = 0;
    if (on_restart_)
      on_restart_();
    else
      restart_refused_ = true;
  }

  // Judged in the DOM implementation's order: sessionid, endtime, then metrics in schema
  // order, so the first failing check names the reason.
  void finish_row() {
    text_of(values_[key_table::sessionid], row_.sessionid);
    if (row_.sessionid.empty()) return skip(skip_reason::no_sessionid);
    std::optional<double> endtime = number_of(values_[key_table::endtime]);
    if (!endtime) return skip(skip_reason::bad_endtime);
    row_.endtime = *endtime;
    const std::vector<std::size_t>& metric_slots = keys_.metric_slots();
    for (std::size_t i = 0; i < metric_slots.size(); ++i) {
      const raw_value& v = values_[metric_slots[i]];
      if (v.k == raw_value::kind::absent || v.k == raw_value::kind::null)
        return skip(skip_reason::missing_metric);
      std::optional<double> n = number_of(v);
      if (!n) return skip(skip_reason::not_a_number);
      row_.metrics[i] = *n;
    }
    const std::vector<std::size_t>& field_slots = keys_.field_slots();
    for (std::size_t i = 0; i < field_slots.size(); ++i)
      text_of(values_[field_slots[i]], row_.fields[i]);
    ++rows_handed_;
    on_row_(row_);
  }

  const key_table keys_;
  std::vector<raw_value> values_;  // aligned with keys_: the current row's wanted values
  const std::function<void(const session_row&)>& on_row_;
  const std::function<void()>& on_restart_;
  session_row row_;  // handed to on_row_, refilled for every row
  std::string key_;  // a key given in parts
  std::size_t longest_key_ = 0;
  raw_value* slot_ = nullptr;  // in a row: where the value of the current key goes
  std::size_t depth_ = 0;
  where where_ = where::document;
  bool top_is_object_ = false;
  bool key_is_response_ = false;
  bool key_is_counter_ = false;  // a top-level key: totalcount, pagecount or totalrecords
  bool response_is_array_ = false;
  bool in_response_ = false;
  bool in_row_ = false;
  bool restart_refused_ = false;
  std::size_t rows_handed_ = 0;  // since the current "response" began
  page_counts counts_;           // of the current "response"
  std::size_t claimed_rows_ = 0;  // page_counts::claimed_rows, wherever the counters stand
};

}  // namespace

scan_result scan_page(std::string_view body, const row_schema& schema,
                      const std::function<void(const session_row&)>& on_row,
                      const std::function<void()>& on_restart) {
  scan_result r;
  json::basic_parser<page_scanner> parser(json::parse_options{}, schema, on_row, on_restart);
  json::error_code ec;
  const std::size_t used = parser.write_some(false, body.data(), body.size(), ec);
  // As json::parse: anything after the value but whitespace makes the body invalid.
  if (!ec && used < body.size()) ec = json::error::extra_data;
  if (ec) {
    r.error = "response is not JSON: " + ec.message();
    return r;
  }
  const page_scanner& h = parser.handler();
  if (!h.top_is_object()) {
    r.error = "response is not a JSON object";
    return r;
  }
  if (!h.has_response_array()) {
    r.error = "response has no \"response\" array";
    return r;
  }
  if (h.restart_refused()) {
    r.error = "response has more than one \"response\" array";
    return r;
  }
  r.value = h.counts();
  return r;
}

page_result parse_page(std::string_view body, const row_schema& schema) {
  page p;
  scan_result s = scan_page(
      body, schema, [&p](const session_row& row) { p.rows.push_back(row); },
      [&p] { p.rows.clear(); });
  page_result r;
  if (!s) {
    r.error = std::move(s.error);
    return r;
  }
  p.rows_in_page = s.value->rows_in_page;
  p.skipped = s.value->skipped;
  r.value = std::move(p);
  return r;
}

}  // namespace qoewatch::fetch
