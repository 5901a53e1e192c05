// Internal to qoewatch_http: one HTTP/1.1 connection (plain TCP or TLS over TCP) and the
// per-step work of an exchange, each step under its own timeout. The pool, the deadline and
// the retry policy live in client.cpp. Includes Beast: never include this from client.hpp.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "http/client.hpp"

namespace qoewatch::http::detail {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using beast_request = beast::http::request<beast::http::string_body>;

/// Largest response header block accepted.
inline constexpr std::size_t max_header_bytes = 64u << 10;
// How much one read may take from the socket.
inline constexpr std::size_t read_buffer_bytes = 64u << 10;

/// "host:port" as written in messages and the Host header ("[::1]:8080" for IPv6).
std::string authority(const origin& o);

/// The Host header value: the port only when it is not the scheme's default.
std::string host_header(const origin& o);

/// "2s" for whole seconds, "1500ms" otherwise.
std::string format_duration(std::chrono::milliseconds d);

/// Where an exchange is; names the step in timeout messages.
enum class step { connect, handshake, write, wait_response, read_body };

/// "connecting to", "during the TLS handshake with", ... (followed by host:port).
std::string_view describe(step s);

/// The TLS client context for `opts` (peer verification with the system store or
/// opts.ca_file), or a failure_kind::tls naming what could not be loaded.
std::variant<ssl::context, failure> make_tls_context(const client_options& opts);

/// What one exchange on one connection produced.
struct exchange_outcome {
  result res;
  bool reusable = false;  // the connection can carry another request
  bool stale = false;     // failed before any response byte (not a timeout): safe to resend
};

/// One connection to the origin. Not thread-safe. Timeouts are enforced with
/// beast::tcp_stream::expires_after; a pending operation also stops on terminal cancellation.
class connection {
 public:
  /// `tls` null: plain TCP. Otherwise it must outlive the connection.
  connection(net::any_io_executor ex, ssl::context* tls);

  /// TCP connect to one of `endpoints`, then the TLS handshake (SNI, peer and host name
  /// checks), together bounded by `timeout`. Updates `current` as it goes.
  net::awaitable<std::optional<failure>> open(const tcp::resolver::results_type& endpoints,
                                              const origin& o, std::chrono::milliseconds timeout,
                                              step& current);

  /// Writes `req` and reads the whole response; each write and each read under io_timeout.
  net::awaitable<exchange_outcome> exchange(beast_request& req, const origin& o,
                                            const client_options& opts, step& current);

  /// Closes the socket; pending operations complete with an error.
  void close();

 private:
  template <class Stream>
  net::awaitable<exchange_outcome> exchange_on(Stream& stream, beast_request& req, const origin& o,
                                               const client_options& opts, step& current);

  beast::tcp_stream& tcp_layer();

  std::optional<beast::tcp_stream> plain_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
  beast::flat_buffer buffer_;
};

}  // namespace qoewatch::http::detail
