// The daemon's web server on the event loop: /metrics (Prometheus text format), /healthz (the
// process is alive and its loop turns) and /readyz (config loaded, every rule polled at least
// once), served by http::server (one coroutine per connection, keep-alive, an 8 KiB request
// cap, no request bodies; a request it cannot read closes the connection unanswered).
// Optionally over HTTPS, and with HTTP basic auth (bcrypt hashes, as Prometheus exporters do)
// on /metrics and /readyz; /healthz stays open for liveness probes. Passwords are checked on a
// thread of their own (bcrypt is slow on purpose), so polls never wait for a login.
// Failures are returned as messages naming the address or the web.* setting.
// Not thread-safe: use from the event loop's thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace qoewatch::metrics {

struct web_handlers {
  std::function<std::string()> metrics;    // the /metrics body
  std::function<std::string()> not_ready;  // empty when ready, else why not (for /readyz)
};

struct web_security {
  std::string tls_cert_pem;  // PEM chain; with tls_key_pem, serve HTTPS. Both empty: HTTP
  std::string tls_key_pem;
  std::map<std::string, std::string> basic_auth_users;  // user: bcrypt hash; empty: no auth
};

/// Why the certificate and key cannot serve HTTPS ("web.tls_key_file: ..."), or "".
std::string tls_problem(const std::string& cert_pem, const std::string& key_pem);

class web_server {
 public:
  web_server(boost::asio::any_io_executor ex, web_handlers handlers);
  ~web_server();
  web_server(const web_server&) = delete;
  web_server& operator=(const web_server&) = delete;

  /// Binds `listen` ("HOST:PORT", "[::]:PORT"; port 0 picks one) and starts accepting.
  /// Returns an error message naming the address when it cannot.
  std::string start(const std::string& listen);

  /// Serves new connections with `security` from now on (before start(), or at a reload:
  /// a renewed certificate, changed users). Connections already open keep what they had.
  /// On error (naming the web.* setting) nothing changes.
  std::string secure(const web_security& security);

  /// The bound port (after a successful start).
  std::uint16_t port() const;

  /// Stops accepting and closes open connections.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace qoewatch::metrics
