#include "server/server.hpp"

#include <chrono>
#include <csignal>
#include <iostream>
#include <memory>
#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "http/server.hpp"

namespace qoewatch::sim {

namespace {

namespace net = boost::asio;
namespace ssl = net::ssl;
using server = http::server;

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

server::response json_response(unsigned status, std::string body) {
  return server::response{status, "application/json", std::move(body), {}};
}

// The answers of a hostile peer, written by hand: a header that never ends, a Content-Length
// of `oversized_bytes` (the page, then spaces), a chunked body that never ends, or the page one
// byte at a time. Each goes on until it is done or the client gives up; the connection is not
// reused.
net::awaitable<void> hostile_answer(server::connection& conn, const api_response& out) {
  auto write = [&conn](std::string_view bytes) -> net::awaitable<bool> {
    co_return co_await conn.write_raw(bytes, std::chrono::seconds(30));
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
    net::steady_timer pause(conn.executor());
    for (char c : out.body) {
      if (!co_await write(std::string_view(&c, 1))) co_return;
      pause.expires_after(std::chrono::milliseconds(out.trickle_ms));
      co_await pause.async_wait(use_tuple);
    }
  }
}

// Answers each request with sim_api::handle and the wall clock, faults included: a delay, a
// reset halfway through the body, or a hostile answer that takes the connection over.
class api_handler final : public server::handler {
 public:
  explicit api_handler(sim_api& api) : api_(api) {}

  net::awaitable<std::optional<server::response>> handle(const server::request& req,
                                                         server::connection& conn) override {
    api_request in;
    in.method = req.method;
    in.target = req.target;
    if (const std::string* key = req.header("X-API-Key")) in.api_key = *key;
    in.body = req.body;
    api_response out = api_.handle(in, now_seconds());

    std::string target(req.target.substr(0, max_logged_target));
    log(req.method + " " + target + " -> " + std::to_string(out.status) +
        (out.status == 200 && out.rows ? " (" + std::to_string(out.rows) + " rows)" : "") +
        (out.fault.empty() ? "" : " [fault: " + out.fault + "]"));

    if (out.oversized_bytes > 0 || out.endless || out.trickle_ms > 0 || out.huge_header) {
      co_await hostile_answer(conn, out);
      co_return std::nullopt;
    }
    if (out.delay_ms > 0) {
      net::steady_timer wait(conn.executor(), std::chrono::milliseconds(out.delay_ms));
      co_await wait.async_wait(use_tuple);
    }
    server::response res = json_response(out.status, std::move(out.body));
    if (!out.allow.empty()) res.headers.emplace_back("Allow", out.allow);
    if (out.retry_after >= 0)
      res.headers.emplace_back("Retry-After", std::to_string(out.retry_after));
    if (out.reset) {
      // The whole header (Content-Length included), half the body, then a reset (RST).
      if (co_await conn.write_head(res)) {
        std::string_view half(res.body.data(), res.body.size() / 2);
        co_await conn.write_raw(half, std::chrono::seconds(60));
      }
      conn.reset();
      co_return std::nullopt;
    }
    co_return res;
  }

  // A malformed or oversized request gets an answer; a closed or idle one does not.
  std::optional<server::response> malformed(server::bad_request what,
                                            const std::string& reason) override {
    unsigned status = what == server::bad_request::body_too_large     ? 413
                      : what == server::bad_request::header_too_large ? 431
                                                                      : 400;
    api_.count(status);
    log("malformed request (" + reason + ") -> " + std::to_string(status));
    return json_response(status, error_body(status == 413   ? "request body too large"
                                            : status == 431 ? "request header too large"
                                                            : "malformed request: " + reason));
  }

 private:
  sim_api& api_;
};

server::options sim_options() {
  server::options o;
  o.name = "smartsight-sim";
  o.header_limit = max_header_bytes;
  o.body_limit = max_body_bytes;
  o.idle_timeout = std::chrono::seconds(60);
  o.handshake_timeout = std::chrono::seconds(15);
  o.tls_shutdown_timeout = std::chrono::seconds(5);
  o.log = log;
  return o;
}

}  // namespace

int run_server(const server_config& config, sim_api& api) {
  std::shared_ptr<ssl::context> tls;
  if (!config.tls_cert.empty()) {
    tls = std::make_shared<ssl::context>(ssl::context::tls_server);
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
  server srv(ioc.get_executor(), sim_options(), std::make_shared<api_handler>(api));
  srv.use_tls(tls);
  if (auto failed = srv.listen(config.host, config.port)) {
    if (failed->resolving)
      log("--listen: cannot resolve " + config.host + ": " + failed->reason);
    else
      log("--listen: cannot listen on " + failed->endpoint + ": " + failed->reason);
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
  const std::string listening = "listening on " + srv.local_endpoint();
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
