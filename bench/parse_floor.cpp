// bench_parse_floor: the parse floors of `bench/run`. Parses saved listsessions pages with
// the JSON library qoewatchd uses, Boost.JSON, and touches every value of every row, with no
// evaluation: what reading the pages costs at the least, in CPU. Two ways:
//   parse_cpu_s   boost::json::parse into a DOM (in a monotonic arena reused page after
//                 page), then every row walked: the parse floor.
//   stream_cpu_s  boost::json::basic_parser, the parser fetch::scan_page drives, with a
//                 handler that touches every key and value and builds nothing: the lowest
//                 cost any reader built on Boost.JSON can reach.
//
//   bench_parse_floor [--repeat N] FILE...
//
// Each file is read into memory first; only parsing and touching is timed, with the thread's
// CPU clock. With --repeat N every file is parsed N times and the fastest pass is reported.
// Prints one line:
//   pages=P bytes=B rows=R values=V parse_cpu_s=S parse_wall_s=W checksum=C stream_rows=R
//   stream_cpu_s=S
// Exit 1 when a file cannot be read or is not a page ({"response":[...]}), 2 for usage.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace {

namespace json = boost::json;

double clock_seconds(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct totals {
  std::uint64_t rows = 0;
  std::uint64_t values = 0;
  std::uint64_t checksum = 0;  // keeps the touching from being optimised away
};

// Touches one value the way an evaluator must at the least: look at its kind and payload.
void touch(const json::value& v, totals& t) {
  ++t.values;
  switch (v.kind()) {
    case json::kind::string:
      t.checksum += v.get_string().size();
      break;
    case json::kind::double_:
      t.checksum += static_cast<std::uint64_t>(v.get_double() * 1000.0);
      break;
    case json::kind::int64:
      t.checksum += static_cast<std::uint64_t>(v.get_int64());
      break;
    case json::kind::uint64:
      t.checksum += v.get_uint64();
      break;
    default:
      t.checksum += 1;
      break;
  }
}

// Parses one page and touches every row; false when it is not a page.
bool parse_and_touch(std::string_view body, totals& t) {
  boost::system::error_code ec;
  // A reused arena per thread: one allocation per page, not per value.
  thread_local std::vector<unsigned char> buffer;
  if (buffer.size() < body.size() * 2 + 4096) buffer.resize(body.size() * 2 + 4096);
  json::monotonic_resource arena(buffer.data(), buffer.size());
  json::value doc = json::parse(body, ec, &arena);
  if (ec) return false;
  const json::object* top = doc.if_object();
  if (!top) return false;
  const json::value* list = top->if_contains("response");
  if (!list || !list->is_array()) return false;
  for (const json::value& row : list->get_array()) {
    ++t.rows;
    if (const json::object* o = row.if_object())
      for (const json::key_value_pair& kv : *o) {
        t.checksum += kv.key().size();
        touch(kv.value(), t);
      }
  }
  return true;
}

// The streaming floor: boost::json::basic_parser (what fetch::scan_page drives) with a
// handler that touches every key and value and counts the rows, and builds nothing. No
// reader built on this parser can cost less.
struct touching_handler {
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);
  totals* t = nullptr;
  int depth = 0;
  using ec_t = boost::system::error_code;
  bool on_document_begin(ec_t&) { return true; }
  bool on_document_end(ec_t&) { return true; }
  bool on_object_begin(ec_t&) {
    if (++depth == 3) ++t->rows;  // {"response":[ {row}, ... ]}
    return true;
  }
  bool on_object_end(std::size_t, ec_t&) {
    --depth;
    return true;
  }
  bool on_array_begin(ec_t&) {
    ++depth;
    return true;
  }
  bool on_array_end(std::size_t, ec_t&) {
    --depth;
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, ec_t&) {
    t->checksum += s.size();
    return true;
  }
  bool on_key(json::string_view s, std::size_t, ec_t&) {
    t->checksum += s.size();
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, ec_t&) {
    t->checksum += s.size();
    return true;
  }
  bool on_string(json::string_view s, std::size_t, ec_t&) {
    ++t->values;
    t->checksum += s.size();
    return true;
  }
  bool on_number_part(json::string_view, ec_t&) { return true; }
  bool on_int64(std::int64_t v, json::string_view, ec_t&) {
    ++t->values;
    t->checksum += static_cast<std::uint64_t>(v);
    return true;
  }
  bool on_uint64(std::uint64_t v, json::string_view, ec_t&) {
    ++t->values;
    t->checksum += v;
    return true;
  }
  bool on_double(double v, json::string_view, ec_t&) {
    ++t->values;
    t->checksum += static_cast<std::uint64_t>(v * 1000.0);
    return true;
  }
  bool on_bool(bool, ec_t&) {
    ++t->values;
    return true;
  }
  bool on_null(ec_t&) {
    ++t->values;
    return true;
  }
  bool on_comment_part(json::string_view, ec_t&) { return true; }
  bool on_comment(json::string_view, ec_t&) { return true; }
};

bool stream_and_touch(std::string_view body, totals& t) {
  json::basic_parser<touching_handler> p{json::parse_options{}};
  p.handler().t = &t;
  boost::system::error_code ec;
  p.write_some(false, body.data(), body.size(), ec);
  return !ec;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> files;
  int repeat = 1;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--repeat" && i + 1 < argc) {
      repeat = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--help" || a.starts_with("--")) {
      std::cerr << "usage: bench_parse_floor [--repeat N] FILE...\n";
      return a == "--help" ? 0 : 2;
    } else {
      files.emplace_back(a);
    }
  }
  if (files.empty()) {
    std::cerr << "usage: bench_parse_floor [--repeat N] FILE...\n";
    return 2;
  }

  std::uint64_t bytes = 0;
  totals result;
  totals streamed;
  double best_cpu = std::numeric_limits<double>::max();
  double best_stream_cpu = std::numeric_limits<double>::max();
  double best_wall = 0;
  std::string body;
  for (int pass = 0; pass < repeat; ++pass) {
    totals t;
    totals st;
    double cpu = 0;
    double stream_cpu = 0;
    double wall = 0;
    bytes = 0;
    for (const std::string& f : files) {
      std::ifstream in(f, std::ios::binary);
      if (!in) {
        std::cerr << "bench_parse_floor: cannot read " << f << "\n";
        return 1;
      }
      body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      bytes += body.size();
      const double c0 = clock_seconds(CLOCK_THREAD_CPUTIME_ID);
      const double w0 = clock_seconds(CLOCK_MONOTONIC);
      const bool ok = parse_and_touch(body, t);
      cpu += clock_seconds(CLOCK_THREAD_CPUTIME_ID) - c0;
      wall += clock_seconds(CLOCK_MONOTONIC) - w0;
      const double s0 = clock_seconds(CLOCK_THREAD_CPUTIME_ID);
      const bool streamed_ok = stream_and_touch(body, st);
      stream_cpu += clock_seconds(CLOCK_THREAD_CPUTIME_ID) - s0;
      if (!ok || !streamed_ok) {
        std::cerr << "bench_parse_floor: " << f << " is not a listsessions page\n";
        return 1;
      }
    }
    if (cpu < best_cpu) {
      best_cpu = cpu;
      best_wall = wall;
    }
    best_stream_cpu = std::min(best_stream_cpu, stream_cpu);
    result = t;
    streamed = st;
  }
  std::printf(
      "pages=%zu bytes=%llu rows=%llu values=%llu parse_cpu_s=%.4f parse_wall_s=%.4f "
      "checksum=%llu stream_rows=%llu stream_cpu_s=%.4f\n",
      files.size(), static_cast<unsigned long long>(bytes),
      static_cast<unsigned long long>(result.rows), static_cast<unsigned long long>(result.values),
      best_cpu, best_wall, static_cast<unsigned long long>(result.checksum + streamed.checksum),
      static_cast<unsigned long long>(streamed.rows), best_stream_cpu);
  return 0;
}
