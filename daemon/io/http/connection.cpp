// One connection: connect, TLS handshake, write, read, each under its own timeout, and the
// translation of error codes into failure values with host:port and the step in the message.
#include "connection.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace qoewatch::http::detail {

namespace bhttp = beast::http;
using error_code = boost::system::error_code;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// Beast's string_body, except that a body read appends what arrives: string_body resizes
// first (zeroing every byte it is about to overwrite), which was 3.5 % of a poll reading
// 150 MB of pages.
struct appending_string_body : bhttp::string_body {
  class reader {
   public:
    template <bool is_request, class Fields>
    reader(bhttp::header<is_request, Fields>&, value_type& body) : body_(body) {}

    void init(const boost::optional<std::uint64_t>& length, error_code& ec) {
      ec = {};
      if (!length) return;
      if (*length > body_.max_size()) {
        ec = bhttp::error::buffer_overflow;
        return;
      }
      body_.reserve(static_cast<std::size_t>(*length));
    }

    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, error_code& ec) {
      ec = {};
      const std::size_t extra = net::buffer_size(buffers);
      if (extra > body_.max_size() - body_.size()) {
        ec = bhttp::error::buffer_overflow;
        return 0;
      }
      for (auto b : beast::buffers_range_ref(buffers))
        body_.append(static_cast<const char*>(b.data()), b.size());
      return extra;
    }

    void finish(error_code& ec) { ec = {}; }

   private:
    value_type& body_;
  };
};

failure timed_out(step s, std::chrono::milliseconds after, const origin& o) {
  return {failure_kind::timeout, "timed out after " + format_duration(after) + " " +
                                     std::string(describe(s)) + " " + authority(o)};
}

// OpenSSL's reason ("certificate verify failed") without asio's " (SSL routines)" suffix.
std::string reason(const error_code& ec) {
  if (ec.category() == net::error::get_ssl_category()) {
    if (const char* r = ERR_reason_error_string(static_cast<unsigned long>(ec.value()))) return r;
  }
  return ec.message();
}

bool is_http_error(const error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_version).category();
}

// The peer went away (reset, EOF, truncated TLS): the transport failed, not the protocol.
bool is_disconnect(const error_code& ec) {
  return ec == net::error::eof || ec == net::error::connection_reset ||
         ec == net::error::broken_pipe || ec == net::error::connection_aborted ||
         ec == ssl::error::stream_truncated || ec == bhttp::error::end_of_stream ||
         ec == bhttp::error::partial_message;
}

// The bytes of a response's header as received: status line, fields and the blank line.
template <class Message>
std::size_t header_size(const Message& m) {
  std::size_t n = std::string_view("HTTP/1.1 200 \r\n\r\n").size() + m.reason().size();
  for (const auto& field : m.base()) n += field.name_string().size() + field.value().size() + 4;
  return n;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string format_duration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

std::string_view describe(step s) {
  switch (s) {
    case step::connect:
      return "connecting to";
    case step::handshake:
      return "during the TLS handshake with";
    case step::write:
      return "sending the request to";
    case step::wait_response:
      return "waiting for the response from";
    case step::read_body:
      return "reading the response from";
  }
  return "talking to";
}

std::variant<ssl::context, failure> make_tls_context(const client_options& opts) {
  ssl::context ctx(ssl::context::tls_client);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  ctx.set_verify_mode(ssl::verify_peer);
  error_code ec;
  if (opts.ca_file.empty()) {
    ctx.set_default_verify_paths(ec);
    if (ec) return failure{failure_kind::tls, "cannot load the system trust store: " + reason(ec)};
    return ctx;
  }
  // OpenSSL's own error for a missing file is vague ("system lib"): check first.
  if (std::FILE* f = std::fopen(opts.ca_file.c_str(), "r")) {
    std::fclose(f);
  } else {
    return failure{failure_kind::tls,
                   "cannot read CA file " + opts.ca_file + ": " + std::strerror(errno)};
  }
  ctx.load_verify_file(opts.ca_file, ec);
  if (ec)
    return failure{failure_kind::tls, "cannot load CA file " + opts.ca_file + ": " + reason(ec)};
  return ctx;
}

connection::connection(net::any_io_executor ex, ssl::context* tls) {
  if (tls) {
    tls_.emplace(std::move(ex), *tls);
  } else {
    plain_.emplace(std::move(ex));
  }
}

beast::tcp_stream& connection::tcp_layer() {
  return plain_ ? *plain_ : tls_->next_layer();
}

void connection::close() {
  error_code ignored;
  tcp_layer().socket().close(ignored);
}

net::awaitable<std::optional<failure>> connection::open(
    const tcp::resolver::results_type& endpoints, const origin& o,
    std::chrono::milliseconds timeout, step& current) {
  auto& lowest = tcp_layer();
  // One expiry for the TCP connect and the TLS handshake together.
  lowest.expires_after(timeout);
  current = step::connect;
  auto [ec, ep] = co_await lowest.async_connect(endpoints, use_tuple);
  if (ec == beast::error::timeout) co_return timed_out(step::connect, timeout, o);
  if (ec == net::error::connection_refused) {
    co_return failure{failure_kind::connect, "connection refused by " + authority(o)};
  }
  if (ec)
    co_return failure{failure_kind::connect,
                      "cannot connect to " + authority(o) + ": " + ec.message()};

  if (tls_) {
    SSL* ssl = tls_->native_handle();
    error_code not_ip;
    net::ip::make_address(o.host, not_ip);
    if (not_ip) {
      // A name: send it as SNI and require it in the certificate.
      if (SSL_set_tlsext_host_name(ssl, o.host.c_str()) != 1 ||
          SSL_set1_host(ssl, o.host.c_str()) != 1) {
        co_return failure{failure_kind::tls, "cannot set the TLS host name for " + authority(o)};
      }
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    } else if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), o.host.c_str()) != 1) {
      // An address: no SNI (RFC 6066), the certificate must list it as an IP SAN.
      co_return failure{failure_kind::tls, "cannot set the TLS peer address for " + authority(o)};
    }
    current = step::handshake;
    auto [hec] = co_await tls_->async_handshake(ssl::stream_base::client, use_tuple);
    if (hec == beast::error::timeout) co_return timed_out(step::handshake, timeout, o);
    if (hec) {
      std::string message = "TLS handshake with " + authority(o) + " failed: " + reason(hec);
      long verify = SSL_get_verify_result(ssl);
      if (verify != X509_V_OK)
        message += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
      co_return failure{failure_kind::tls, std::move(message)};
    }
  }
  lowest.expires_never();
  co_return std::nullopt;
}

net::awaitable<exchange_outcome> connection::exchange(beast_request& req, const origin& o,
                                                      const client_options& opts, step& current) {
  if (tls_) co_return co_await exchange_on(*tls_, req, o, opts, current);
  co_return co_await exchange_on(*plain_, req, o, opts, current);
}

template <class Stream>
net::awaitable<exchange_outcome> connection::exchange_on(Stream& stream, beast_request& req,
                                                         const origin& o,
                                                         const client_options& opts,
                                                         step& current) {
  auto& lowest = tcp_layer();
  current = step::write;
  lowest.expires_after(opts.io_timeout);
  auto [wec, written] = co_await bhttp::async_write(stream, req, use_tuple);
  if (wec) {
    exchange_outcome out;
    if (wec == beast::error::timeout) {
      out.res = timed_out(step::write, opts.io_timeout, o);
    } else {
      out.res =
          failure{failure_kind::connect, "connection to " + authority(o) +
                                             " lost while sending the request: " + reason(wec)};
      // Nothing was read yet: a stale keep-alive connection looks exactly like this.
      out.stale = wec != net::error::operation_aborted;
    }
    co_return out;
  }

  current = step::wait_response;
  bhttp::response_parser<appending_string_body> parser;
  parser.body_limit(opts.max_body_bytes);
  bool got_bytes = buffer_.size() > 0;
  // Beast reads at most the buffer's free capacity, and an empty flat_buffer grows only to
  // 512 bytes: a 116 KB page took 227 reads (and as many epoll waits). 64 KiB per
  // connection makes it 2 or 3.
  if (buffer_.capacity() < read_buffer_bytes) buffer_.reserve(read_buffer_bytes);
  // Beast's header limit bounds only the header bytes it has not consumed yet, and the first
  // read's whole fields are consumed at once: with 64 KiB reads it holds at most twice the
  // cap in memory. The cap itself is checked on the parsed header (header_size).
  parser.header_limit(static_cast<std::uint32_t>(max_header_bytes));
  bool header_checked = false;
  while (!parser.is_done()) {
    // io_timeout bounds each read, so a slow but steady body is fine (the deadline caps it).
    lowest.expires_after(opts.io_timeout);
    auto [rec, parsed] = co_await bhttp::async_read_some(stream, buffer_, parser, use_tuple);
    if (parsed > 0 || buffer_.size() > 0) got_bytes = true;
    if (!rec && !header_checked && parser.is_header_done()) {
      header_checked = true;
      if (header_size(parser.get()) > max_header_bytes) rec = bhttp::error::header_limit;
    }
    if (rec) {
      exchange_outcome out;
      if (rec == beast::error::timeout) {
        out.res = timed_out(current, opts.io_timeout, o);
      } else if (rec == bhttp::error::body_limit) {
        out.res = failure{failure_kind::too_large, "response body larger than " +
                                                       std::to_string(opts.max_body_bytes) +
                                                       " bytes from " + authority(o)};
      } else if (rec == bhttp::error::header_limit) {
        out.res = failure{failure_kind::too_large, "response header larger than " +
                                                       std::to_string(max_header_bytes) +
                                                       " bytes from " + authority(o)};
      } else if (is_disconnect(rec)) {
        out.res = failure{failure_kind::connect, "connection to " + authority(o) + " closed " +
                                                     (got_bytes ? "before the end of the response"
                                                                : "without a response")};
        out.stale = !got_bytes;
      } else if (is_http_error(rec)) {
        out.res = failure{failure_kind::protocol,
                          "malformed response from " + authority(o) + ": " + rec.message()};
      } else {
        out.res = failure{failure_kind::connect,
                          "cannot read the response from " + authority(o) + ": " + reason(rec)};
        out.stale = !got_bytes && rec != net::error::operation_aborted;
      }
      co_return out;
    }
    if (parser.is_header_done()) current = step::read_body;
  }
  lowest.expires_never();

  auto& msg = parser.get();
  response res;
  res.status = msg.result_int();
  for (const auto& field : msg.base()) {
    res.headers.emplace_back(lower(field.name_string()), std::string(field.value()));
  }
  res.body = std::move(msg.body());
  exchange_outcome out;
  // HTTP/1.0 responses and "Connection: close" end the connection, as does a body that ran
  // to EOF (no length given).
  out.reusable = msg.version() == 11 && msg.keep_alive() && !parser.need_eof();
  out.res = std::move(res);
  co_return out;
}

}  // namespace qoewatch::http::detail
