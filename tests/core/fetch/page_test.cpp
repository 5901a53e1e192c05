// Reading a listsessions page with the streaming scanner must give what the DOM reading it
// replaced gave: same rows, same counts, same error texts. The old DOM implementation is kept
// here as the oracle and both read hand-written edge cases, fixed-seed random pages, and those
// pages cut short or corrupted.
#include "fetch/page.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "rules/expr.hpp"

using namespace qoewatch;

namespace {

namespace json = boost::json;

// ---------------------------------------------------------------------------------------
// The oracle: parse_page as it was before the scanner (a DOM, then a walk over it), kept
// as it was but for the per-thread arena buffer, which changes nothing it returns.

std::optional<double> dom_number_of(const json::value& v) {
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
      return fetch::to_number(v.get_string());
    default:
      return std::nullopt;
  }
}

std::string dom_text_of(const json::value& v) {
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

fetch::page_result dom_parse_page(std::string_view body, const fetch::row_schema& schema) {
  using fetch::skip_reason;
  fetch::page_result r;
  boost::system::error_code ec;
  json::monotonic_resource arena;
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
  fetch::page p;
  const json::array& rows = list->get_array();
  p.rows_in_page = rows.size();
  auto skip = [&p](skip_reason why) { ++p.skipped[static_cast<std::size_t>(why)]; };
  for (const json::value& item : rows) {
    const json::object* o = item.if_object();
    if (o == nullptr) {
      skip(skip_reason::not_an_object);
      continue;
    }
    fetch::session_row row;
    const json::value* id = o->if_contains("sessionid");
    if (id != nullptr) row.sessionid = dom_text_of(*id);
    if (row.sessionid.empty()) {
      skip(skip_reason::no_sessionid);
      continue;
    }
    const json::value* end = o->if_contains("endtime");
    std::optional<double> endtime = end ? dom_number_of(*end) : std::nullopt;
    if (!endtime) {
      skip(skip_reason::bad_endtime);
      continue;
    }
    row.endtime = *endtime;
    std::optional<skip_reason> bad;
    for (const std::string& m : schema.metrics) {
      const json::value* v = o->if_contains(m);
      if (v == nullptr || v->is_null()) {
        bad = skip_reason::missing_metric;
        break;
      }
      std::optional<double> n = dom_number_of(*v);
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
    for (const std::string& f : schema.fields) {
      const json::value* v = o->if_contains(f);
      row.fields.push_back(v ? dom_text_of(*v) : std::string{});
    }
    p.rows.push_back(std::move(row));
  }
  r.value = std::move(p);
  return r;
}

// ---------------------------------------------------------------------------------------
// Comparing results

// Equal, and the same sign for zeros: -0 must stay -0.
bool same_number(double a, double b) {
  return a == b && std::signbit(a) == std::signbit(b);
}

std::string excerpt(std::string_view body) {
  return body.size() <= 400
             ? std::string(body)
             : std::string(body.substr(0, 400)) + "... (" + std::to_string(body.size()) + " bytes)";
}

testing::AssertionResult same_row(const fetch::session_row& got, const fetch::session_row& want) {
  if (got.sessionid != want.sessionid)
    return testing::AssertionFailure()
           << "sessionid \"" << got.sessionid << "\" != \"" << want.sessionid << "\"";
  if (!same_number(got.endtime, want.endtime))
    return testing::AssertionFailure() << "endtime " << got.endtime << " != " << want.endtime;
  if (got.metrics.size() != want.metrics.size())
    return testing::AssertionFailure() << "metrics size differs";
  for (std::size_t i = 0; i < got.metrics.size(); ++i)
    if (!same_number(got.metrics[i], want.metrics[i]))
      return testing::AssertionFailure()
             << "metric " << i << ": " << got.metrics[i] << " != " << want.metrics[i];
  if (got.fields != want.fields) {
    auto a = testing::AssertionFailure() << "fields differ:";
    for (std::size_t i = 0; i < std::max(got.fields.size(), want.fields.size()); ++i)
      a << " [" << (i < got.fields.size() ? got.fields[i] : "-") << " | "
        << (i < want.fields.size() ? want.fields[i] : "-") << "]";
    return a;
  }
  return testing::AssertionSuccess();
}

testing::AssertionResult same_result(const fetch::page_result& got, const fetch::page_result& want,
                                     std::string_view body) {
  auto fail = [&] { return testing::AssertionFailure() << "body: " << excerpt(body) << "\n"; };
  if (got.error != want.error)
    return fail() << "error \"" << got.error << "\" != \"" << want.error << "\"";
  if (got.value.has_value() != want.value.has_value()) return fail() << "one has a value";
  if (!got) return testing::AssertionSuccess();
  const fetch::page& g = *got.value;
  const fetch::page& w = *want.value;
  if (g.rows_in_page != w.rows_in_page)
    return fail() << "rows_in_page " << g.rows_in_page << " != " << w.rows_in_page;
  for (std::size_t i = 0; i < fetch::skip_reason_count; ++i)
    if (g.skipped[i] != w.skipped[i])
      return fail() << "skipped " << fetch::to_string(static_cast<fetch::skip_reason>(i)) << " "
                    << g.skipped[i] << " != " << w.skipped[i];
  if (g.rows.size() != w.rows.size())
    return fail() << "rows " << g.rows.size() << " != " << w.rows.size();
  for (std::size_t i = 0; i < g.rows.size(); ++i)
    if (auto r = same_row(g.rows[i], w.rows[i]); !r) return fail() << "row " << i << ": " << r;
  return testing::AssertionSuccess();
}

testing::AssertionResult same_as_dom(std::string_view body, const fetch::row_schema& schema) {
  return same_result(fetch::parse_page(body, schema), dom_parse_page(body, schema), body);
}

// ---------------------------------------------------------------------------------------
// Schemas: the ordinary kind, none at all, and odd ones a hand-built schema could hold
// (a metric named twice, "sessionid" as a metric and a field, names with escapes, unicode,
// an empty name, a name longer than 63 bytes).

const std::string long_name(70, 'k');

std::vector<fetch::row_schema> schemas() {
  return {
      {{"latency", "errors"}, {"cdn", "assetname", "watchtime", "country"}},
      {{}, {}},
      {{"cirrbufferingratio"}, {"sessionid"}},
      {{"endtime", "latency", "latency", "sessionid"}, {"endtime", "latency", "x", "cdn"}},
      {{"l\xc3\xa4tency", "a\"b"}, {"", "tab\there", long_name, "\xf0\x9f\x98\x80"}},
  };
}

// The words of `text`, split at spaces.
std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t end = std::min(text.find(' ', at), text.size());
    if (end > at) out.emplace_back(text.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// A random page writer. Every key and string may be written with escapes; numbers come in
// every form JSON allows; rows repeat keys, nest values, lack what the schema asks for.

class page_writer {
 public:
  explicit page_writer(std::uint64_t seed) : rng_(seed) {}

  std::uint64_t below(std::uint64_t n) {
    return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng_);
  }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[below(v.size())];
  }

  // `text` (UTF-8) as a JSON string, each code point written as it is or escaped.
  std::string quoted(std::string_view text, double escape_rate) {
    std::string out = "\"";
    for (std::size_t i = 0; i < text.size();) {
      const auto c = static_cast<unsigned char>(text[i]);
      const std::size_t len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
      char32_t cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
      for (std::size_t k = 1; k < len; ++k)
        cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3f);
      const bool must = cp == '"' || cp == '\\' || cp < 0x20;
      if (must || chance(escape_rate)) {
        if (cp == '"' && chance(0.5))
          out += "\\\"";
        else if (cp == '\\' && chance(0.5))
          out += "\\\\";
        else if (cp == '\n' && chance(0.5))
          out += "\\n";
        else if (cp == '/' && chance(0.5))
          out += "\\/";
        else if (cp >= 0x10000) {
          const char32_t v = cp - 0x10000;
          out += hex_escape(0xd800 + (v >> 10));
          out += hex_escape(0xdc00 + (v & 0x3ff));
        } else {
          out += hex_escape(cp);
        }
      } else {
        out.append(text.substr(i, len));
      }
      i += len;
    }
    return out + "\"";
  }

  std::string random_text(std::size_t max_len) {
    // Raw UTF-8 in the source: the compiler's execution character set is UTF-8 too.
    static const std::vector<std::string> pieces = {
        "a",  "b",  "z",  "0",    "7", " ", "-", ".",    "_",   "/",     "\"",
        "\\", "\n", "\t", "\x01", "é", "€", "😀", "edge", "cdn", "Finale"};
    std::string s;
    const std::size_t n = below(max_len + 1);
    for (std::size_t i = 0; i < n; ++i) s += pick(pieces);
    return s;
  }

  std::string number() {
    static const std::vector<std::string> forms = {
        "0",      "-0",         "-0.0",         "0.0",   "7",     "-12",    "7.4",
        "1e1",    "1E+2",       "2.5e-3",       "1e308", "1e400", "-1e400", "4.9e-324",
        "1e-400", "1775749980", "1775749990.5", "0.1"};
    // At and past the ends of int64 and uint64: past them the parser gives a double.
    static const std::vector<std::string> big = {
        "9223372036854775807",    "-9223372036854775808", "9223372036854775808",
        "18446744073709551615",   "18446744073709551616", "123456789012345678901234567890",
        "100000000000000000000.0"};
    if (chance(0.5)) return std::to_string(static_cast<std::int64_t>(below(2000000)) - 1000000);
    if (chance(0.3))
      return rules::format_number(std::uniform_real_distribution<double>(-1e3, 1e3)(rng_));
    return chance(0.8) ? pick(forms) : pick(big);
  }

  std::string numeric_string() {
    static const std::vector<std::string> forms = {
        " 6.5 ", "+3", "1e1", "NaN",   "nan", "inf",   "-inf",   "Infinity",
        "0x10",  "",   " ",   "12abc", "1,5", "\t7\t", "  +  1", "-0",
        "1e400", "7.", ".5",  "++1",   "+-1", "1e",    "0001",   "\n5"};
    return quoted(chance(0.5) ? number() : pick(forms), 0.05);
  }

  std::string nested(int depth) {
    if (depth <= 0 || chance(0.3)) return scalar();
    std::string out;
    const std::size_t n = below(4);
    if (chance(0.5)) {
      out = "{";
      for (std::size_t i = 0; i < n; ++i) {
        if (i) out += ",";
        // Keys a row is read for, one level down: must not be taken for the row's own.
        static const std::vector<std::string> wanted =
            words("sessionid endtime latency cdn response");
        out += quoted(chance(0.5) ? pick(wanted) : random_text(5), 0.1);
        out += ws() + ":" + ws() + nested(depth - 1);
      }
      return out + "}";
    }
    out = "[";
    for (std::size_t i = 0; i < n; ++i) out += std::string(i ? "," : "") + ws() + nested(depth - 1);
    return out + "]";
  }

  std::string scalar() {
    switch (below(6)) {
      case 0:
        return number();
      case 1:
        return numeric_string();
      case 2:
        return quoted(random_text(8), 0.1);
      case 3:
        return chance(0.5) ? "true" : "false";
      case 4:
        return "null";
      default:
        return chance(0.02) ? quoted(std::string(5000, 'x') + "\\" + random_text(20), 0.3)
                            : quoted(random_text(3), 0.5);
    }
  }

  // Mostly whatever a row field holds; now and then anything at all.
  std::string any_value() { return chance(0.85) ? scalar() : nested(3); }

  std::string ws() {
    if (!chance(0.1)) return {};
    static const std::vector<std::string> spaces = {" ", "\n", "\t", "\r\n", "  "};
    return pick(spaces);
  }

  std::string key(std::string_view name) { return quoted(name, chance(0.05) ? 0.5 : 0.0); }

  std::string row(const fetch::row_schema& schema) {
    // Keys no schema asks for, some close to those it does (differing in one byte only).
    static const std::vector<std::string> filler = words(
        "assetname cdn country devicetype platform watchtime bitrate startuptime "
        "exitbeforevideostart playerversion subscriberid city asn isp os osversion browser "
        "contentid streamurl errors latency cirrbufferingratio framerate avgbitrate starttime "
        "ip sessionId session_id endtime2 endtim SESSIONID responses sessionix endtimf "
        "cirrbufferingratia cirrbuffXringratio assetnamf");
    std::vector<std::pair<std::string, std::string>> kv;  // key text, value text
    if (chance(0.95)) {
      std::string id;
      switch (below(10)) {
        case 0:
          id = number();
          break;
        case 1:
          id = any_value();
          break;
        case 2:
          id = "\"\"";
          break;
        default:
          id = quoted("s" + std::to_string(below(1000000)) + random_text(2), 0.02);
      }
      kv.emplace_back(key("sessionid"), id);
    }
    if (chance(0.95)) {
      std::string end = chance(0.85)  ? std::to_string(1775749000 + below(10000))
                        : chance(0.5) ? numeric_string()
                                      : any_value();
      kv.emplace_back(key("endtime"), end);
    }
    auto wanted_value = [&] {
      return chance(0.9) ? number() : chance(0.5) ? numeric_string() : any_value();
    };
    for (const std::string& m : schema.metrics)
      if (chance(0.97)) kv.emplace_back(key(m), wanted_value());
    for (const std::string& f : schema.fields)
      if (chance(0.7)) kv.emplace_back(key(f), any_value());
    const std::size_t extra = below(40);
    for (std::size_t i = 0; i < extra; ++i) kv.emplace_back(key(pick(filler)), any_value());
    // Some keys again, with other values: which one counts must match the DOM.
    const std::size_t dups = chance(0.1) ? 1 + below(3) : 0;
    for (std::size_t i = 0; i < dups && !kv.empty(); ++i)
      kv.emplace_back(kv[below(kv.size())].first, chance(0.5) ? wanted_value() : any_value());
    std::shuffle(kv.begin(), kv.end(), rng_);
    std::string out = "{";
    for (std::size_t i = 0; i < kv.size(); ++i)
      out += (i ? "," : "") + ws() + kv[i].first + ws() + ":" + ws() + kv[i].second + ws();
    return out + "}";
  }

  std::string page(const fetch::row_schema& schema, std::size_t max_rows) {
    auto response = [&] {
      if (chance(0.03)) return any_value();  // not an array
      std::string out = "[";
      const std::size_t n = below(max_rows + 1);
      for (std::size_t i = 0; i < n; ++i) {
        out += (i ? "," : "") + ws();
        out += chance(0.93) ? row(schema) : any_value();
      }
      return out + ws() + "]";
    };
    if (chance(0.02)) return "[" + row(schema) + "]";
    std::vector<std::pair<std::string, std::string>> kv;
    kv.emplace_back(key("response"), response());
    if (chance(0.04)) kv.emplace_back(key("response"), response());
    if (chance(0.8)) kv.emplace_back(key("totalcount"), number());
    if (chance(0.5)) kv.emplace_back(key("pagecount"), number());
    if (chance(0.3)) kv.emplace_back(key("meta"), nested(4));
    if (chance(0.2)) kv.emplace_back(key("responses"), response());
    // "response" before, after or between the counters; with two, either may come first.
    std::shuffle(kv.begin(), kv.end(), rng_);
    std::string out = ws() + "{";
    for (std::size_t i = 0; i < kv.size(); ++i)
      out += (i ? "," : "") + ws() + kv[i].first + ws() + ":" + ws() + kv[i].second;
    return out + ws() + "}" + ws();
  }

 private:
  static std::string hex_escape(char32_t cp) {
    static const char digits[] = "0123456789abcdef";
    std::string out = "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) out += digits[(cp >> shift) & 0xf];
    return out;
  }

  std::mt19937_64 rng_;
};

fetch::row_schema usual_schema() {
  return schemas()[0];
}

}  // namespace

// ---------------------------------------------------------------------------------------
// What boost::json 1.81 does, which the scanner must do too.

TEST(PageDom, KeepsTheLastOfDuplicateKeys) {
  json::value small = json::parse(R"({"a":1,"b":0,"a":2})");
  EXPECT_EQ(small.as_object().if_contains("a")->as_int64(), 2);
  // Large objects are hashed, not searched: the same rule, another code path.
  std::string big = "{";
  for (int i = 0; i < 40; ++i) big += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  big += R"("k3":"last"})";
  EXPECT_EQ(json::parse(big).as_object().if_contains("k3")->as_string(), "last");
}

TEST(PageDom, ReadsTheLastOfTwoResponseArrays) {
  json::value doc = json::parse(R"({"response":[1],"totalcount":3,"response":[2,3]})");
  EXPECT_EQ(doc.as_object().if_contains("response")->as_array().size(), 2u);
  doc = json::parse(R"({"response":[1],"response":7})");
  EXPECT_FALSE(doc.as_object().if_contains("response")->is_array());
}

// ---------------------------------------------------------------------------------------
// The scanner against the oracle

TEST(PageScan, MatchesTheDomOnEdgeCases) {
  const std::string long_value = std::string(5000, 'v') + "\\n" + std::string(5000, 'w');
  const std::string long_escaped = [] {
    std::string s;
    for (int i = 0; i < 3000; ++i) s += "\\u00e9\\\"";
    return s;
  }();
  const std::vector<std::string> bodies = {
      // The ordinary page, and "response" before, after and between counters.
      R"({"totalcount":3,"pagecount":1,"response":[{"latency":7.4,"errors":0,"sessionid":"a1","endtime":1775749980,"cdn":"edgeB"}]})",
      R"({"response":[{"latency":7.4,"errors":0,"sessionid":"a1","endtime":1775749980}],"totalcount":3})",
      R"({"totalcount":3,"response":[{"latency":1,"errors":2,"sessionid":"a","endtime":1}],"pagecount":1})",
      R"({"response":[]})",
      R"({"response":[],"x":{"response":[{"sessionid":"nested","endtime":1,"latency":1,"errors":1}]}})",
      R"({"meta":{"response":7},"response":[{"sessionid":"a","endtime":1,"latency":1,"errors":1}]})",
      // Escapes in keys and values.
      R"({"response":[{"session\u0069d":"a\u00e9\n","\u0065ndtime":"\u0031\u0037","lat\u0065ncy":"\u0036.5","errors":0,"c\u0064n":"\ud83d\ude00"}]})",
      R"({"respons\u0065":[{"sessionid":"a","endtime":1,"latency":1,"errors":1}]})",
      R"({"response":[{"sessionid ":"a","endtime":1,"latency":1,"errors":1}]})",
      R"({"response":[{"SessionID":"a","endtime":1,"latency":1,"errors":1}]})",
      R"({"Response":[{"sessionid":"a","endtime":1,"latency":1,"errors":1}]})",
      R"({"response":[{"sessionid":"a\"b\\c\/d","endtime":1,"latency":1,"errors":1,"cdn":"\t\b\f\r"}]})",
      // Numeric strings, nulls, booleans, huge numbers, negative zero.
      R"({"response":[{"sessionid":"n","endtime":" 1775749990.5 ","latency":"+7","errors":"1e1"}]})",
      R"({"response":[{"sessionid":"n","endtime":1,"latency":null,"errors":1}]})",
      R"({"response":[{"sessionid":"n","endtime":1,"latency":1,"errors":"NaN"}]})",
      R"({"response":[{"sessionid":"n","endtime":1,"latency":true,"errors":null}]})",
      R"({"response":[{"sessionid":"n","endtime":null,"latency":1,"errors":1}]})",
      R"({"response":[{"sessionid":null,"endtime":1,"latency":1,"errors":1}]})",
      R"({"response":[{"sessionid":true,"endtime":1,"latency":1,"errors":1,"cdn":false}]})",
      R"({"response":[{"sessionid":12345,"endtime":1,"latency":-0,"errors":-0.0,"cdn":-0.0,"watchtime":1e400}]})",
      R"({"response":[{"sessionid":18446744073709551615,"endtime":1e400,"latency":1,"errors":1}]})",
      R"({"response":[{"sessionid":123456789012345678901234567890,"endtime":1,"latency":123456789012345678901234567890,"errors":-9223372036854775808,"cdn":9223372036854775808}]})",
      R"({"response":[{"sessionid":1.5,"endtime":4.9e-324,"latency":1e-400,"errors":1E+2,"cdn":0.1}]})",
      R"({"response":[{"sessionid":"x","endtime":"1e400","latency":1,"errors":1}]})",
      // Nested objects and arrays in rows, at any depth, where values are wanted and not.
      R"({"response":[{"sessionid":{"a":[1,{"sessionid":"inner"}]},"endtime":1,"latency":1,"errors":1}]})",
      R"({"response":[{"sessionid":"o","endtime":[1],"latency":1,"errors":1}]})",
      R"({"response":[{"sessionid":"o","endtime":1,"latency":{"v":7},"errors":1}]})",
      R"({"response":[{"sessionid":"o","endtime":1,"latency":1,"errors":[[[]]],"cdn":{"x":{"y":[{"z":"deep"}]}}}]})",
      R"({"response":[{"x":{"latency":"no","errors":{"sessionid":1}},"sessionid":"o","endtime":1,"latency":2,"errors":3,"cdn":[]}]})",
      R"({"response":[{"sessionid":"o","endtime":1,"latency":1,"errors":1,"assetname":[{"sessionid":"p"}],"country":{}}]})",
      // Duplicate keys, within rows and at top level.
      R"({"response":[{"sessionid":"first","endtime":1,"latency":1,"errors":1,"sessionid":"last"}]})",
      R"({"response":[{"sessionid":"d","endtime":1,"latency":"bad","errors":1,"latency":2}]})",
      R"({"response":[{"sessionid":"d","endtime":1,"latency":2,"errors":1,"latency":null}]})",
      R"({"response":[{"sessionid":"d","endtime":1,"latency":2,"errors":1,"latency":{"x":1}}]})",
      R"({"response":[{"sessionid":"d","endtime":1,"latency":2,"errors":1,"cdn":"a","c\u0064n":"b"}]})",
      R"({"response":[{"sessionid":"d","endtime":1,"latency":2,"errors":1}],"response":[{"sessionid":"e","endtime":2,"latency":3,"errors":4},5]})",
      R"({"response":[{"sessionid":"d","endtime":1,"latency":2,"errors":1}],"response":{}})",
      R"({"response":7,"response":[{"sessionid":"e","endtime":2,"latency":3,"errors":4}]})",
      R"({"response":[1,2,3],"totalcount":1,"response":[]})",
      // Elements that are not objects; top levels that are not objects.
      R"({"response":[42,"s",null,true,[],[{"sessionid":"in array"}],{}]})",
      R"([{"response":[]}])",
      R"("response")",
      R"(17)",
      R"(null)",
      R"({})",
      R"({"response":null})",
      R"({"response":"[]"})",
      // Long strings, delivered in parts; unicode.
      R"({"response":[{"sessionid":")" + long_value +
          R"(","endtime":1,"latency":1,"errors":1,"cdn":")" + long_value + R"("}]})",
      R"({"response":[{"sessionid":")" + long_escaped +
          R"(","endtime":1,"latency":1,"errors":1,"assetname":")" + long_escaped + R"("}]})",
      R"({"response":[{")" + long_escaped +
          R"(":1,"sessionid":"k","endtime":1,"latency":1,"errors":1}]})",
      R"({"response":[{"sessionid":"\u00e9\u20ac\ud83d\ude00","endtime":1,"latency":1,"errors":1,"cdn":"été €"}]})",
      R"({"response":[{"l\u00e4tency":1,"a\"b":"2","sessionid":"u","endtime":1,"":"empty","tab\there":3,"\ud83d\ude00":"smile"}]})",
      // Whitespace everywhere; invalid bodies.
      " \n\t{ \"response\" : [ { \"sessionid\" : \"w\" , \"endtime\" : 1 , \"latency\" : 1 , "
      "\"errors\" : 1 } ] } \r\n",
      "",
      " ",
      "<html>502</html>",
      R"({"response":[]} x)",
      R"({"response":[]}{})",
      R"({"response":[{"sessionid":"a","endtime":1,"latency":1,"errors":1}],"x":})",
      R"({"response":[{"sessionid":"a","endtime":1,"latency":1,"errors":1}],})",
      R"({"response":[{"sessionid":"a","endtime":1,"latency":1,"errors":1},]})",
      R"({"response":[{"sessionid":"a","endtime":01}]})",
      R"({"response":[{"sessionid":"a\x"}]})",
      R"({"response":[{"sessionid":"\ud800"}]})",
      "{\"response\":[{\"sessionid\":\"\xff\"}]}",
      "{\"response\":[{\"sessionid\":\"a\nb\"}]}",
      R"({"response":[]} // comment)",
      std::string(40, '[') + std::string(40, ']'),
      R"({"response":[)" + std::string(40, '[') + std::string(40, ']') + "]}",
  };
  for (const fetch::row_schema& schema : schemas())
    for (const std::string& body : bodies) EXPECT_TRUE(same_as_dom(body, schema));
}

TEST(PageScan, MatchesTheDomOnRandomPages) {
  page_writer w(20240611);
  const std::vector<fetch::row_schema> all = schemas();
  std::size_t rows = 0, kept = 0, pages_ok = 0;
  for (int i = 0; i < 600; ++i) {
    const fetch::row_schema& schema = all[w.below(all.size())];
    const std::string body = w.page(schema, 12);
    fetch::page_result want = dom_parse_page(body, schema);
    ASSERT_TRUE(same_result(fetch::parse_page(body, schema), want, body)) << "page " << i;
    if (want) {
      ++pages_ok;
      rows += want.value->rows_in_page;
      kept += want.value->rows.size();
    }
  }
  // The generator must exercise what it is for: thousands of rows, mostly readable pages.
  EXPECT_GT(rows, 2500u);
  EXPECT_GT(kept, 1000u);
  EXPECT_GT(pages_ok, 500u);
}

TEST(PageScan, FailsLikeTheDomOnEveryCutOfAPage) {
  page_writer w(7);
  const fetch::row_schema schema = usual_schema();
  std::string body;
  while (body.size() < 3000 || body.size() > 6000 || !dom_parse_page(body, schema))
    body = w.page(schema, 10);
  // Both report the parser's error code (the scanner runs the same basic_parser the DOM is
  // built with, and fails no event itself), so even the messages must be equal.
  std::size_t errors = 0;
  for (std::size_t cut = 0; cut < body.size(); ++cut) {
    const std::string_view part = std::string_view(body).substr(0, cut);
    fetch::page_result want = dom_parse_page(part, schema);
    ASSERT_TRUE(same_result(fetch::parse_page(part, schema), want, part)) << "cut at " << cut;
    errors += want ? 0 : 1;
  }
  EXPECT_GE(errors + 2, body.size());  // only trailing whitespace may be cut harmlessly
}

TEST(PageScan, MatchesTheDomOnCorruptedPages) {
  page_writer w(99);
  const fetch::row_schema schema = usual_schema();
  const std::string junk = "{}[]\",:\\ 0-.eEnul1x\xc3";
  for (int i = 0; i < 3000; ++i) {
    std::string body = w.page(schema, 4);
    const std::size_t at = w.below(body.size());
    const char c = junk[w.below(junk.size())];
    switch (w.below(3)) {
      case 0:
        body[at] = c;
        break;
      case 1:
        body.insert(body.begin() + static_cast<std::ptrdiff_t>(at), c);
        break;
      default:
        body.erase(at, 1);
    }
    ASSERT_TRUE(same_as_dom(body, schema)) << "mutation " << i;
  }
}

// ---------------------------------------------------------------------------------------
// scan_page itself

TEST(PageScan, CallbackSeesTheRowsParsePageReturnsInOrder) {
  page_writer w(31337);
  const std::vector<fetch::row_schema> all = schemas();
  std::size_t compared = 0;
  for (int i = 0; i < 500; ++i) {
    const fetch::row_schema& schema = all[w.below(all.size())];
    const std::string body = w.page(schema, 12);
    std::vector<fetch::session_row> seen;
    fetch::scan_result s = fetch::scan_page(
        body, schema, [&seen](const fetch::session_row& r) { seen.push_back(r); },
        [&seen] { seen.clear(); });
    fetch::page_result p = fetch::parse_page(body, schema);
    ASSERT_EQ(s.error, p.error);
    if (!p) continue;
    ASSERT_TRUE(s);
    EXPECT_EQ(s.value->rows_in_page, p.value->rows_in_page);
    EXPECT_EQ(s.value->skipped, p.value->skipped);
    ASSERT_EQ(seen.size(), p.value->rows.size()) << excerpt(body);
    for (std::size_t k = 0; k < seen.size(); ++k, ++compared)
      ASSERT_TRUE(same_row(seen[k], p.value->rows[k])) << "row " << k;
  }
  EXPECT_GT(compared, 1000u);
}

TEST(PageScan, TheReusedRowIsRefilledForEveryRow) {
  const fetch::row_schema schema = usual_schema();
  // The second row lacks every field and has a shorter id, the fourth a number for one:
  // nothing of a previous row may show through.
  const std::string body = R"({"response":[
      {"sessionid":"a-long-session-id","endtime":10,"latency":1.5,"errors":2,"cdn":"edgeA","assetname":"Movie","watchtime":600,"country":"FR"},
      {"sessionid":"b","endtime":20,"latency":3,"errors":4},
      {"sessionid":"skipped","endtime":25,"latency":"x","errors":4,"cdn":"edgeS"},
      {"sessionid":"c","endtime":30,"latency":5,"errors":6,"cdn":{"name":"edgeC"},"watchtime":7}]})";
  std::vector<std::string> seen;
  fetch::scan_result r = fetch::scan_page(body, schema, [&seen](const fetch::session_row& row) {
    std::string s = row.sessionid + "@" + rules::format_number(row.endtime);
    for (double m : row.metrics) s += " " + rules::format_number(m);
    for (const std::string& f : row.fields) s += "|" + f;
    seen.push_back(s);
  });
  ASSERT_TRUE(r) << r.error;
  EXPECT_EQ(seen, (std::vector<std::string>{"a-long-session-id@10 1.5 2|edgeA|Movie|600|FR",
                                            "b@20 3 4||||", "c@30 5 6|||7|"}));
  EXPECT_EQ(r.value->rows_in_page, 4u);
  EXPECT_EQ(r.value->skipped[static_cast<std::size_t>(fetch::skip_reason::not_a_number)], 1u);
}

TEST(PageScan, ABodyFoundBadAfterItsRowsIsAnErrorAndItsRowsAreToBeDiscarded) {
  const fetch::row_schema schema = usual_schema();
  int rows = 0;
  fetch::scan_result r = fetch::scan_page(
      R"({"response":[{"sessionid":"a","endtime":1,"latency":1,"errors":1}],"totalcount":)", schema,
      [&rows](const fetch::session_row&) { ++rows; });
  EXPECT_FALSE(r);
  EXPECT_EQ(r.error.rfind("response is not JSON: ", 0), 0u) << r.error;
  EXPECT_EQ(rows, 1);  // handed over before the end was seen: the header says to discard it
}

TEST(PageScan, ASecondResponseArrayTakesBackTheRowsOfTheFirst) {
  const fetch::row_schema schema = usual_schema();
  const std::string body =
      R"({"response":[{"sessionid":"old","endtime":1,"latency":1,"errors":1}],"totalcount":2,)"
      R"("response":[{"sessionid":"new","endtime":2,"latency":2,"errors":2},7]})";
  std::vector<std::string> ids;
  int restarts = 0;
  fetch::scan_result r = fetch::scan_page(
      body, schema, [&ids](const fetch::session_row& row) { ids.push_back(row.sessionid); },
      [&] {
        ++restarts;
        ids.clear();
      });
  ASSERT_TRUE(r) << r.error;
  EXPECT_EQ(restarts, 1);
  EXPECT_EQ(ids, std::vector<std::string>{"new"});
  EXPECT_EQ(r.value->rows_in_page, 2u);
  EXPECT_EQ(r.value->skipped[static_cast<std::size_t>(fetch::skip_reason::not_an_object)], 1u);
  EXPECT_TRUE(same_as_dom(body, schema));

  // A caller that cannot take rows back gets an error rather than rows the DOM would not read.
  EXPECT_EQ(fetch::scan_page(body, schema, [](const fetch::session_row&) {}).error,
            "response has more than one \"response\" array");
  // Nothing to take back: no restart, no error.
  const std::string first_empty =
      R"({"response":[],"response":[{"sessionid":"n","endtime":2,"latency":2,"errors":2}]})";
  EXPECT_TRUE(fetch::scan_page(first_empty, schema, [](const fetch::session_row&) {}));
  EXPECT_TRUE(same_as_dom(first_empty, schema));
}

TEST(PageScan, ClaimedRowsIsTheLargestTopLevelCounterAndOnlyAHint) {
  const fetch::row_schema schema = usual_schema();
  const std::string rows = R"("response":[{"sessionid":"a","endtime":1,"latency":1,"errors":1}])";
  const struct {
    std::string body;
    std::size_t claimed;
  } cases[] = {
      {"{" + rows + "}", 0},
      {R"({"totalcount":9860,"pagecount":10,)" + rows + "}", 9860},  // counters before
      {"{" + rows + R"(,"totalcount":10,"pagecount":9860})", 9860},  // the other generation
      {R"({"totalrecords":123456,)" + rows + R"(,"totalcount":7})", 123456},
      {R"({"totalcount":0,"pagecount":-5,)" + rows + "}", 0},          // lying or negative
      {R"({"totalcount":"9860",)" + rows + "}", 0},                     // not an integer
      {R"({"totalcount":98.6,)" + rows + "}", 0},
      {R"({"meta":{"totalcount":9860},)" + rows + "}", 0},              // not at top level
      {R"({"totalcount":18446744073709551615,)" + rows + "}", 18446744073709551615u},
      {R"({"totalcount":50,"response":[],)" + rows + "}", 50},          // survives a restart
  };
  for (const auto& c : cases) {
    fetch::scan_result r = fetch::scan_page(c.body, schema, [](const fetch::session_row&) {});
    ASSERT_TRUE(r) << c.body << ": " << r.error;
    EXPECT_EQ(r.value->claimed_rows, c.claimed) << c.body;
    EXPECT_EQ(r.value->rows_in_page, 1u) << c.body;  // the rows are read all the same
  }
}
