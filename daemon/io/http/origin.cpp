// parse_origin and the text forms of an origin used in headers and messages.
#include <algorithm>
#include <cctype>
#include <charconv>

#include "connection.hpp"
#include "http/client.hpp"

namespace qoewatch::http {

namespace {

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  // `prefix` is lower-case.
  return std::equal(prefix.begin(), prefix.end(), text.begin(), [](char p, char t) {
    return std::tolower(static_cast<unsigned char>(t)) == static_cast<unsigned char>(p);
  });
}

// A registered name or IPv4 address: letters, digits, '-', '.', '_'.
bool valid_reg_name(std::string_view host) {
  return !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
  });
}

// The inside of "[...]": hex digits, ':' and '.' (for an embedded IPv4), at least one ':'.
bool valid_ipv6_literal(std::string_view host) {
  return host.find(':') != std::string_view::npos &&
         std::all_of(host.begin(), host.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
         });
}

// 1..65535 in decimal, normalised ("0080" is "80"); std::nullopt otherwise.
std::optional<std::string> parse_port(std::string_view port) {
  if (port.empty() || port.size() > 5) return std::nullopt;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value < 1 || value > 65535) {
    return std::nullopt;
  }
  return std::to_string(value);
}

}  // namespace

std::optional<origin> parse_origin(std::string_view url) {
  origin o;
  if (iequals_prefix(url, "https://")) {
    o.tls = true;
    url.remove_prefix(8);
  } else if (iequals_prefix(url, "http://")) {
    url.remove_prefix(7);
  } else {
    return std::nullopt;
  }

  // The authority ends at the path, the query or the fragment.
  std::string_view authority = url.substr(0, url.find_first_of("/?#"));
  std::optional<std::string> port;
  if (authority.starts_with('[')) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view host = authority.substr(1, close - 1);
    if (!valid_ipv6_literal(host)) return std::nullopt;
    o.host = host;
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = parse_port(rest.substr(1));
      if (!port) return std::nullopt;
    }
  } else {
    auto colon = authority.find(':');
    std::string_view host = authority.substr(0, colon);
    if (!valid_reg_name(host)) return std::nullopt;  // also rejects "user@host"
    o.host = host;
    if (colon != std::string_view::npos) {
      port = parse_port(authority.substr(colon + 1));
      if (!port) return std::nullopt;
    }
  }
  o.port = port ? *port : std::string(o.tls ? "443" : "80");
  return o;
}

namespace detail {

std::string authority(const origin& o) {
  std::string host = o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host;
  return host + ":" + o.port;
}

std::string host_header(const origin& o) {
  if (o.port == (o.tls ? "443" : "80")) {
    return o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host;
  }
  return authority(o);
}

}  // namespace detail

}  // namespace qoewatch::http
