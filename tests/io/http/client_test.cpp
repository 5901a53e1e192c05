// http::client against a real in-process server on 127.0.0.1:0 (test_server.hpp): keep-alive
// reuse, the connection cap and its FIFO queue, timeouts and the deadline, body and header
// caps, the stale keep-alive retry, close(), and HTTPS verification with certificates made
// by the openssl CLI. Every test runs one io_context on the test's thread.
#include "http/client.hpp"

#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "coroutine_run.hpp"
#include "test_server.hpp"

namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using qoewatch::http::client;
using qoewatch::http::client_options;
using qoewatch::http::failure;
using qoewatch::http::failure_kind;
using qoewatch::http::origin;
using qoewatch::http::parse_origin;
using qoewatch::http::request;
using qoewatch::http::response;
using qoewatch::http::result;
using qoewatch::http::testing::server_options;
using qoewatch::http::testing::test_server;

// ASSERT_* returns from the function, which a coroutine cannot do.
#define CO_ASSERT(condition)                               \
  do {                                                     \
    if (!(condition)) {                                    \
      ADD_FAILURE() << "assertion failed: " << #condition; \
      co_return;                                           \
    }                                                      \
  } while (false)

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr const char* secret = "secret-key-4711";

using qoewatch::http::testing::run;
using qoewatch::http::testing::sleep_for;

origin local(const test_server& srv, bool tls = false, std::string host = "127.0.0.1") {
  return origin{tls, std::move(host), srv.port()};
}

request get(std::string target = "/") {
  request r;
  r.target = std::move(target);
  r.headers = {{"X-API-Key", secret}};
  return r;
}

// The response, or a test failure naming the failure.
const response& ok(const result& r) {
  if (const auto* f = std::get_if<failure>(&r)) {
    static const response none;
    ADD_FAILURE() << "expected a response, got failure " << static_cast<int>(f->kind) << ": "
                  << f->message;
    return none;
  }
  return std::get<response>(r);
}

// The failure, or a test failure.
failure failed(const result& r) {
  if (const auto* f = std::get_if<failure>(&r)) {
    EXPECT_EQ(f->message.find(secret), std::string::npos)
        << "a header value leaked: " << f->message;
    return *f;
  }
  ADD_FAILURE() << "expected a failure, got status " << std::get<response>(r).status;
  return failure{};
}

// Sends all `reqs` at once (in this order) and waits for every result.
net::awaitable<std::vector<result>> send_all(client& c, std::vector<request> reqs) {
  auto ex = co_await net::this_coro::executor;
  std::vector<result> results(reqs.size());
  std::size_t pending = reqs.size();
  net::steady_timer all_done(ex, net::steady_timer::time_point::max());
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    net::co_spawn(ex, c.send(std::move(reqs[i])), [&, i](std::exception_ptr e, result r) {
      if (e) {
        r = failure{failure_kind::protocol, "send threw"};
        ADD_FAILURE() << "send threw";
      }
      results[i] = std::move(r);
      if (--pending == 0) all_done.cancel();
    });
  }
  co_await all_done.async_wait(use_tuple);
  co_return results;
}

// --- parse_origin ---------------------------------------------------------------------------

TEST(parse_origin, accepts_origins_with_default_and_explicit_ports) {
  struct row {
    std::string_view url;
    bool tls;
    std::string host;
    std::string port;
  };
  const row rows[] = {
      {"https://smartsight.example", true, "smartsight.example", "443"},
      {"http://smartsight.example", false, "smartsight.example", "80"},
      {"https://h.example:8443/mm-apis/listsessions/1?x=1", true, "h.example", "8443"},
      {"HTTPS://H.example:443/", true, "H.example", "443"},
      {"http://127.0.0.1:8480", false, "127.0.0.1", "8480"},
      {"http://[::1]:8080/path", false, "::1", "8080"},
      {"https://[2001:db8::1]", true, "2001:db8::1", "443"},
      {"http://h?query", false, "h", "80"},
      {"http://h#fragment", false, "h", "80"},
      {"http://h:0080", false, "h", "80"},
      {"https://my_host-1.example:65535", true, "my_host-1.example", "65535"},
  };
  for (const auto& r : rows) {
    auto o = parse_origin(r.url);
    ASSERT_TRUE(o.has_value()) << r.url;
    EXPECT_EQ(o->tls, r.tls) << r.url;
    EXPECT_EQ(o->host, r.host) << r.url;
    EXPECT_EQ(o->port, r.port) << r.url;
  }
}

TEST(parse_origin, rejects_anything_else) {
  for (std::string_view url : {"",
                               "smartsight.example",
                               "smartsight.example:443",
                               "ftp://h",
                               "https//h",
                               "https://",
                               "https:///path",
                               "https://:443",
                               "https://h:",
                               "https://h:0",
                               "https://h:65536",
                               "https://h:8a",
                               "https://h:123456",
                               "https://user@h",
                               "https://user:pw@h",
                               "https://h h",
                               "https://[::1",
                               "https://[::1]x",
                               "https://[]:80",
                               "https://[::1]:",
                               "https://[h.example]",
                               " https://h"}) {
    EXPECT_FALSE(parse_origin(url).has_value()) << '"' << url << '"';
  }
}

// --- plain HTTP -----------------------------------------------------------------------------

TEST(http_client, any_status_is_a_response_with_body_and_lower_case_headers) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    test_server srv(ioc, {.status = 503, .body = "busy", .headers = {{"X-Custom", "Value"}}});
    client c(ioc.get_executor(), local(srv), {});
    const response res = ok(co_await c.send(get("/status")));
    EXPECT_EQ(res.status, 503u);
    EXPECT_EQ(res.body, "busy");
    CO_ASSERT(res.header("x-custom") != nullptr);
    EXPECT_EQ(*res.header("x-custom"), "Value");
    EXPECT_EQ(*res.header("content-length"), "4");
    EXPECT_EQ(res.header("X-Custom"), nullptr);  // names are lower-case
    EXPECT_EQ(res.header("missing"), nullptr);
    EXPECT_EQ(c.where().port, srv.port());
  });
}

TEST(http_client, post_arrives_with_body_and_headers) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    test_server srv(ioc, {});
    client c(ioc.get_executor(), local(srv), {.user_agent = "qoewatch-test/1"});
    request req;
    req.method = "POST";
    req.target = "/mm-apis/listsessions/7?from=1&to=2";
    req.headers = {{"Content-Type", "application/json"}, {"X-API-Key", secret}};
    req.body = R"({"metric":"buffering_ratio","values":[1,2,3]})";
    EXPECT_EQ(ok(co_await c.send(req)).status, 200u);

    CO_ASSERT(srv.stats().requests.size() == 1u);
    const auto& seen = srv.stats().requests[0];
    EXPECT_EQ(seen.method, "POST");
    EXPECT_EQ(seen.target, req.target);
    EXPECT_EQ(seen.body, req.body);
    EXPECT_EQ(seen.header("content-type"), "application/json");
    EXPECT_EQ(seen.header("x-api-key"), secret);
    EXPECT_EQ(seen.header("content-length"), std::to_string(req.body.size()));
    EXPECT_EQ(seen.header("host"), "127.0.0.1:" + srv.port());
    EXPECT_EQ(seen.header("user-agent"), "qoewatch-test/1");
  });
}

TEST(http_client, header_values_with_line_breaks_are_refused_without_echoing_them) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    test_server srv(ioc, {});
    client c(ioc.get_executor(), local(srv), {});
    request req = get();
    req.headers = {{"X-API-Key", std::string(secret) + "\r\nX-Injected: 1"}};
    const failure f = failed(co_await c.send(req));
    EXPECT_EQ(f.kind, failure_kind::protocol);
    EXPECT_NE(f.message.find("X-API-Key"), std::string::npos) << f.message;
    EXPECT_TRUE(srv.stats().requests.empty());
  });
}

TEST(http_client, sequential_requests_reuse_one_keep_alive_connection) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    test_server srv(ioc, {});
    client c(ioc.get_executor(), local(srv), {});
    for (int i = 0; i < 10; ++i) EXPECT_EQ(ok(co_await c.send(get())).status, 200u);
    EXPECT_EQ(srv.stats().requests.size(), 10u);
    EXPECT_EQ(srv.stats().accepted, 1);
  });
}

TEST(http_client, concurrent_requests_are_capped_at_max_connections_and_all_complete) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    test_server srv(ioc, {.delay = 50ms});
    client c(ioc.get_executor(), local(srv), {.max_connections = 3});
    auto results = co_await send_all(c, std::vector<request>(8, get()));
    for (const auto& r : results) EXPECT_EQ(ok(r).status, 200u);
    EXPECT_EQ(srv.stats().requests.size(), 8u);
    EXPECT_LE(srv.stats().accepted, 3);
    EXPECT_LE(srv.stats().max_open, 3);
    // The cap is also reached: three at once, not one after another.
    EXPECT_EQ(srv.stats().max_active, 3);
  });
}

TEST(http_client, waiting_requests_are_served_in_order) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    test_server srv(ioc, {.delay = 20ms});
    client c(ioc.get_executor(), local(srv), {.max_connections = 1});
    std::vector<request> reqs;
    for (int i = 0; i < 5; ++i) reqs.push_back(get("/" + std::to_string(i)));
    auto results = co_await send_all(c, std::move(reqs));
    for (const auto& r : results) EXPECT_EQ(ok(r).status, 200u);
    std::vector<std::string> order;
    for (const auto& seen : srv.stats().requests) order.push_back(seen.target);
    EXPECT_EQ(order, (std::vector<std::string>{"/0", "/1", "/2", "/3", "/4"}));
    EXPECT_EQ(srv.stats().accepted, 1);
  });
}

TEST(http_client, connection_close_from_the_server_is_honoured) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    // The server would go on serving: only the header says the connection is done.
    test_server srv(ioc, {.connection_close = true});
    client c(ioc.get_executor(), local(srv), {});
    for (int i = 0; i < 3; ++i) EXPECT_EQ(ok(co_await c.send(get())).status, 200u);
    EXPECT_EQ(srv.stats().accepted, 3);
  });
}

TEST(http_client, http_1_0_responses_are_not_reused) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    test_server srv(ioc, {.http10 = true});
    client c(ioc.get_executor(), local(srv), {});
    for (int i = 0; i < 2; ++i) EXPECT_EQ(ok(co_await c.send(get())).body, "ok");
    EXPECT_EQ(srv.stats().accepted, 2);
  });
}

TEST(http_client, stale_keep_alive_connection_is_retried_on_a_fresh_one) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    // Keep-alive response, then the server drops the idle connection.
    test_server srv(ioc, {.close_after = 1});
    client c(ioc.get_executor(), local(srv), {});
    EXPECT_EQ(ok(co_await c.send(get("/first"))).status, 200u);
    co_await sleep_for(50ms);
    EXPECT_EQ(ok(co_await c.send(get("/second"))).status, 200u);
    EXPECT_EQ(srv.stats().accepted, 2);
    EXPECT_EQ(srv.stats().requests.size(), 2u);
  });
}

TEST(http_client, failure_on_a_fresh_connection_is_not_retried) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    test_server srv(ioc, {.answer_first = 0});
    client c(ioc.get_executor(), local(srv), {});
    const failure f = failed(co_await c.send(get()));
    EXPECT_EQ(f.kind, failure_kind::connect);
    EXPECT_EQ(f.message, "connection to 127.0.0.1:" + srv.port() + " closed without a response");
    EXPECT_EQ(srv.stats().accepted, 1);
    EXPECT_EQ(srv.stats().requests.size(), 1u);
  });
}

TEST(http_client, stale_retry_happens_only_once) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    test_server srv(ioc, {.answer_first = 1});
    client c(ioc.get_executor(), local(srv), {});
    EXPECT_EQ(ok(co_await c.send(get())).status, 200u);
    const failure f = failed(co_await c.send(get()));
    EXPECT_EQ(f.kind, failure_kind::connect);
    EXPECT_EQ(srv.stats().accepted, 2);          // the reused one, then one fresh one
    EXPECT_EQ(srv.stats().requests.size(), 3u);  // first, stale attempt, retry
  });
}

TEST(http_client, read_timeout_names_the_step_and_the_origin) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    test_server srv(ioc, {.delay = 800ms});
    client c(ioc.get_executor(), local(srv), {.io_timeout = 200ms});
    auto started = std::chrono::steady_clock::now();
    const failure f = failed(co_await c.send(get()));
    EXPECT_EQ(f.kind, failure_kind::timeout);
    EXPECT_EQ(f.message,
              "timed out after 200ms waiting for the response from 127.0.0.1:" + srv.port());
    EXPECT_LT(std::chrono::steady_clock::now() - started, 700ms);
  });
}

TEST(http_client, a_half_response_then_silence_times_out) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    test_server srv(ioc, {.raw_response = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc"});
    client c(ioc.get_executor(), local(srv), {.io_timeout = 200ms});
    const failure f = failed(co_await c.send(get()));
    EXPECT_EQ(f.kind, failure_kind::timeout);
    EXPECT_EQ(f.message, "timed out after 200ms reading the response from 127.0.0.1:" + srv.port());
    EXPECT_EQ(srv.stats().accepted, 1);  // a timeout is not retried
  });
}

TEST(http_client, deadline_bounds_a_slow_but_steady_response) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    // One byte every 40ms never trips the 1s read timeout; only the deadline stops it.
    test_server srv(ioc, {.body = std::string(100, 'x'), .drip = 40ms});
    client c(ioc.get_executor(), local(srv), {.io_timeout = 1s, .deadline = 300ms});
    auto started = std::chrono::steady_clock::now();
    const failure f = failed(co_await c.send(get()));
    EXPECT_EQ(f.kind, failure_kind::timeout);
    EXPECT_EQ(f.message,
              "deadline of 300ms exceeded reading the response from 127.0.0.1:" + srv.port());
    EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  });
}

TEST(http_client, body_at_the_cap_is_accepted_and_beyond_it_refused) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    test_server exact(ioc, {.body = std::string(1000, 'a')});
    client c1(ioc.get_executor(), local(exact), {.max_body_bytes = 1000});
    EXPECT_EQ(ok(co_await c1.send(get())).body.size(), 1000u);

    test_server huge(ioc, {.body = std::string(4u << 20, 'b')});
    client c2(ioc.get_executor(), local(huge), {.max_body_bytes = 1000});
    const failure f = failed(co_await c2.send(get()));
    EXPECT_EQ(f.kind, failure_kind::too_large);
    EXPECT_EQ(f.message, "response body larger than 1000 bytes from 127.0.0.1:" + huge.port());
  });
}

TEST(http_client, oversized_response_header_is_refused) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    // 20 fields of 4000 bytes: past the 64 KiB header cap.
    std::vector<std::pair<std::string, std::string>> big;
    for (int i = 0; i < 20; ++i)
      big.emplace_back("X-Big-" + std::to_string(i), std::string(4000, 'h'));
    test_server srv(ioc, {.headers = big});
    client c(ioc.get_executor(), local(srv), {});
    const failure f = failed(co_await c.send(get()));
    EXPECT_EQ(f.kind, failure_kind::too_large);
    EXPECT_NE(f.message.find("response header larger than 65536 bytes"), std::string::npos)
        << f.message;
  });
}

TEST(http_client, response_header_cap_holds_however_the_bytes_arrive) {
  // Reads are 64 KiB: the whole header usually arrives in one. 2 KiB under the cap passes,
  // 2 KiB over it fails, both on a fresh connection and on a reused one.
  auto fields = [](std::size_t total) {
    std::vector<std::pair<std::string, std::string>> out;
    for (int i = 0; total > 0; ++i) {
      std::size_t n = std::min<std::size_t>(total, 4000);
      out.emplace_back("X-F-" + std::to_string(1000 + i), std::string(n, 'h'));
      total -= n;
    }
    return out;
  };
  run([&](net::io_context& ioc) -> net::awaitable<void> {
    test_server under(ioc, {.headers = fields(62u << 10)});
    client c(ioc.get_executor(), local(under), {});
    for (int i = 0; i < 2; ++i) EXPECT_EQ(ok(co_await c.send(get())).status, 200);
    test_server over(ioc, {.headers = fields(66u << 10)});
    client c2(ioc.get_executor(), local(over), {});
    const failure f = failed(co_await c2.send(get()));
    EXPECT_EQ(f.kind, failure_kind::too_large);
    EXPECT_NE(f.message.find("response header larger than 65536 bytes"), std::string::npos)
        << f.message;
  });
}

TEST(http_client, malformed_response_is_a_protocol_failure) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    test_server srv(ioc, {.raw_response = "SMTP ready\r\n\r\n"});
    client c(ioc.get_executor(), local(srv), {});
    const failure f = failed(co_await c.send(get()));
    EXPECT_EQ(f.kind, failure_kind::protocol);
    EXPECT_TRUE(f.message.starts_with("malformed response from 127.0.0.1:" + srv.port()))
        << f.message;
  });
}

TEST(http_client, connection_refused_names_the_origin) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    std::string port;
    {
      // A port that was free a moment ago and has no listener now.
      net::ip::tcp::acceptor a(ioc, {net::ip::make_address("127.0.0.1"), 0});
      port = std::to_string(a.local_endpoint().port());
    }
    client c(ioc.get_executor(), origin{false, "127.0.0.1", port}, {});
    const failure f = failed(co_await c.send(get()));
    EXPECT_EQ(f.kind, failure_kind::connect);
    EXPECT_EQ(f.message, "connection refused by 127.0.0.1:" + port);
  });
}

TEST(http_client, unresolvable_host_is_a_resolve_failure) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    client c(ioc.get_executor(), origin{false, "qoewatch-test.invalid", "80"}, {});
    const failure f = failed(co_await c.send(get()));
    EXPECT_EQ(f.kind, failure_kind::resolve);
    EXPECT_TRUE(f.message.starts_with("cannot resolve qoewatch-test.invalid")) << f.message;
  });
}

TEST(http_client, close_fails_waiting_requests_and_lets_the_one_in_flight_finish) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    test_server srv(ioc, {.delay = 300ms});
    client c(ioc.get_executor(), local(srv), {.max_connections = 1});
    std::optional<result> first, second;
    net::co_spawn(ioc, c.send(get("/first")), [&](std::exception_ptr, result r) { first = r; });
    net::co_spawn(ioc, c.send(get("/second")), [&](std::exception_ptr, result r) { second = r; });
    co_await sleep_for(50ms);  // the first is at the server, the second waits for its slot
    EXPECT_FALSE(first || second);
    c.close();
    for (int i = 0; i < 100 && !second; ++i) co_await sleep_for(1ms);
    CO_ASSERT(second.has_value());
    EXPECT_EQ(failed(*second).kind, failure_kind::closed);
    EXPECT_FALSE(first.has_value());

    const failure later = failed(co_await c.send(get("/later")));
    EXPECT_EQ(later.kind, failure_kind::closed);

    while (!first) co_await sleep_for(20ms);
    EXPECT_EQ(ok(*first).status, 200u);
    std::vector<std::string> targets;
    for (const auto& seen : srv.stats().requests) targets.push_back(seen.target);
    EXPECT_EQ(targets, std::vector<std::string>{"/first"});
  });
}

TEST(http_client, a_cancelled_waiting_request_leaves_the_queue) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    test_server srv(ioc, {.delay = 100ms});
    client c(ioc.get_executor(), local(srv), {.max_connections = 1});
    std::optional<result> first, second, third;
    std::exception_ptr second_error;
    net::cancellation_signal cancel_second;
    net::co_spawn(ioc, c.send(get("/first")), [&](std::exception_ptr, result r) { first = r; });
    net::co_spawn(
        ioc, c.send(get("/second")),
        net::bind_cancellation_slot(cancel_second.slot(), [&](std::exception_ptr e, result r) {
          second_error = e;
          second = r;
        }));
    net::co_spawn(ioc, c.send(get("/third")), [&](std::exception_ptr, result r) { third = r; });
    co_await sleep_for(20ms);
    cancel_second.emit(net::cancellation_type::terminal);
    while (!first || !second || !third) co_await sleep_for(10ms);
    EXPECT_FALSE(second_error);
    EXPECT_EQ(failed(*second).message,
              "cancelled while waiting for a connection to 127.0.0.1:" + srv.port());
    EXPECT_EQ(ok(*first).status, 200u);
    EXPECT_EQ(ok(*third).status, 200u);
    std::vector<std::string> targets;
    for (const auto& seen : srv.stats().requests) targets.push_back(seen.target);
    EXPECT_EQ(targets, (std::vector<std::string>{"/first", "/third"}));
  });
}

// --- HTTPS ----------------------------------------------------------------------------------

// Self-signed certificates made once per run with the openssl CLI, removed at exit.
struct certificates {
  fs::path dir;
  fs::path localhost_cert, localhost_key;  // CN/SAN localhost and IP 127.0.0.1
  fs::path other_cert, other_key;          // CN/SAN other.example only

  certificates() {
    std::string tmpl = (fs::temp_directory_path() / "qoewatch-http-test.XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    dir = tmpl;
    localhost_cert = dir / "localhost.pem";
    localhost_key = dir / "localhost.key";
    other_cert = dir / "other.pem";
    other_key = dir / "other.key";
    make(localhost_cert, localhost_key, "localhost", "DNS:localhost,IP:127.0.0.1");
    make(other_cert, other_key, "other.example", "DNS:other.example");
  }
  ~certificates() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }

  static void make(const fs::path& cert, const fs::path& key, const std::string& cn,
                   const std::string& san) {
    std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=" + cn +
                      " -addext subjectAltName=" + san + " -days 1 -keyout " + key.string() +
                      " -out " + cert.string() + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl failed: " + cmd);
  }

  static const certificates& get() {
    static const certificates instance;
    return instance;
  }
};

ssl::context server_context(const fs::path& cert, const fs::path& key) {
  ssl::context ctx(ssl::context::tls_server);
  ctx.use_certificate_chain_file(cert.string());
  ctx.use_private_key_file(key.string(), ssl::context::pem);
  return ctx;
}

TEST(https_client, verifies_with_the_given_ca_file_and_reuses_the_connection) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    const auto& certs = certificates::get();
    auto tls = server_context(certs.localhost_cert, certs.localhost_key);
    test_server srv(ioc, {.body = "secure", .tls = &tls});
    client c(ioc.get_executor(), local(srv, true, "localhost"),
             {.ca_file = certs.localhost_cert.string()});
    for (int i = 0; i < 3; ++i) EXPECT_EQ(ok(co_await c.send(get())).body, "secure");
    EXPECT_EQ(srv.stats().accepted, 1);
    EXPECT_EQ(srv.stats().requests.at(0).header("host"), "localhost:" + srv.port());
  });
}

TEST(https_client, verifies_an_ip_address_against_the_ip_san) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    const auto& certs = certificates::get();
    auto tls = server_context(certs.localhost_cert, certs.localhost_key);
    test_server srv(ioc, {.tls = &tls});
    client c(ioc.get_executor(), local(srv, true, "127.0.0.1"),
             {.ca_file = certs.localhost_cert.string()});
    EXPECT_EQ(ok(co_await c.send(get())).status, 200u);
  });
}

TEST(https_client, system_store_rejects_a_self_signed_certificate) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    const auto& certs = certificates::get();
    auto tls = server_context(certs.localhost_cert, certs.localhost_key);
    test_server srv(ioc, {.tls = &tls});
    client c(ioc.get_executor(), local(srv, true, "localhost"), {});
    const failure f = failed(co_await c.send(get()));
    EXPECT_EQ(f.kind, failure_kind::tls);
    EXPECT_TRUE(f.message.starts_with("TLS handshake with localhost:" + srv.port() +
                                      " failed: certificate verify failed"))
        << f.message;
    EXPECT_TRUE(srv.stats().requests.empty());
  });
}

TEST(https_client, host_name_mismatch_is_rejected) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    const auto& certs = certificates::get();
    auto tls = server_context(certs.other_cert, certs.other_key);
    test_server srv(ioc, {.tls = &tls});
    // Trusted, but issued to other.example.
    for (std::string host : {"localhost", "127.0.0.1"}) {
      client c(ioc.get_executor(), local(srv, true, host), {.ca_file = certs.other_cert.string()});
      const failure f = failed(co_await c.send(get()));
      EXPECT_EQ(f.kind, failure_kind::tls);
      EXPECT_NE(f.message.find("certificate verify failed"), std::string::npos) << f.message;
      EXPECT_NE(f.message.find("mismatch"), std::string::npos) << f.message;
    }
    EXPECT_TRUE(srv.stats().requests.empty());
  });
}

TEST(https_client, unreadable_ca_file_is_a_tls_failure_naming_the_file) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    const std::string missing = "/nonexistent/qoewatch/ca.pem";
    client c(ioc.get_executor(), origin{true, "localhost", "1"}, {.ca_file = missing});
    const failure f = failed(co_await c.send(get()));
    EXPECT_EQ(f.kind, failure_kind::tls);
    EXPECT_EQ(f.message, "cannot read CA file " + missing + ": No such file or directory");

    // Readable, but not a certificate.
    const auto& certs = certificates::get();
    client c2(ioc.get_executor(), origin{true, "localhost", "1"},
              {.ca_file = certs.localhost_key.string()});
    const failure f2 = failed(co_await c2.send(get()));
    EXPECT_EQ(f2.kind, failure_kind::tls);
    EXPECT_TRUE(f2.message.starts_with("cannot load CA file " + certs.localhost_key.string()))
        << f2.message;
  });
}

TEST(https_client, handshake_timeout_names_the_step) {
  run([](net::io_context& ioc) -> net::awaitable<void> {
    const auto& certs = certificates::get();
    auto tls = server_context(certs.localhost_cert, certs.localhost_key);
    test_server srv(ioc, {.silent = true, .tls = &tls});  // accepts, never says a word
    client c(ioc.get_executor(), local(srv, true, "localhost"),
             {.connect_timeout = 300ms, .ca_file = certs.localhost_cert.string()});
    const failure f = failed(co_await c.send(get()));
    EXPECT_EQ(f.kind, failure_kind::timeout);
    EXPECT_EQ(f.message,
              "timed out after 300ms during the TLS handshake with localhost:" + srv.port());
  });
}

}  // namespace
