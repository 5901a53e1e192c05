// Fuzz target: whatever bytes a peer answers an HTTP request with. The real http::client sends
// a GET to a server on 127.0.0.1 that answers with the input and closes; the client must come
// back with a response or a failure every time (no hang, crash or exception), never hand over
// more body than its cap, and keep header names lower-case; the Retry-After reading the poller
// and delivery share must stay within its hour.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <variant>

#include "http/client.hpp"
#include "http/retry_after.hpp"

namespace net = boost::asio;
using net::ip::tcp;

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "http_response_fuzz: %s\n", what);
  std::abort();
}

constexpr std::size_t max_body = 2048;

net::awaitable<void> answer(tcp::acceptor& acceptor, std::string bytes) {
  tcp::socket s = co_await acceptor.async_accept(net::use_awaitable);
  net::streambuf request;
  boost::system::error_code ec;
  co_await net::async_read_until(s, request, "\r\n\r\n",
                                 net::redirect_error(net::use_awaitable, ec));
  co_await net::async_write(s, net::buffer(bytes), net::redirect_error(net::use_awaitable, ec));
  s.shutdown(tcp::socket::shutdown_both, ec);
  s.close(ec);
}

void check(const qoewatch::http::result& r) {
  if (qoewatch::http::describe(r).empty()) fail("describe gave nothing");
  if (const auto* f = std::get_if<qoewatch::http::failure>(&r)) {
    if (f->message.empty()) fail("a failure without a message");
    return;
  }
  const auto& resp = std::get<qoewatch::http::response>(r);
  if (resp.body.size() > max_body) fail("more body than the cap");
  for (const auto& [name, value] : resp.headers) {
    for (char c : name) {
      if (c >= 'A' && c <= 'Z') fail("a header name that is not lower-case");
    }
  }
  if (std::optional<std::chrono::seconds> d = qoewatch::http::retry_after(resp)) {
    if (d->count() < 0 || d->count() > 3600) fail("Retry-After outside 0..3600 s");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static net::io_context ioc;
  static tcp::acceptor acceptor(ioc, {net::ip::make_address("127.0.0.1"), 0});
  const std::string port = std::to_string(acceptor.local_endpoint().port());

  qoewatch::http::client_options opts;
  opts.connect_timeout = opts.io_timeout = std::chrono::milliseconds(1000);
  opts.deadline = std::chrono::milliseconds(2000);
  opts.max_body_bytes = max_body;
  opts.max_connections = 1;
  qoewatch::http::client c(ioc.get_executor(), {false, "127.0.0.1", port}, opts);
  std::string bytes(reinterpret_cast<const char*>(data), size);
  net::co_spawn(ioc, answer(acceptor, std::move(bytes)), net::detached);
  bool done = false;
  qoewatch::http::request req;
  req.target = "/mm-apis/listsessions/1";
  net::co_spawn(ioc, c.send(std::move(req)), [&](std::exception_ptr e, qoewatch::http::result r) {
    if (e) fail("send threw");
    check(r);
    done = true;
  });
  ioc.run();
  ioc.restart();
  if (!done) fail("the exchange never completed");
  c.close();
  ioc.run();
  ioc.restart();
  return 0;
}
