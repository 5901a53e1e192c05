#include "export/status_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <list>

namespace qoewatch::metrics {

namespace {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr auto idle_timeout = std::chrono::seconds(60);
}  // namespace

struct status_server::impl : std::enable_shared_from_this<impl> {
  net::any_io_executor ex;
  status_handlers handlers;
  tcp::acceptor acceptor;
  std::list<beast::tcp_stream*> open;  // connections to close on stop()
  bool stopped = false;

  impl(net::any_io_executor e, status_handlers h) : ex(e), handlers(std::move(h)), acceptor(e) {}

  http::response<http::string_body> answer(const http::request<http::empty_body>& req) {
    auto reply = [&](http::status s, std::string body, const char* type) {
      http::response<http::string_body> res{s, req.version()};
      res.set(http::field::server, "qoewatch");
      res.set(http::field::content_type, type);
      res.keep_alive(req.keep_alive());
      if (req.method() != http::verb::head) res.body() = std::move(body);
      res.prepare_payload();
      return res;
    };
    std::string_view path = req.target();
    path = path.substr(0, path.find('?'));
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      auto res = reply(http::status::method_not_allowed, "use GET\n", "text/plain; charset=utf-8");
      res.set(http::field::allow, "GET, HEAD");
      return res;
    }
    if (path == "/metrics")
      return reply(http::status::ok, handlers.metrics(),
                   "text/plain; version=0.0.4; charset=utf-8");
    if (path == "/healthz") return reply(http::status::ok, "ok\n", "text/plain; charset=utf-8");
    if (path == "/readyz") {
      std::string why = handlers.not_ready();
      if (why.empty()) return reply(http::status::ok, "ready\n", "text/plain; charset=utf-8");
      return reply(http::status::service_unavailable, "not ready: " + why + "\n",
                   "text/plain; charset=utf-8");
    }
    return reply(http::status::not_found, "not found; try /metrics, /healthz or /readyz\n",
                 "text/plain; charset=utf-8");
  }

  net::awaitable<void> serve(tcp::socket socket) {
    auto self = shared_from_this();
    if (stopped) co_return;  // accepted just before stop(): not in `open`, close it now
    beast::tcp_stream stream(std::move(socket));
    auto it = open.insert(open.end(), &stream);
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::empty_body> parser;
      parser.header_limit(8192);
      stream.expires_after(idle_timeout);
      auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
      if (ec) break;
      auto res = answer(parser.get());
      stream.expires_after(idle_timeout);
      auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
      if (wec || !res.keep_alive()) break;
    }
    open.erase(it);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }

  net::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    while (!stopped) {
      auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
      if (ec) {
        if (stopped || ec == net::error::operation_aborted) break;
        continue;  // e.g. EMFILE: keep serving the connections we have
      }
      net::co_spawn(ex, serve(std::move(socket)), [](std::exception_ptr) {});
    }
  }
};

status_server::status_server(net::any_io_executor ex, status_handlers handlers)
    : impl_(std::make_shared<impl>(ex, std::move(handlers))) {}

status_server::~status_server() {
  stop();
}

std::string status_server::start(const std::string& listen) {
  std::size_t colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  std::string port = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  beast::error_code ec;
  net::ip::address address = net::ip::make_address(host, ec);
  if (ec) {
    // A host name: resolve it once, at start.
    tcp::resolver resolver(impl_->ex);
    auto results = resolver.resolve(host, port, ec);
    if (ec || results.empty())
      return "cannot resolve listen address " + listen + ": " + ec.message();
    address = results.begin()->endpoint().address();
  }
  tcp::endpoint ep(address, static_cast<std::uint16_t>(std::stoi(port)));
  tcp::acceptor& a = impl_->acceptor;
  if (a.open(ep.protocol(), ec); ec) return "cannot listen on " + listen + ": " + ec.message();
  a.set_option(net::socket_base::reuse_address(true), ec);
  if (a.bind(ep, ec); ec) return "cannot listen on " + listen + ": " + ec.message();
  if (a.listen(net::socket_base::max_listen_connections, ec); ec)
    return "cannot listen on " + listen + ": " + ec.message();
  net::co_spawn(impl_->ex, impl_->accept_loop(), [](std::exception_ptr) {});
  return {};
}

std::uint16_t status_server::port() const {
  beast::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

void status_server::stop() {
  impl_->stopped = true;
  beast::error_code ec;
  impl_->acceptor.close(ec);
  for (beast::tcp_stream* s : impl_->open) s->socket().close(ec);
}

}  // namespace qoewatch::metrics
