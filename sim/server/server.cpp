#include "server/server.hpp"

#include <chrono>
#include <csignal>
#include <iostream>
#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace qoewatch::sim {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

constexpr auto idle_timeout = std::chrono::seconds(60);
constexpr auto handshake_timeout = std::chrono::seconds(15);
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr std::size_t max_logged_target = 300;

void log(std::string_view line) {
  std::cerr << "smartsight-sim: " << line << std::endl;
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string format_endpoint(const tcp::endpoint& ep) {
  std::string address = ep.address().to_string();
  if (ep.address().is_v6()) address = "[" + address + "]";
  return address + ":" + std::to_string(ep.port());
}

// Completion handler for co_spawn: a coroutine that throws is logged, not lost.
auto log_failure(std::string what) {
  return [what = std::move(what)](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log(what + " failed: " + ex.what());
    }
  };
}

http::response<http::string_body> make_response(unsigned status, unsigned version, bool keep_alive,
                                                std::string body) {
  http::response<http::string_body> res{static_cast<http::status>(status), version};
  res.set(http::field::server, "smartsight-sim");
  res.set(http::field::content_type, "application/json");
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

// The answers of a hostile peer, written by hand: a header that never ends, a Content-Length
// of `oversized_bytes` (the page, then spaces), a chunked body that never ends, or the page one
// byte at a time. Each
// goes on until it is done or the client gives up; the connection is not reused.
template <class Stream>
net::awaitable<void> hostile_answer(Stream& stream, const api_response& out) {
  auto& socket = beast::get_lowest_layer(stream);
  auto write = [&stream, &socket](std::string_view bytes) -> net::awaitable<bool> {
    socket.expires_after(std::chrono::seconds(30));
    auto [ec, n] =
        co_await net::async_write(stream, net::buffer(bytes.data(), bytes.size()), use_tuple);
    co_return !ec;
  };
  std::string head =
      "HTTP/1.1 200 OK\r\nServer: smartsight-sim\r\nContent-Type: "
      "application/json\r\nConnection: close\r\n";
  const std::string spaces(64u << 10, ' ');
  if (out.huge_header) {
    // 1 KiB header lines, up to 1 GiB: far past any client's header cap.
    const std::string line = "X-Filler: " + std::string(1012, 'f') + "\r\n";
    if (!co_await write(head)) co_return;
    for (int i = 0; i < (1 << 20); ++i)
      if (!co_await write(line)) co_return;
  } else if (out.endless) {
    head += "Transfer-Encoding: chunked\r\n\r\n";
    const std::string chunk = "10000\r\n" + spaces + "\r\n";  // 0x10000 bytes each
    if (!co_await write(head)) co_return;
    for (std::uint64_t sent = 0; sent < (8ull << 30); sent += spaces.size())
      if (!co_await write(chunk)) co_return;
  } else if (out.oversized_bytes > 0) {
    head += "Content-Length: " + std::to_string(out.oversized_bytes) + "\r\n\r\n";
    if (!co_await write(head) || !co_await write(out.body)) co_return;
    for (auto left = out.oversized_bytes - static_cast<std::int64_t>(out.body.size()); left > 0;
         left -= static_cast<std::int64_t>(spaces.size()))
      if (!co_await write(std::string_view(spaces).substr(
              0, static_cast<std::size_t>(std::min<std::int64_t>(left, spaces.size())))))
        co_return;
  } else {
    head += "Content-Length: " + std::to_string(out.body.size()) + "\r\n\r\n";
    if (!co_await write(head)) co_return;
    net::steady_timer pause(stream.get_executor());
    for (char c : out.body) {
      if (!co_await write(std::string_view(&c, 1))) co_return;
      pause.expires_after(std::chrono::milliseconds(out.trickle_ms));
      co_await pause.async_wait(use_tuple);
    }
  }
}

// Answers requests on one connection until the peer closes, an error, or a response that
// closes the connection.
template <class Stream>
net::awaitable<void> serve(Stream& stream, sim_api& api) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(max_header_bytes));
    parser.body_limit(max_body_bytes);
    beast::get_lowest_layer(stream).expires_after(idle_timeout);
    auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, use_tuple);
    if (!ec && parser.get()[http::field::expect] == "100-continue" && !parser.is_done()) {
      http::response<http::empty_body> cont{http::status::continue_, parser.get().version()};
      auto [wec, wn] = co_await http::async_write(stream, cont, use_tuple);
      ec = wec;
    }
    if (!ec && !parser.is_done()) {
      auto [rec, rn] = co_await http::async_read(stream, buffer, parser, use_tuple);
      ec = rec;
    }
    if (ec) {
      // A malformed or oversized request gets an answer; a closed or idle one does not.
      unsigned status = 0;
      if (ec == http::error::body_limit)
        status = 413;
      else if (ec == http::error::header_limit)
        status = 431;
      else if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
               ec != http::error::end_of_stream && ec != http::error::partial_message)
        status = 400;
      if (status != 0) {
        api.count(status);
        log("malformed request (" + ec.message() + ") -> " + std::to_string(status));
        auto res =
            make_response(status, 11, false,
                          error_body(status == 413   ? "request body too large"
                                     : status == 431 ? "request header too large"
                                                     : "malformed request: " + ec.message()));
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
        co_await http::async_write(stream, res, use_tuple);
      }
      co_return;
    }

    http::request<http::string_body>& req = parser.get();
    api_request in;
    in.method = req.method_string();
    in.target = req.target();
    if (auto it = req.find("X-API-Key"); it != req.end()) in.api_key = it->value();
    in.body = req.body();
    api_response out = api.handle(in, now_seconds());

    std::string target(req.target().substr(0, max_logged_target));
    log(std::string(req.method_string()) + " " + target + " -> " + std::to_string(out.status) +
        (out.status == 200 && out.rows ? " (" + std::to_string(out.rows) + " rows)" : "") +
        (out.fault.empty() ? "" : " [fault: " + out.fault + "]"));

    if (out.oversized_bytes > 0 || out.endless || out.trickle_ms > 0 || out.huge_header) {
      co_await hostile_answer(stream, out);
      co_return;
    }
    if (out.delay_ms > 0) {
      net::steady_timer wait(stream.get_executor(), std::chrono::milliseconds(out.delay_ms));
      co_await wait.async_wait(use_tuple);
    }
    auto res = make_response(out.status, req.version(), req.keep_alive(), std::move(out.body));
    if (!out.allow.empty()) res.set(http::field::allow, out.allow);
    if (out.retry_after >= 0) res.set(http::field::retry_after, std::to_string(out.retry_after));
    beast::get_lowest_layer(stream).expires_after(idle_timeout);
    if (out.reset) {
      // The whole header (Content-Length included), half the body, then a reset (RST).
      http::response_serializer<http::string_body> sr(res);
      auto [hec, hn] = co_await http::async_write_header(stream, sr, use_tuple);
      if (!hec) {
        std::string_view half(res.body().data(), res.body().size() / 2);
        co_await net::async_write(stream, net::buffer(half.data(), half.size()), use_tuple);
      }
      auto& socket = beast::get_lowest_layer(stream).socket();
      boost::system::error_code ignored;
      socket.set_option(net::socket_base::linger(true, 0), ignored);
      socket.close(ignored);
      co_return;
    }
    auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
    if (wec || !res.keep_alive()) co_return;
  }
}

net::awaitable<void> plain_connection(tcp::socket socket, sim_api& api) {
  beast::tcp_stream stream(std::move(socket));
  co_await serve(stream, api);
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

net::awaitable<void> tls_connection(tcp::socket socket, ssl::context& ctx, sim_api& api) {
  beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), ctx);
  beast::get_lowest_layer(stream).expires_after(handshake_timeout);
  auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, use_tuple);
  if (ec) {
    log("TLS handshake failed: " + ec.message());
    co_return;
  }
  co_await serve(stream, api);
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
  co_await stream.async_shutdown(use_tuple);
}

// Owns the acceptor so it lives exactly as long as the accept loop.
net::awaitable<void> accept_loop(tcp::acceptor acceptor, ssl::context* tls, sim_api& api) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
    if (ec == net::error::operation_aborted) co_return;
    if (ec) {
      // Out of descriptors and the like: wait a little instead of spinning.
      log("accept failed: " + ec.message());
      net::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(100));
      co_await pause.async_wait(use_tuple);
      continue;
    }
    if (tls)
      net::co_spawn(acceptor.get_executor(), tls_connection(std::move(socket), *tls, api),
                    log_failure("connection"));
    else
      net::co_spawn(acceptor.get_executor(), plain_connection(std::move(socket), api),
                    log_failure("connection"));
  }
}

}  // namespace

int run_server(const server_config& config, sim_api& api) {
  // Declared before the io_context so it outlives connection frames destroyed with it.
  std::optional<ssl::context> tls;
  if (!config.tls_cert.empty()) {
    tls.emplace(ssl::context::tls_server);
    tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    boost::system::error_code ec;
    tls->use_certificate_chain_file(config.tls_cert, ec);
    if (ec) {
      log("--tls-cert: cannot load " + config.tls_cert + ": " + ec.message());
      return 2;
    }
    tls->use_private_key_file(config.tls_key, ssl::context::pem, ec);
    if (ec) {
      log("--tls-key: cannot load " + config.tls_key + ": " + ec.message());
      return 2;
    }
  }

  net::io_context ioc{1};
  boost::system::error_code ec;
  tcp::resolver resolver(ioc);
  auto results = resolver.resolve(config.host, std::to_string(config.port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    log("--listen: cannot resolve " + config.host + ": " + ec.message());
    return 1;
  }
  tcp::endpoint endpoint = results.begin()->endpoint();
  tcp::acceptor acceptor(ioc);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    log("--listen: cannot listen on " + format_endpoint(endpoint) + ": " + ec.message());
    return 1;
  }
  // Signals are caught before the listening line is printed, so a supervisor that signals
  // right after reading it still gets a clean exit.
  net::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&ioc](const boost::system::error_code& sec, int signal) {
    if (sec) return;
    log(std::string("stopping on ") + (signal == SIGTERM ? "SIGTERM" : "SIGINT"));
    ioc.stop();
  });
  const std::string listening = "listening on " + format_endpoint(acceptor.local_endpoint());
  net::co_spawn(ioc, accept_loop(std::move(acceptor), tls ? &*tls : nullptr, api),
                log_failure("listener"));
  // Printed from inside the loop: a supervisor that signals on reading it finds the process
  // already waiting for signals in the loop. (Under ThreadSanitizer, which defers a signal
  // that arrives outside a blocking call, one sent before run() was sometimes never handled.)
  const std::string serving =
      std::string(tls ? "serving HTTPS" : "serving HTTP") + "; stop with SIGTERM or SIGINT";
  net::post(ioc, [&listening, &serving] {
    std::cout << listening << std::endl;
    log(serving);
  });
  ioc.run();
  return 0;
}

}  // namespace qoewatch::sim
