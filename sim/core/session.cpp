#include "core/session.hpp"

#include <charconv>
#include <cmath>

#include "core/json_text.hpp"
#include "core/tables.hpp"

namespace qoewatch::sim {

session_status status_at(std::int64_t starttime, std::int64_t endtime, std::int64_t now) {
  if (endtime <= now) return session_status::ended;
  if (starttime <= now) return session_status::running;
  return session_status::pending;
}

std::string_view to_string(session_status s) {
  switch (s) {
    case session_status::ended:
      return "ENDED";
    case session_status::running:
      return "RUNNING";
    case session_status::pending:
      return "PENDING";
  }
  return "PENDING";
}

namespace {

// The whole text must be a finite decimal number; a leading '+' and surrounding spaces are
// not accepted, so "7.4" counts and " 7.4", "7.4s", "nan" do not.
std::optional<double> parse_number(std::string_view s) {
  if (s.empty()) return std::nullopt;
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || ptr != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<double> number_of_json(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::int64:
      return static_cast<double>(v.get_int64());
    case boost::json::kind::uint64:
      return static_cast<double>(v.get_uint64());
    case boost::json::kind::double_:
      return v.get_double();
    case boost::json::kind::string:
      return parse_number(v.get_string());
    default:
      return std::nullopt;
  }
}

}  // namespace

std::optional<double> number_of(const field& f) {
  struct visitor {
    std::optional<double> operator()(std::monostate) const { return std::nullopt; }
    std::optional<double> operator()(std::int64_t v) const { return static_cast<double>(v); }
    std::optional<double> operator()(double v) const { return v; }
    std::optional<double> operator()(std::string_view v) const { return parse_number(v); }
    std::optional<double> operator()(const std::string& v) const { return parse_number(v); }
    std::optional<double> operator()(const boost::json::value* v) const {
      return number_of_json(*v);
    }
  };
  return std::visit(visitor{}, f);
}

std::optional<std::string_view> text_of(const field& f, std::string& scratch) {
  struct visitor {
    std::string& scratch;
    std::optional<std::string_view> operator()(std::monostate) const { return std::nullopt; }
    std::optional<std::string_view> operator()(std::int64_t v) const {
      scratch = std::to_string(v);
      return scratch;
    }
    std::optional<std::string_view> operator()(double v) const {
      scratch = number_text(v);
      return scratch;
    }
    std::optional<std::string_view> operator()(std::string_view v) const { return v; }
    std::optional<std::string_view> operator()(const std::string& v) const { return v; }
    std::optional<std::string_view> operator()(const boost::json::value* v) const {
      switch (v->kind()) {
        case boost::json::kind::string:
          return std::string_view{v->get_string()};
        case boost::json::kind::int64:
          return (*this)(v->get_int64());
        case boost::json::kind::uint64:
          scratch = std::to_string(v->get_uint64());
          return scratch;
        case boost::json::kind::double_:
          return (*this)(v->get_double());
        default:
          return std::nullopt;
      }
    }
  };
  return std::visit(visitor{scratch}, f);
}

boost::json::value json_of(const field& f) {
  struct visitor {
    boost::json::value operator()(std::monostate) const { return nullptr; }
    boost::json::value operator()(std::int64_t v) const { return v; }
    boost::json::value operator()(double v) const { return v; }
    boost::json::value operator()(std::string_view v) const { return boost::json::string(v); }
    boost::json::value operator()(const std::string& v) const { return boost::json::string(v); }
    boost::json::value operator()(const boost::json::value* v) const { return *v; }
  };
  return std::visit(visitor{}, f);
}

std::string session_id_text(std::uint64_t id) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = digits[id & 0xf];
    id >>= 4;
  }
  return out;
}

field get_field(const generated_session& s, std::string_view name, std::int64_t now) {
  const device_profile& d = device_profiles()[s.device_profile];
  const location& l = locations()[s.location];
  const asset& a = assets()[s.asset];
  const generated_metrics& m = s.m;
  // Ordered roughly by how often queries ask for them.
  if (name == "sessionid") return session_id_text(s.id);
  if (name == "endtime") return s.endtime;
  if (name == "starttime") return s.starttime;
  if (name == "latency") return m.latency;
  if (name == "cirrbufferingratio") return m.cirrbufferingratio;
  if (name == "bufferingratio") return m.bufferingratio;
  if (name == "qualityofexperience") return m.qualityofexperience;
  if (name == "playdur") return m.playdur;
  if (name == "cdn_change_rate") return m.cdn_change_rate;
  if (name == "errors") return m.errors;
  if (name == "fatalerrors") return m.fatalerrors;
  if (name == "watchtime") return m.watchtime;
  if (name == "status") return to_string(status_at(s.starttime, s.endtime, now));
  if (name == "platform") return d.platform;
  if (name == "device") return d.device;
  if (name == "player") return d.player;
  if (name == "brand") return d.brand;
  if (name == "model") return d.model;
  if (name == "country") return l.country;
  if (name == "city") return l.city;
  if (name == "cdn") return cdns()[s.cdn].name;
  if (name == "sourcetype") return sourcetypes()[s.sourcetype].name;
  if (name == "assetname") return a.name;
  if (name == "assetid") return a.id;
  if (name == "subscriberid") {
    std::string id = std::to_string(s.subscriber);
    return "sub" + std::string(id.size() < 6 ? 6 - id.size() : 0, '0') + id;
  }
  if (name == "deviceid") return session_id_text(s.deviceid).substr(4);
  return std::monostate{};
}

field get_field(const control_session& s, std::string_view name, std::int64_t now) {
  if (const boost::json::value* v = s.fields.if_contains(name)) return v;
  if (name == "starttime") return s.starttime;
  if (name == "status") return to_string(status_at(s.starttime, s.endtime, now));
  return std::monostate{};
}

}  // namespace qoewatch::sim
