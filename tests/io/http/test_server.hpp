// A small in-process HTTP(S) server for the client tests: Beast on the test's io_context
// (one thread), listening on 127.0.0.1:0, with knobs for the misbehaviour the client must
// survive (delays, stalls, huge bodies, dropped connections) and counters that prove pooling.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <exception>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace qoewatch::http::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;

struct server_options {
  unsigned status = 200;
  std::string body = "ok";
  std::vector<std::pair<std::string, std::string>> headers;  // added to every response
  std::chrono::milliseconds delay{0};                        // before each response
  int close_after = 0;            // > 0: close the connection after this many responses, silently
  bool connection_close = false;  // say "Connection: close" but keep serving the connection
  bool http10 = false;            // answer HTTP/1.0 (with a length), keep serving
  int answer_first = -1;          // >= 0: only the first N requests (all connections) are
                                  // answered; later ones see the connection closed
  std::string raw_response;       // non-empty: write these bytes instead, then stall
  std::chrono::milliseconds drip{0};  // > 0: send the body one byte per interval
  bool silent = false;                // accept, then never read or write (not even TLS)
  ssl::context* tls = nullptr;        // serve HTTPS with this context
};

struct seen_request {
  std::string method;
  std::string target;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names as sent

  std::string header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (beast::iequals(n, name)) return v;
    }
    return "<missing>";
  }
};

struct server_stats {
  int accepted = 0;    // connections accepted
  int open = 0;        // connections open now
  int max_open = 0;    // most connections open at once
  int active = 0;      // requests being answered now
  int max_active = 0;  // most requests being answered at once
  std::vector<seen_request> requests;
};

class test_server {
 public:
  test_server(net::io_context& ioc, server_options opts)
      : state_(std::make_shared<state>()),
        acceptor_(std::make_shared<tcp::acceptor>(
            ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0))) {
    state_->opts = std::move(opts);
    net::co_spawn(ioc, accept_loop(acceptor_, state_), report);
  }
  ~test_server() { stop(); }
  test_server(const test_server&) = delete;
  test_server& operator=(const test_server&) = delete;

  std::string port() const { return std::to_string(acceptor_->local_endpoint().port()); }
  const server_stats& stats() const { return state_->stats; }

  /// Stops accepting and closes every open connection, so the io_context runs out of work.
  void stop() {
    boost::system::error_code ignored;
    acceptor_->close(ignored);
    for (auto* s : state_->streams) s->socket().close(ignored);
  }

 private:
  struct state {
    server_options opts;
    server_stats stats;
    std::set<beast::tcp_stream*> streams;
  };

  static constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

  static void report(std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      ADD_FAILURE() << "test server coroutine threw: " << x.what();
    }
  }

  // Counts a connection as open for its lifetime and lets stop() close it.
  struct registration {
    std::shared_ptr<state> st;
    beast::tcp_stream& stream;
    registration(std::shared_ptr<state> s, beast::tcp_stream& t) : st(std::move(s)), stream(t) {
      st->streams.insert(&stream);
      ++st->stats.open;
      st->stats.max_open = std::max(st->stats.max_open, st->stats.open);
    }
    ~registration() {
      st->streams.erase(&stream);
      --st->stats.open;
    }
  };

  struct activity {
    server_stats& s;
    explicit activity(server_stats& st) : s(st) {
      ++s.active;
      s.max_active = std::max(s.max_active, s.active);
    }
    ~activity() { --s.active; }
  };

  static net::awaitable<void> accept_loop(std::shared_ptr<tcp::acceptor> acceptor,
                                          std::shared_ptr<state> st) {
    for (;;) {
      auto [ec, socket] = co_await acceptor->async_accept(use_tuple);
      if (ec) co_return;
      ++st->stats.accepted;
      net::co_spawn(acceptor->get_executor(), session(std::move(socket), st), report);
    }
  }

  // Reads (and discards) until the peer or stop() closes the connection.
  static net::awaitable<void> stall(beast::tcp_stream& lowest) {
    char sink[512];
    for (;;) {
      auto [ec, n] = co_await lowest.async_read_some(net::buffer(sink), use_tuple);
      if (ec) co_return;
    }
  }

  static net::awaitable<void> session(tcp::socket socket, std::shared_ptr<state> st) {
    if (st->opts.tls) {
      beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *st->opts.tls);
      registration reg(st, stream.next_layer());
      if (st->opts.silent) co_return co_await stall(stream.next_layer());
      auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, use_tuple);
      if (ec) co_return;
      co_await serve(stream, stream.next_layer(), st);
    } else {
      beast::tcp_stream stream(std::move(socket));
      registration reg(st, stream);
      if (st->opts.silent) co_return co_await stall(stream);
      co_await serve(stream, stream, st);
    }
  }

  template <class Stream>
  static net::awaitable<void> serve(Stream& stream, beast::tcp_stream& lowest,
                                    std::shared_ptr<state> st) {
    const server_options& opts = st->opts;
    beast::flat_buffer buffer;
    int served = 0;
    for (;;) {
      bhttp::request<bhttp::string_body> req;
      auto [rec, n] = co_await bhttp::async_read(stream, buffer, req, use_tuple);
      if (rec) co_return;
      seen_request seen{
          std::string(req.method_string()), std::string(req.target()), req.body(), {}};
      for (const auto& f : req) {
        seen.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
      }
      st->stats.requests.push_back(std::move(seen));
      if (opts.answer_first >= 0 &&
          static_cast<int>(st->stats.requests.size()) > opts.answer_first) {
        co_return;  // the connection closes without a response
      }
      activity busy(st->stats);
      if (opts.delay.count() > 0) {
        net::steady_timer timer(lowest.get_executor(), opts.delay);
        co_await timer.async_wait(use_tuple);
      }
      if (!opts.raw_response.empty()) {
        co_await net::async_write(stream, net::buffer(opts.raw_response), use_tuple);
        co_return co_await stall(lowest);
      }
      bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(opts.status),
                                              opts.http10 ? 10 : 11};
      for (const auto& [name, value] : opts.headers) res.set(name, value);
      if (opts.connection_close) res.set(bhttp::field::connection, "close");
      res.body() = opts.body;
      res.prepare_payload();
      if (opts.drip.count() > 0) {
        bhttp::response_serializer<bhttp::string_body> sr(res);
        auto [hec, hn] = co_await bhttp::async_write_header(stream, sr, use_tuple);
        if (hec) co_return;
        for (char c : opts.body) {
          net::steady_timer timer(lowest.get_executor(), opts.drip);
          co_await timer.async_wait(use_tuple);
          auto [bec, bn] = co_await net::async_write(stream, net::buffer(&c, 1), use_tuple);
          if (bec) co_return;
        }
        continue;
      }
      auto [wec, wn] = co_await bhttp::async_write(stream, res, use_tuple);
      if (wec) co_return;
      if (opts.close_after > 0 && ++served >= opts.close_after) {
        boost::system::error_code ignored;
        lowest.socket().shutdown(tcp::socket::shutdown_both, ignored);
        co_return;
      }
    }
  }

  std::shared_ptr<state> state_;
  std::shared_ptr<tcp::acceptor> acceptor_;
};

}  // namespace qoewatch::http::testing
