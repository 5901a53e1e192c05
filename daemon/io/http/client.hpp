// An HTTP/1.1 client for one origin (scheme, host, port) on an Asio executor, with C++20
// coroutines: keep-alive connections reused across requests, at most `max_connections`
// requests in flight (others wait their turn), timeouts on every network step, a deadline on
// the whole exchange and a cap on the response body. HTTPS through OpenSSL with peer
// verification (system trust store, or a given CA file), SNI and host name check.
//
// Expected failures (DNS, refused, TLS, timeout, oversized or malformed response) are values,
// never exceptions. Messages never contain header values (the API key travels in one).
// Not thread-safe: use from the one thread running the executor.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace qoewatch::http {

struct origin {
  bool tls = false;
  std::string host;  // name or address; used for SNI and certificate checks
  std::string port;  // "443", "80", ...
};

/// Splits "https://host[:port][/path]" into an origin; std::nullopt when it is not one.
std::optional<origin> parse_origin(std::string_view url);

struct client_options {
  std::chrono::milliseconds connect_timeout{10'000};  // resolve excluded, TCP + TLS handshake
  std::chrono::milliseconds io_timeout{15'000};       // each write, each read
  std::chrono::milliseconds deadline{15'000};         // the whole exchange, resolve excluded
  std::size_t max_body_bytes = 64u << 20;
  std::size_t max_connections = 4;
  std::string ca_file;  // HTTPS: trust these instead of the system store; empty: system store
  std::string user_agent = "qoewatch";
};

struct request {
  std::string method = "GET";  // GET or POST
  std::string target;          // path and query, e.g. "/mm-apis/listsessions/1?..."
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // POST body; Content-Type belongs in headers
};

struct response {
  unsigned status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case

  /// The first header named `name` (lower-case), or nullptr.
  const std::string* header(std::string_view name) const;
};

enum class failure_kind { resolve, connect, tls, timeout, too_large, protocol, closed };

struct failure {
  failure_kind kind = failure_kind::protocol;
  std::string message;  // e.g. "timed out reading the response from smartsight.example:443"
};

using result = std::variant<response, failure>;

/// One line for a log: "HTTP 200, 1234 bytes", or the failure's message.
std::string describe(const result& r);

class client {
 public:
  client(boost::asio::any_io_executor ex, origin o, client_options opts);
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// Sends `req` and reads the whole response (any status is a response, not a failure).
  /// Reuses an idle keep-alive connection when there is one; a request that fails on a reused
  /// connection before any response byte arrives is retried once on a fresh connection.
  /// Waits while max_connections requests are in flight.
  boost::asio::awaitable<result> send(request req);

  /// Closes idle connections and fails waiting requests with failure_kind::closed; requests
  /// in flight finish. Call before destroying the executor's context.
  void close();

  /// close(), and also aborts the requests in flight: their connections are closed and they
  /// complete with a failure at once. For shutting down after a grace period.
  void abort();

  const origin& where() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace qoewatch::http
