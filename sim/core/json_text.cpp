#include "core/json_text.hpp"

#include <array>
#include <charconv>
#include <cstdio>
#include <string_view>

namespace qoewatch::sim {

namespace {

void append_string(std::string& out, std::string_view s) {
  out += '"';
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

void append(std::string& out, const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null:
      out += "null";
      return;
    case boost::json::kind::bool_:
      out += v.get_bool() ? "true" : "false";
      return;
    case boost::json::kind::int64:
      out += std::to_string(v.get_int64());
      return;
    case boost::json::kind::uint64:
      out += std::to_string(v.get_uint64());
      return;
    case boost::json::kind::double_:
      out += number_text(v.get_double());
      return;
    case boost::json::kind::string:
      append_string(out, v.get_string());
      return;
    case boost::json::kind::array: {
      out += '[';
      bool first = true;
      for (const boost::json::value& e : v.get_array()) {
        if (!first) out += ',';
        first = false;
        append(out, e);
      }
      out += ']';
      return;
    }
    case boost::json::kind::object: {
      out += '{';
      bool first = true;
      for (const boost::json::key_value_pair& kv : v.get_object()) {
        if (!first) out += ',';
        first = false;
        append_string(out, kv.key());
        out += ':';
        append(out, kv.value());
      }
      out += '}';
      return;
    }
  }
}

}  // namespace

std::string number_text(double v) {
  if (v == 0) v = 0;  // -0 prints as 0
  std::array<char, 32> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  if (ec != std::errc{}) return "0";  // cannot happen: 32 bytes hold any double
  return std::string(buf.data(), end);
}

std::string to_json_text(const boost::json::value& v) {
  std::string out;
  append(out, v);
  return out;
}

}  // namespace qoewatch::sim
