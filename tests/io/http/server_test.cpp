// http::server on 127.0.0.1:0, driven by raw sockets (to see the exact bytes, resets and
// closes) and by http::client (for HTTPS): the bound port, keep-alive, the order of the
// response header, the request caps and the last answer to a bad request, Expect:
// 100-continue, handlers that take the connection over or throw, the idle timeout, stop(),
// and TLS with a context swapped for new connections. Every test runs one io_context on the
// test's thread.
#include "http/server.hpp"

#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "coroutine_run.hpp"
#include "http/client.hpp"

namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using tcp = net::ip::tcp;
using qoewatch::http::server;

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// ASSERT_* returns from the function, which a coroutine cannot do.
#define CO_ASSERT_EQ(a, b)                                         \
  do {                                                             \
    if (!((a) == (b))) {                                           \
      ADD_FAILURE() << "assertion failed: " << #a << " == " << #b; \
      co_return;                                                   \
    }                                                              \
  } while (false)

using qoewatch::http::testing::run;
using qoewatch::http::testing::sleep_for;

// Answers "hello METHOD TARGET" with an Allow header; /echo answers the request body; /half,
// /raw and /throw misbehave as their names say. Remembers what it saw.
struct test_handler : server::handler {
  int handled = 0;
  std::vector<const server::connection*> connections;  // one per request
  std::vector<server::bad_request> bad;
  std::vector<std::string> reasons;
  bool answer_malformed = false;
  std::chrono::milliseconds delay{0};

  net::awaitable<std::optional<server::response>> handle(const server::request& req,
                                                         server::connection& conn) override {
    ++handled;
    connections.push_back(&conn);
    if (delay.count() > 0) {
      net::steady_timer timer(conn.executor(), delay);
      co_await timer.async_wait(use_tuple);
    }
    if (req.target == "/throw") throw std::runtime_error("boom");
    if (req.target == "/half") {
      server::response res{200, "text/plain", "0123456789", {}};
      if (co_await conn.write_head(res)) co_await conn.write_raw("01234", 5s);
      conn.reset();
      co_return std::nullopt;
    }
    if (req.target == "/raw") {
      co_await conn.write_raw("raw bytes", 5s);
      co_return std::nullopt;
    }
    server::response res{200, "text/plain", "", {{"Allow", "GET"}}};
    res.body = req.target == "/echo" ? req.body : "hello " + req.method + " " + req.target;
    if (const std::string* probe = req.header("x-PROBE")) res.body += " probe=" + *probe;
    co_return res;
  }

  std::optional<server::response> malformed(server::bad_request what,
                                            const std::string& reason) override {
    bad.push_back(what);
    reasons.push_back(reason);
    if (!answer_malformed) return std::nullopt;
    unsigned status = what == server::bad_request::body_too_large     ? 413
                      : what == server::bad_request::header_too_large ? 431
                                                                      : 400;
    return server::response{status, "text/plain", "bad: " + reason, {}};
  }
};

// A server on 127.0.0.1:0 with a test_handler and its log lines. Live inside the test's
// coroutine: its destructor stops the server, so the io_context runs out of work.
struct fixture {
  std::shared_ptr<test_handler> handler = std::make_shared<test_handler>();
  std::shared_ptr<std::vector<std::string>> log = std::make_shared<std::vector<std::string>>();
  server srv;

  explicit fixture(net::any_io_executor ex, server::options opts = {})
      : srv(ex, with_log(std::move(opts), log), handler) {
    if (auto failed = srv.listen("127.0.0.1", 0))
      ADD_FAILURE() << "cannot listen: " << failed->endpoint << ": " << failed->reason;
  }

  static server::options with_log(server::options opts,
                                  std::shared_ptr<std::vector<std::string>> lines) {
    if (opts.name.empty()) opts.name = "test";
    opts.log = [lines](std::string_view line) { lines->emplace_back(line); };
    return opts;
  }

  bool logged(std::string_view prefix) const {
    for (const std::string& line : *log)
      if (line.rfind(prefix, 0) == 0) return true;
    return false;
  }
};

struct raw_result {
  std::string bytes;
  beast::error_code ec;  // how the reading ended: eof, connection_reset, timeout
};

// Reads from `s` until the server closes the connection or the stream's time runs out.
net::awaitable<raw_result> read_to_end(beast::tcp_stream& s) {
  raw_result r;
  char buf[4096];
  for (;;) {
    auto [ec, n] = co_await s.async_read_some(net::buffer(buf), use_tuple);
    r.bytes.append(buf, n);
    if (ec) {
      r.ec = ec;
      co_return r;
    }
  }
}

net::awaitable<beast::error_code> connect(beast::tcp_stream& s, std::uint16_t port) {
  auto [ec] =
      co_await s.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), use_tuple);
  co_return ec;
}

// Connects, sends `out` and reads until the server closes (or `limit` passes).
net::awaitable<raw_result> exchange(std::uint16_t port, std::string out,
                                    std::chrono::seconds limit = 5s) {
  beast::tcp_stream s(co_await net::this_coro::executor);
  s.expires_after(limit);
  if (auto ec = co_await connect(s, port)) co_return raw_result{"", ec};
  co_await net::async_write(s, net::buffer(out), use_tuple);
  co_return co_await read_to_end(s);
}

std::string get(std::string_view target, std::string_view extra = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: x\r\n" + std::string(extra) + "\r\n";
}

std::size_t count(const std::string& text, std::string_view what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// --- listening --------------------------------------------------------------------------------

TEST(http_server, port_0_binds_a_free_port_and_reports_it) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    fixture f(ioc.get_executor());
    EXPECT_NE(f.srv.port(), 0);
    EXPECT_EQ(f.srv.local_endpoint(), "127.0.0.1:" + std::to_string(f.srv.port()));
    raw_result r = co_await exchange(f.srv.port(), get("/x", "Connection: close\r\n"));
    EXPECT_NE(r.bytes.find("hello GET /x"), std::string::npos) << r.bytes;
  });
}

TEST(http_server, listen_failures_say_what_and_where) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    fixture f(ioc.get_executor());
    server second(ioc.get_executor(), {}, std::make_shared<test_handler>());
    auto taken = second.listen("127.0.0.1", f.srv.port());
    CO_ASSERT_EQ(taken.has_value(), true);  // a port in use cannot be bound twice
    EXPECT_FALSE(taken->resolving);
    EXPECT_EQ(taken->endpoint, "127.0.0.1:" + std::to_string(f.srv.port()));
    EXPECT_FALSE(taken->reason.empty());

    server third(ioc.get_executor(), {}, std::make_shared<test_handler>());
    auto unknown = third.listen("no-such-host.invalid", 0);
    CO_ASSERT_EQ(unknown.has_value(), true);
    EXPECT_TRUE(unknown->resolving);
  });
}

// --- requests and answers ----------------------------------------------------------------------

TEST(http_server, keep_alive_answers_every_request_on_one_connection) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    fixture f(ioc.get_executor());
    raw_result r = co_await exchange(
        f.srv.port(), get("/a") + get("/b", "X-Probe: 7\r\n") + get("/c", "Connection: close\r\n"));
    EXPECT_EQ(count(r.bytes, "HTTP/1.1 200 OK"), 3u) << r.bytes;
    EXPECT_NE(r.bytes.find("hello GET /b probe=7"), std::string::npos) << r.bytes;
    EXPECT_EQ(r.ec, net::error::eof);  // closed after the answer that said so
    CO_ASSERT_EQ(f.handler->connections.size(), 3u);
    EXPECT_EQ(f.handler->connections[0], f.handler->connections[2]);
  });
}

TEST(http_server, http_1_0_without_keep_alive_is_closed_after_one_answer) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    fixture f(ioc.get_executor());
    raw_result r =
        co_await exchange(f.srv.port(), "GET /a HTTP/1.0\r\n\r\nGET /b HTTP/1.0\r\n\r\n");
    EXPECT_EQ(r.bytes.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << r.bytes;
    EXPECT_EQ(count(r.bytes, "HTTP/1.0"), 1u) << r.bytes;
    EXPECT_EQ(f.handler->handled, 1);
  });
}

TEST(http_server, answers_carry_server_type_framing_then_the_handlers_headers) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    fixture f(ioc.get_executor());
    raw_result r = co_await exchange(f.srv.port(), get("/o", "Connection: close\r\n"));
    EXPECT_EQ(r.bytes,
              "HTTP/1.1 200 OK\r\nServer: test\r\nContent-Type: text/plain\r\n"
              "Connection: close\r\nContent-Length: 12\r\nAllow: GET\r\n\r\nhello GET /o");
  });
}

TEST(http_server, a_header_over_the_cap_gets_the_last_answer_then_the_connection_closes) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    fixture f(ioc.get_executor(), {.header_limit = 1024});
    f.handler->answer_malformed = true;
    raw_result r =
        co_await exchange(f.srv.port(), get("/big", "X-Fill: " + std::string(2000, 'f') + "\r\n"));
    EXPECT_EQ(r.bytes.rfind("HTTP/1.1 431 ", 0), 0u) << r.bytes;
    EXPECT_NE(r.bytes.find("Connection: close\r\n"), std::string::npos) << r.bytes;
    EXPECT_EQ(f.handler->handled, 0);
    CO_ASSERT_EQ(f.handler->bad.size(), 1u);
    EXPECT_EQ(f.handler->bad[0], server::bad_request::header_too_large);
  });
}

TEST(http_server, a_body_over_the_cap_is_refused_from_its_content_length) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    fixture f(ioc.get_executor(), {.body_limit = 16});
    f.handler->answer_malformed = true;
    raw_result r = co_await exchange(
        f.srv.port(), "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
    EXPECT_EQ(r.bytes.rfind("HTTP/1.1 413 ", 0), 0u) << r.bytes;
    CO_ASSERT_EQ(f.handler->bad.size(), 1u);
    EXPECT_EQ(f.handler->bad[0], server::bad_request::body_too_large);

    // At the cap it is a request like any other.
    r = co_await exchange(f.srv.port(),
                          "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n"
                          "Connection: close\r\n\r\n0123456789abcdef");
    EXPECT_NE(r.bytes.find("\r\n\r\n0123456789abcdef"), std::string::npos) << r.bytes;
  });
}

TEST(http_server, garbage_is_malformed_and_a_silent_peer_is_not) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    fixture f(ioc.get_executor());
    f.handler->answer_malformed = true;
    raw_result r = co_await exchange(f.srv.port(), "NOT HTTP AT ALL\r\n\r\n");
    EXPECT_EQ(r.bytes.rfind("HTTP/1.1 400 ", 0), 0u) << r.bytes;
    CO_ASSERT_EQ(f.handler->bad.size(), 1u);
    EXPECT_EQ(f.handler->bad[0], server::bad_request::malformed);
    EXPECT_FALSE(f.handler->reasons[0].empty());

    // Half a request, then the peer closes its side: no answer, no malformed().
    beast::tcp_stream s(ioc.get_executor());
    s.expires_after(5s);
    co_await connect(s, f.srv.port());
    co_await net::async_write(s, net::buffer(std::string_view("GET / HTTP/1.1\r\nHo")), use_tuple);
    beast::error_code ignored;
    s.socket().shutdown(tcp::socket::shutdown_send, ignored);
    r = co_await read_to_end(s);
    EXPECT_EQ(r.bytes, "");
    EXPECT_EQ(f.handler->bad.size(), 1u);
  });
}

TEST(http_server, without_a_last_answer_a_bad_request_just_closes) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    fixture f(ioc.get_executor());  // body_limit 0: no request may carry a body
    raw_result r = co_await exchange(
        f.srv.port(), "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    EXPECT_EQ(r.bytes, "");
    EXPECT_EQ(f.handler->handled, 0);
    EXPECT_EQ(f.handler->bad.size(), 1u);
  });
}

TEST(http_server, expect_100_continue_is_answered_before_the_body_is_read) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    fixture f(ioc.get_executor(), {.body_limit = 1024});
    beast::tcp_stream s(ioc.get_executor());
    s.expires_after(5s);
    co_await connect(s, f.srv.port());
    std::string head =
        "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n"
        "Connection: close\r\n\r\n";
    co_await net::async_write(s, net::buffer(head), use_tuple);
    std::string got;
    char buf[256];
    while (got.find("\r\n\r\n") == std::string::npos) {
      auto [ec, n] = co_await s.async_read_some(net::buffer(buf), use_tuple);
      got.append(buf, n);
      if (ec) break;
    }
    EXPECT_EQ(got, "HTTP/1.1 100 Continue\r\n\r\n");
    co_await net::async_write(s, net::buffer(std::string_view("hello")), use_tuple);
    raw_result r = co_await read_to_end(s);
    EXPECT_EQ(r.bytes.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r.bytes;
    EXPECT_NE(r.bytes.find("\r\n\r\nhello"), std::string::npos) << r.bytes;
  });
}

// --- handlers that take over or fail -----------------------------------------------------------

TEST(http_server, a_handler_can_write_a_head_half_a_body_and_reset) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    fixture f(ioc.get_executor());
    raw_result r = co_await exchange(f.srv.port(), get("/half"));
    EXPECT_EQ(r.bytes,
              "HTTP/1.1 200 OK\r\nServer: test\r\nContent-Type: text/plain\r\n"
              "Content-Length: 10\r\n\r\n01234");
    EXPECT_EQ(r.ec, net::error::connection_reset);
  });
}

TEST(http_server, a_handler_can_write_raw_bytes_and_the_connection_then_ends) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    fixture f(ioc.get_executor());
    raw_result r = co_await exchange(f.srv.port(), get("/raw") + get("/never"));
    EXPECT_EQ(r.bytes, "raw bytes");
    EXPECT_EQ(r.ec, net::error::eof);
    EXPECT_EQ(f.handler->handled, 1);
  });
}

TEST(http_server, a_throwing_handler_ends_its_connection_only_and_is_logged) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    fixture f(ioc.get_executor());
    raw_result r = co_await exchange(f.srv.port(), get("/throw"));
    EXPECT_EQ(r.bytes, "");
    r = co_await exchange(f.srv.port(), get("/after", "Connection: close\r\n"));
    EXPECT_NE(r.bytes.find("hello GET /after"), std::string::npos) << r.bytes;
    EXPECT_TRUE(f.logged("connection failed: boom"));
  });
}

// --- timeouts and stop() -----------------------------------------------------------------------

TEST(http_server, an_idle_connection_is_closed_after_the_idle_timeout) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    fixture f(ioc.get_executor(), {.idle_timeout = 1s});
    auto start = std::chrono::steady_clock::now();
    raw_result r = co_await exchange(f.srv.port(), "", 10s);
    EXPECT_EQ(r.bytes, "");
    EXPECT_EQ(r.ec, net::error::eof);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  });
}

TEST(http_server, stop_closes_open_connections_drops_pending_answers_and_refuses_new_ones) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    fixture f(ioc.get_executor());
    f.handler->delay = 300ms;
    std::uint16_t port = f.srv.port();

    beast::tcp_stream idle(ioc.get_executor()), busy(ioc.get_executor());
    idle.expires_after(5s);
    busy.expires_after(5s);
    co_await connect(idle, port);
    co_await connect(busy, port);
    co_await net::async_write(busy, net::buffer(get("/slow")), use_tuple);
    co_await sleep_for(100ms);  // both accepted; /slow is in its handler
    f.srv.stop();

    raw_result r = co_await read_to_end(idle);
    EXPECT_EQ(r.bytes, "");
    EXPECT_NE(r.ec, beast::error::timeout);
    r = co_await read_to_end(busy);
    EXPECT_EQ(r.bytes, "");  // the answer made after stop() is not sent
    EXPECT_NE(r.ec, beast::error::timeout);

    beast::tcp_stream late(ioc.get_executor());
    late.expires_after(5s);
    EXPECT_EQ(co_await connect(late, port), net::error::connection_refused);
    co_await sleep_for(400ms);  // let the /slow handler finish before the fixture goes
  });
}

// --- TLS ---------------------------------------------------------------------------------------

// A self-signed certificate for localhost and 127.0.0.1 (openssl CLI), removed at exit.
struct certificate {
  fs::path dir, cert, key;

  certificate() {
    std::string tmpl = (fs::temp_directory_path() / "qoewatch-server-test.XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    dir = tmpl;
    cert = dir / "localhost.pem";
    key = dir / "localhost.key";
    std::string cmd =
        "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost"
        " -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -days 1 -keyout " +
        key.string() + " -out " + cert.string() + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl failed: " + cmd);
  }
  ~certificate() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }

  static const certificate& get() {
    static const certificate instance;
    return instance;
  }

  std::shared_ptr<ssl::context> context() const {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    ctx->use_certificate_chain_file(cert.string());
    ctx->use_private_key_file(key.string(), ssl::context::pem);
    return ctx;
  }
};

// "HTTP 200, 5 bytes: hello", or the failure.
net::awaitable<std::string> fetch(qoewatch::http::client& c, std::string target) {
  qoewatch::http::request req;
  req.target = std::move(target);
  qoewatch::http::result r = co_await c.send(std::move(req));
  co_return qoewatch::http::describe(r) + (std::holds_alternative<qoewatch::http::response>(r)
                                               ? ": " + std::get<qoewatch::http::response>(r).body
                                               : "");
}

TEST(http_server, tls_connections_keep_their_context_when_a_new_one_is_swapped_in) {
  const certificate& cert = certificate::get();
  run([&cert](net::io_context& ioc) -> net::awaitable<void> {
    fixture f(ioc.get_executor());
    f.srv.use_tls(cert.context());
    std::string port = std::to_string(f.srv.port());
    qoewatch::http::client_options opts;
    opts.ca_file = cert.cert.string();
    qoewatch::http::client https(ioc.get_executor(), {true, "127.0.0.1", port}, opts);
    EXPECT_EQ(co_await fetch(https, "/one"), "HTTP 200, 14 bytes: hello GET /one");

    f.srv.use_tls(nullptr);  // plain HTTP for new connections from now on
    qoewatch::http::client plain(ioc.get_executor(), {false, "127.0.0.1", port}, {});
    EXPECT_EQ(co_await fetch(plain, "/two"), "HTTP 200, 14 bytes: hello GET /two");
    // The HTTPS connection accepted before the swap still speaks TLS.
    EXPECT_EQ(co_await fetch(https, "/three"), "HTTP 200, 16 bytes: hello GET /three");
    EXPECT_EQ(f.handler->connections.front(), f.handler->connections.back());
    https.close();
    plain.close();
  });
}

TEST(http_server, a_failed_tls_handshake_is_logged_and_ends_the_connection) {
  const certificate& cert = certificate::get();
  run([&cert](net::io_context& ioc) -> net::awaitable<void> {
    fixture f(ioc.get_executor());
    f.srv.use_tls(cert.context());
    raw_result r = co_await exchange(f.srv.port(), get("/plain"));
    EXPECT_NE(r.ec, beast::error::timeout);
    EXPECT_EQ(f.handler->handled, 0);
    EXPECT_TRUE(f.logged("TLS handshake failed: ")) << (f.log->empty() ? "" : f.log->front());
  });
}

}  // namespace
