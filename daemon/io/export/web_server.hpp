// The daemon's web server on the event loop: /metrics (Prometheus text format), /healthz (the
// process is alive and its loop turns), /readyz (config loaded, every rule polled at least
// once), Alertmanager's API v2 for silences (/api/v2/, answered by a handler) and the status
// page (/), served by http::server (one coroutine per connection, keep-alive, an 8 KiB header
// cap, bodies of at most 64 KiB; a request it cannot read closes the connection unanswered,
// but a body too large gets a 413). Optionally over HTTPS, and with HTTP basic auth (bcrypt
// hashes, as Prometheus exporters do) on everything but /healthz, which stays open for
// liveness probes. Without users the API answers only on a loopback address (see
// web_security::open_api). Passwords are checked on a
// thread of their own (bcrypt is slow on purpose), so polls never wait for a login.
// Failures are returned as messages naming the address or the web.* setting.
// Not thread-safe: use from the event loop's thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace qoewatch::metrics {

/// A request for a handler that is not the server's own (the Alertmanager API).
struct web_request {
  std::string method;  // "GET", "POST", "DELETE"; HEAD arrives as GET
  std::string target;  // path and query, as sent
  std::string body;
  std::string requester;  // for the audit trail: "user oncall", "an unauthenticated client"
};

struct web_answer {
  unsigned status = 200;
  std::string content_type;  // empty: none
  std::string body;
};

struct web_handlers {
  std::function<std::string()> metrics;    // the /metrics body
  std::function<std::string()> not_ready;  // empty when ready, else why not (for /readyz)
  // Alertmanager's API v2 (/api/v2/...); null: 404.
  std::function<boost::asio::awaitable<web_answer>(web_request)> api;
  // GET /: the status page (HTML); null: 404.
  std::function<std::string()> status_page;
};

struct web_security {
  std::string tls_cert_pem;  // PEM chain; with tls_key_pem, serve HTTPS. Both empty: HTTP
  std::string tls_key_pem;
  std::map<std::string, std::string> basic_auth_users;  // user: bcrypt hash; empty: no auth
  // Without users, the API answers only on a loopback listen address unless this is set
  // (web.allow_unauthenticated_writes): no one on the network silences the pager by accident.
  bool open_api = false;
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
