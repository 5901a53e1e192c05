// A small HTTP/1.1 server on an Asio executor: the one under the daemon's web server and the
// simulator's. It listens on one address (port 0 picks a free one) and runs one coroutine per
// connection: the TLS handshake when a TLS context is set (a connection keeps the context it
// was accepted with, so a new one can be swapped in for later connections), then requests read
// under a header cap, a body cap and an idle timeout, each handed to a handler. The handler
// answers with a response (keep-alive as the request asks) or takes the connection over: it
// writes raw bytes, or resets it, and the connection ends after it.
//
// Failures: listen() returns what went wrong as a value. A connection whose peer goes away,
// idles out or fails the TLS handshake just ends; a request that cannot be read (too large,
// malformed) is offered to handler::malformed for a last answer before the connection closes.
// A handler that throws ends its connection only. options.log (if set) hears of failed
// accepts, failed TLS handshakes and what handlers threw.
// Not thread-safe: use from the one thread running the executor. Beast stays in server.cpp.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace boost::asio::ssl {
class context;
}

namespace qoewatch::http {

class server {
 public:
  struct options {
    std::string name;                       // the Server header of every answer; empty: none
    std::size_t header_limit = 8u << 10;    // bytes of request line and header fields
    std::size_t body_limit = 0;             // 0: requests carry no body; otherwise
                                            // "Expect: 100-continue" is answered too
    std::chrono::seconds idle_timeout{60};  // waiting for a request; writing an answer
    std::chrono::seconds handshake_timeout{10};
    std::chrono::seconds tls_shutdown_timeout{10};  // the close_notify exchange at the end
    std::function<void(std::string_view)> log;      // one line per event; null: silent
  };

  struct request {
    std::string method;  // as sent: "GET"
    std::string target;  // path and query
    unsigned version = 11;
    bool keep_alive = true;
    std::vector<std::pair<std::string, std::string>> headers;  // as sent, in order
    std::string body;

    /// The value of the first header named `name` (any case), or nullptr.
    const std::string* header(std::string_view name) const;
  };

  struct response {
    unsigned status = 200;
    std::string content_type;  // empty: no Content-Type
    std::string body;
    // Sent after Server, Content-Type, Connection and Content-Length, in this order.
    std::vector<std::pair<std::string, std::string>> headers;
  };

  /// Why a request could not be read.
  enum class bad_request { body_too_large, header_too_large, malformed };

  /// The connection a request came on, for a handler that takes it over. Valid during
  /// handler::handle only.
  class connection {
   public:
    /// Writes `bytes` as they are (through TLS on HTTPS) within `timeout`; false when the
    /// peer is gone or the time ran out.
    virtual boost::asio::awaitable<bool> write_raw(std::string_view bytes,
                                                   std::chrono::milliseconds timeout) = 0;

    /// Writes the status line and header `res` would be sent with (Content-Length of its
    /// body included) but not the body, within the idle timeout; false on failure.
    virtual boost::asio::awaitable<bool> write_head(const response& res) = 0;

    /// Resets the connection (TCP RST) at once.
    virtual void reset() = 0;

    /// The executor the connection runs on (for timers).
    virtual boost::asio::any_io_executor executor() = 0;

   protected:
    ~connection() = default;
  };

  class handler {
   public:
    virtual ~handler() = default;

    /// Answers `req`: a response for the server to send, or std::nullopt when the handler
    /// took the connection over (wrote its own bytes, or reset it); the server then ends the
    /// connection. Runs on the server's executor; may await.
    virtual boost::asio::awaitable<std::optional<response>> handle(const request& req,
                                                                   connection& conn) = 0;

    /// A request that could not be read (`reason`: the parser's words). A response is sent as
    /// HTTP/1.1 with "Connection: close" within 5 s; std::nullopt (the default) closes the
    /// connection silently.
    virtual std::optional<response> malformed(bad_request what, const std::string& reason);
  };

  struct listen_failure {
    bool resolving = false;  // the host did not resolve; otherwise binding or listening failed
    std::string endpoint;    // what could not be bound: "127.0.0.1:80", "[::1]:80"
    std::string reason;      // the system's message
  };

  /// `h` answers every request; it lives as long as a connection needs it.
  server(boost::asio::any_io_executor ex, options opts, std::shared_ptr<handler> h);
  ~server();  // stop()
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds `host` (an address, or a name resolved once: its first address) and `port` (0: any
  /// free port) and starts accepting. Call once.
  std::optional<listen_failure> listen(const std::string& host, std::uint16_t port);

  /// Connections accepted from now on use `ctx` for TLS; null: plain HTTP. Connections
  /// already open keep what they had.
  void use_tls(std::shared_ptr<boost::asio::ssl::context> ctx);

  /// The bound port (after a successful listen()).
  std::uint16_t port() const;

  /// The bound address as "127.0.0.1:8080" or "[::1]:8080".
  std::string local_endpoint() const;

  /// Stops accepting and closes every open connection; answers still being made are not
  /// sent.
  void stop();

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace qoewatch::http
