#include "config/sections.hpp"

#include <algorithm>
#include <charconv>

#include "config/common.hpp"

namespace qoewatch::config::sections {

namespace {

// "$2b$10$" + 22 characters of salt + 31 of hash, in bcrypt's base64 alphabet; $2a$ and $2y$
// (htpasswd's) are the same algorithm. Costs 04 to 31.
bool is_bcrypt_hash(std::string_view h) {
  if (h.size() != 60 || h[0] != '$' || h[1] != '2' || h[3] != '$' || h[6] != '$') return false;
  if (h[2] != 'a' && h[2] != 'b' && h[2] != 'y') return false;
  if (h[4] < '0' || h[4] > '3' || h[5] < '0' || h[5] > '9') return false;
  int cost = (h[4] - '0') * 10 + (h[5] - '0');
  if (cost < 4 || cost > 31) return false;
  return std::all_of(h.begin() + 7, h.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '/';
  });
}

}  // namespace

void listen(const yaml::node& n, std::string& out) {
  std::optional<std::string> s = n.text();
  if (!s) return;
  std::size_t colon = s->rfind(':');
  std::string host = colon == std::string::npos ? "" : s->substr(0, colon);
  std::string port = colon == std::string::npos ? "" : s->substr(colon + 1);
  int p = -1;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  bool port_ok = !port.empty() && ec == std::errc{} && ptr == port.data() + port.size() &&
                 p >= 0 && p <= 65535;
  if (host.empty() || !port_ok) {
    n.error(in_quotes(*s) +
            " is not HOST:PORT (write 0.0.0.0:9786, 127.0.0.1:9786 or [::]:9786)");
    return;
  }
  out = *s;
}

void web(const yaml::node& n, web_config& out) {
  if (!n.check_map(
          {"tls_cert_file", "tls_key_file", "basic_auth_users", "allow_unauthenticated_writes"},
          "tls_cert_file and tls_key_file, basic_auth_users, allow_unauthenticated_writes"))
    return;
  if (yaml::node v = n["allow_unauthenticated_writes"])
    if (std::optional<bool> b = v.boolean()) out.allow_unauthenticated_writes = *b;
  yaml::node cert = n["tls_cert_file"];
  yaml::node key = n["tls_key_file"];
  if (cert && !key) {
    cert.error(key.path(), "missing (tls_cert_file needs the private key that goes with it)");
  } else if (key && !cert) {
    key.error(cert.path(), "missing (tls_key_file needs the certificate that goes with it)");
  } else if (cert && key) {
    auto c = cert.secret_path();
    auto k = key.secret_path();
    if (c && k) {
      out.tls_cert_file = *c;
      out.tls_key_file = *k;
      out.tls_where = cert.where();
    }
  }
  yaml::node users = n["basic_auth_users"];
  if (!users) return;
  if (!users.is_map() || users.size() == 0) {
    users.error("must map user names to bcrypt hashes ({prometheus: $2b$10$...})");
    return;
  }
  users.for_each_entry([&](const std::string&, const yaml::node& name, const yaml::node& value) {
    const std::string user = name.yaml().IsScalar() ? name.yaml().Scalar() : std::string{};
    if (user.empty() || user.find(':') != std::string::npos ||
        std::any_of(user.begin(), user.end(),
                    [](char ch) { return static_cast<unsigned char>(ch) < 0x20; })) {
      name.error(users.path(),
                 "a user name must be non-empty text without ':' or control characters");
      return;
    }
    std::optional<std::string> hash = value.text();
    if (!hash) return;
    if (!is_bcrypt_hash(*hash)) {
      // The value may be a password written by mistake: never repeat it.
      value.error(
          "is not a bcrypt hash ($2b$, two-digit cost, 53 characters; make one with "
          "htpasswd -nBC 10 USER, and keep what follows the colon)");
      return;
    }
    out.basic_auth_users[user] = *hash;
  });
}

}  // namespace qoewatch::config::sections
