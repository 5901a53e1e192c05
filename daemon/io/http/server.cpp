#include "http/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <exception>
#include <list>

namespace qoewatch::http {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using beast_response = bhttp::response<bhttp::string_body>;

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
// The last answer to a request that could not be read goes out within this, or not at all.
constexpr auto last_answer_timeout = std::chrono::seconds(5);
// After a failed accept (out of descriptors and the like): wait instead of spinning.
constexpr auto accept_retry_pause = std::chrono::milliseconds(100);

std::string format_endpoint(const tcp::endpoint& ep) {
  std::string address = ep.address().to_string();
  if (ep.address().is_v6()) address = "[" + address + "]";
  return address + ":" + std::to_string(ep.port());
}

// `res` as it goes on the wire: Server and Content-Type first, then the framing (Connection,
// Content-Length), then the handler's own headers.
beast_response frame(server::response res, const std::string& name, unsigned version,
                     bool keep_alive) {
  beast_response out{static_cast<bhttp::status>(res.status), version};
  if (!name.empty()) out.set(bhttp::field::server, name);
  if (!res.content_type.empty()) out.set(bhttp::field::content_type, res.content_type);
  out.keep_alive(keep_alive);
  out.body() = std::move(res.body);
  out.prepare_payload();
  for (const auto& [field, value] : res.headers) out.set(field, value);
  return out;
}

// What was wrong with a request that could not be read, when it deserves an answer; nullopt
// for a peer that closed, went silent or failed below HTTP.
std::optional<server::bad_request> classify(const beast::error_code& ec) {
  if (ec == bhttp::error::body_limit) return server::bad_request::body_too_large;
  if (ec == bhttp::error::header_limit) return server::bad_request::header_too_large;
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
      ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message)
    return server::bad_request::malformed;
  return std::nullopt;
}

server::request to_request(bhttp::request<bhttp::string_body>&& in) {
  server::request out;
  out.method = in.method_string();
  out.target = in.target();
  out.version = in.version();
  out.keep_alive = in.keep_alive();
  for (const auto& f : in) out.headers.emplace_back(f.name_string(), f.value());
  out.body = std::move(in.body());
  return out;
}

// Completion handler for co_spawn: what a coroutine threw goes to the log, if there is one.
auto report(std::function<void(std::string_view)> log, std::string what) {
  return [log = std::move(log), what = std::move(what)](std::exception_ptr e) {
    if (!e || !log) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log(what + " failed: " + ex.what());
    }
  };
}

// One connection's stream, as a handler sees it, plus the request being answered.
template <class Stream>
class stream_connection final : public server::connection {
 public:
  stream_connection(Stream& stream, const server::options& opts) : stream_(stream), opts_(opts) {}

  net::awaitable<bool> write_raw(std::string_view bytes,
                                 std::chrono::milliseconds timeout) override {
    beast::get_lowest_layer(stream_).expires_after(timeout);
    auto [ec, n] =
        co_await net::async_write(stream_, net::buffer(bytes.data(), bytes.size()), use_tuple);
    co_return !ec;
  }

  net::awaitable<bool> write_head(const server::response& res) override {
    beast_response msg = frame(res, opts_.name, version, keep_alive);
    bhttp::response_serializer<bhttp::string_body> sr(msg);
    beast::get_lowest_layer(stream_).expires_after(opts_.idle_timeout);
    auto [ec, n] = co_await bhttp::async_write_header(stream_, sr, use_tuple);
    co_return !ec;
  }

  void reset() override {
    auto& socket = beast::get_lowest_layer(stream_).socket();
    beast::error_code ignored;
    socket.set_option(net::socket_base::linger(true, 0), ignored);
    socket.close(ignored);
  }

  net::any_io_executor executor() override { return stream_.get_executor(); }

  unsigned version = 11;  // of the request being answered
  bool keep_alive = true;

 private:
  Stream& stream_;
  const server::options& opts_;
};

}  // namespace

const std::string* server::request::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (beast::iequals(n, name)) return &v;
  }
  return nullptr;
}

std::optional<server::response> server::handler::malformed(bad_request, const std::string&) {
  return std::nullopt;
}

struct server::impl : std::enable_shared_from_this<impl> {
  net::any_io_executor ex;
  options opts;
  std::shared_ptr<server::handler> handler;
  tcp::acceptor acceptor;
  std::shared_ptr<ssl::context> tls;   // held by each TLS connection: use_tls may replace it
  std::list<beast::tcp_stream*> open;  // connections to close on stop()
  bool stopped = false;

  impl(net::any_io_executor e, options o, std::shared_ptr<server::handler> h)
      : ex(e), opts(std::move(o)), handler(std::move(h)), acceptor(e) {}

  void log(const std::string& line) const {
    if (opts.log) opts.log(line);
  }

  // Puts a connection on the list stop() closes, for as long as it lives.
  struct registration {
    impl& owner;
    std::list<beast::tcp_stream*>::iterator it;
    registration(impl& o, beast::tcp_stream& s) : owner(o), it(o.open.insert(o.open.end(), &s)) {}
    ~registration() { owner.open.erase(it); }
    registration(const registration&) = delete;
    registration& operator=(const registration&) = delete;
  };

  // Reads requests and writes answers until the peer closes, an error, an answer that closes
  // the connection, or a handler that took it over.
  template <class Stream>
  net::awaitable<void> exchange(Stream& stream, beast::tcp_stream& tcp) {
    stream_connection<Stream> conn(stream, opts);
    beast::flat_buffer buffer;
    for (;;) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(opts.header_limit));
      parser.body_limit(opts.body_limit);
      tcp.expires_after(opts.idle_timeout);
      auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, parser, use_tuple);
      if (!ec && opts.body_limit > 0 && !parser.is_done() &&
          parser.get()[bhttp::field::expect] == "100-continue") {
        bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, parser.get().version()};
        auto [wec, wn] = co_await bhttp::async_write(stream, cont, use_tuple);
        ec = wec;
      }
      if (!ec && !parser.is_done()) {
        auto [rec, rn] = co_await bhttp::async_read(stream, buffer, parser, use_tuple);
        ec = rec;
      }
      if (ec) {
        std::optional<bad_request> what = classify(ec);
        std::optional<response> last;
        if (what) last = handler->malformed(*what, ec.message());
        if (last) {
          beast_response res = frame(std::move(*last), opts.name, 11, false);
          tcp.expires_after(last_answer_timeout);
          co_await bhttp::async_write(stream, res, use_tuple);
        }
        co_return;
      }

      request req = to_request(parser.release());
      conn.version = req.version;
      conn.keep_alive = req.keep_alive;
      std::optional<response> answer = co_await handler->handle(req, conn);
      if (stopped || !answer) co_return;
      beast_response res = frame(std::move(*answer), opts.name, req.version, req.keep_alive);
      tcp.expires_after(opts.idle_timeout);
      auto [wec, wn] = co_await bhttp::async_write(stream, res, use_tuple);
      if (wec || !res.keep_alive()) co_return;
    }
  }

  net::awaitable<void> serve(tcp::socket socket) {
    auto self = shared_from_this();
    if (stopped) co_return;  // accepted just before stop(): close it now
    beast::error_code ignored;
    if (std::shared_ptr<ssl::context> ctx = tls) {
      beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *ctx);
      beast::tcp_stream& tcp = stream.next_layer();
      registration reg(*this, tcp);
      tcp.expires_after(opts.handshake_timeout);
      auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, use_tuple);
      if (ec) {
        log("TLS handshake failed: " + ec.message());
      } else {
        co_await exchange(stream, tcp);
        tcp.expires_after(opts.tls_shutdown_timeout);
        co_await stream.async_shutdown(use_tuple);
      }
      tcp.socket().shutdown(tcp::socket::shutdown_both, ignored);
    } else {
      beast::tcp_stream stream(std::move(socket));
      registration reg(*this, stream);
      co_await exchange(stream, stream);
      stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    }
  }

  net::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    while (!stopped) {
      auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
      if (stopped || ec == net::error::operation_aborted) break;
      if (ec) {
        log("accept failed: " + ec.message());
        net::steady_timer pause(ex, accept_retry_pause);
        co_await pause.async_wait(use_tuple);
        continue;
      }
      net::co_spawn(ex, serve(std::move(socket)), report(opts.log, "connection"));
    }
  }
};

server::server(net::any_io_executor ex, options opts, std::shared_ptr<handler> h)
    : impl_(std::make_shared<impl>(ex, std::move(opts), std::move(h))) {}

server::~server() {
  stop();
}

std::optional<server::listen_failure> server::listen(const std::string& host, std::uint16_t port) {
  beast::error_code ec;
  net::ip::address address = net::ip::make_address(host, ec);
  if (ec) {
    // A host name: resolved once, now.
    tcp::resolver resolver(impl_->ex);
    auto results = resolver.resolve(host, std::to_string(port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec || results.empty()) return listen_failure{true, "", ec.message()};
    address = results.begin()->endpoint().address();
  }
  tcp::endpoint endpoint(address, port);
  tcp::acceptor& a = impl_->acceptor;
  a.open(endpoint.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(endpoint, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    beast::error_code ignored;
    a.close(ignored);
    return listen_failure{false, format_endpoint(endpoint), ec.message()};
  }
  net::co_spawn(impl_->ex, impl_->accept_loop(), report(impl_->opts.log, "listener"));
  return std::nullopt;
}

void server::use_tls(std::shared_ptr<ssl::context> ctx) {
  impl_->tls = std::move(ctx);
}

std::uint16_t server::port() const {
  beast::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

std::string server::local_endpoint() const {
  beast::error_code ec;
  return format_endpoint(impl_->acceptor.local_endpoint(ec));
}

void server::stop() {
  impl_->stopped = true;
  beast::error_code ec;
  impl_->acceptor.close(ec);
  for (beast::tcp_stream* s : impl_->open) s->socket().close(ec);
}

}  // namespace qoewatch::http
