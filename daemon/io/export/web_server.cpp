#include "export/web_server.hpp"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <list>
#include <optional>
#include <set>

namespace qoewatch::metrics {

namespace {
namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr auto idle_timeout = std::chrono::seconds(60);
constexpr auto handshake_timeout = std::chrono::seconds(10);

std::string openssl_reason() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "not usable";
  std::array<char, 256> buf{};
  ERR_error_string_n(code, buf.data(), buf.size());
  return buf.data();
}

// A TLS server context from PEM text; its error names the setting at fault.
std::optional<ssl::context> make_tls_context(const std::string& cert_pem,
                                             const std::string& key_pem, std::string& error) {
  ssl::context ctx(ssl::context::tls_server);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  beast::error_code ec;
  ERR_clear_error();
  ctx.use_certificate_chain(net::buffer(cert_pem), ec);
  if (ec) {
    error = "web.tls_cert_file: cannot use the certificate: " + ec.message();
    return std::nullopt;
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())), &BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr,
      &EVP_PKEY_free);
  if (!key) {
    error = "web.tls_key_file: holds no usable private key: " + openssl_reason();
    return std::nullopt;
  }
  if (X509_check_private_key(SSL_CTX_get0_certificate(ctx.native_handle()), key.get()) != 1) {
    ERR_clear_error();
    error =
        "web.tls_key_file: the private key does not belong to the certificate in "
        "web.tls_cert_file";
    return std::nullopt;
  }
  if (SSL_CTX_use_PrivateKey(ctx.native_handle(), key.get()) != 1) {
    error = "web.tls_key_file: cannot use the private key: " + openssl_reason();
    return std::nullopt;
  }
  return ctx;
}

// "Basic base64(user:password)" split; std::nullopt when the header is anything else.
std::optional<std::pair<std::string, std::string>> basic_credentials(std::string_view header) {
  constexpr std::string_view scheme = "basic ";
  if (header.size() <= scheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != scheme[i]) return std::nullopt;
  }
  std::string_view b64 = header.substr(scheme.size());
  while (!b64.empty() && b64.front() == ' ') b64.remove_prefix(1);
  while (!b64.empty() && b64.back() == ' ') b64.remove_suffix(1);
  if (b64.empty() || b64.size() % 4 != 0 || b64.size() > 1024) return std::nullopt;
  std::string decoded(b64.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(decoded.data()),
                          reinterpret_cast<const unsigned char*>(b64.data()),
                          static_cast<int>(b64.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock keeps the bytes the padding stands for: drop one per '='.
  std::size_t size = static_cast<std::size_t>(n);
  for (std::size_t i = b64.size(); i > 0 && b64[i - 1] == '='; --i) --size;
  decoded.resize(size);
  std::size_t colon = decoded.find(':');
  if (colon == std::string::npos) return std::nullopt;
  return std::pair{decoded.substr(0, colon), decoded.substr(colon + 1)};
}

// Whether `password` hashes to `hash` under bcrypt (libxcrypt), compared in constant time.
bool bcrypt_matches(const std::string& password, const std::string& hash) {
  auto data = std::make_unique<crypt_data>();
  const char* out = crypt_r(password.c_str(), hash.c_str(), data.get());
  bool ok = out != nullptr && std::strlen(out) == hash.size() &&
            CRYPTO_memcmp(out, hash.data(), hash.size()) == 0;
  OPENSSL_cleanse(data.get(), sizeof(crypt_data));
  return ok;
}

// bcrypt_matches, run on the bcrypt thread; the password is wiped after.
net::awaitable<bool> bcrypt_on_thread(std::string password, std::string hash) {
  bool matches = bcrypt_matches(password, hash);
  OPENSSL_cleanse(password.data(), password.size());
  co_return matches;
}

// A password checked against an unknown user still costs one bcrypt, so response times do not
// tell which user names exist. (The bcrypt of "qoewatch" with cost 10.)
const std::string unknown_user_hash =
    "$2b$10$yWSQSMgkqUrSgmr36ThEqOCdbVL8vbzT5Fr9R6CAXI5E.NenyVqeK";

}  // namespace

std::string tls_problem(const std::string& cert_pem, const std::string& key_pem) {
  std::string error;
  make_tls_context(cert_pem, key_pem, error);
  return error;
}

struct web_server::impl : std::enable_shared_from_this<impl> {
  net::any_io_executor ex;
  web_handlers handlers;
  tcp::acceptor acceptor;
  std::list<beast::tcp_stream*> open;  // connections to close on stop()
  bool stopped = false;
  std::shared_ptr<ssl::context> tls;         // held by each TLS connection: a reload may replace it
  std::map<std::string, std::string> users;  // user: bcrypt hash
  // HMAC-SHA-256 (with a key of this process) of "user\0password" pairs bcrypt accepted, so a
  // scrape every 15 s costs one bcrypt per process, not one per scrape. Bounded: cleared when
  // it reaches 64.
  std::set<std::array<unsigned char, 32>> accepted;
  std::array<unsigned char, 32> cache_key{};
  std::unique_ptr<net::thread_pool> bcrypt_thread;

  impl(net::any_io_executor e, web_handlers h) : ex(e), handlers(std::move(h)), acceptor(e) {
    RAND_bytes(cache_key.data(), static_cast<int>(cache_key.size()));
  }

  ~impl() {
    if (bcrypt_thread) bcrypt_thread->join();
  }

  std::array<unsigned char, 32> digest(const std::string& user, const std::string& pw) const {
    std::string both = user + '\0' + pw;
    std::array<unsigned char, 32> out{};
    unsigned int n = 0;
    HMAC(EVP_sha256(), cache_key.data(), static_cast<int>(cache_key.size()),
         reinterpret_cast<const unsigned char*>(both.data()), both.size(), out.data(), &n);
    OPENSSL_cleanse(both.data(), both.size());
    return out;
  }

  const std::string* hash_of(const std::string& user) const {
    auto it = users.find(user);
    return it == users.end() ? nullptr : &it->second;
  }

  // Whether the request carries the password of a configured user.
  net::awaitable<bool> authorized(const http::request<http::empty_body>& req) {
    auto it = req.find(http::field::authorization);
    if (it == req.end()) co_return false;
    auto creds = basic_credentials(it->value());
    if (!creds) co_return false;
    std::string user = std::move(creds->first), password = std::move(creds->second);
    auto key = digest(user, password);
    if (accepted.contains(key)) co_return true;
    const std::string* configured = hash_of(user);
    const std::string hash = configured == nullptr ? unknown_user_hash : *configured;
    // (A coroutine of its own, not a capturing lambda: GCC 12 frees a coroutine lambda's
    // captures twice.)
    bool ok =
        co_await net::co_spawn(bcrypt_thread->get_executor(),
                               bcrypt_on_thread(std::move(password), hash), net::use_awaitable);
    // Looked up again: a reload meanwhile may have removed the user or changed the hash.
    configured = hash_of(user);
    ok = ok && configured != nullptr && *configured == hash;
    if (ok) {
      if (accepted.size() >= 64) accepted.clear();
      accepted.insert(key);
    }
    co_return ok;
  }

  http::response<http::string_body> answer(const http::request<http::empty_body>& req,
                                           bool allowed) {
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
    if (path == "/healthz") return reply(http::status::ok, "ok\n", "text/plain; charset=utf-8");
    if (!allowed) {
      auto res = reply(http::status::unauthorized, "unauthorized\n", "text/plain; charset=utf-8");
      res.set(http::field::www_authenticate, "Basic realm=\"qoewatch\", charset=\"UTF-8\"");
      return res;
    }
    if (path == "/metrics")
      return reply(http::status::ok, handlers.metrics(),
                   "text/plain; version=0.0.4; charset=utf-8");
    if (path == "/readyz") {
      std::string why = handlers.not_ready();
      if (why.empty()) return reply(http::status::ok, "ready\n", "text/plain; charset=utf-8");
      return reply(http::status::service_unavailable, "not ready: " + why + "\n",
                   "text/plain; charset=utf-8");
    }
    return reply(http::status::not_found, "not found; try /metrics, /healthz or /readyz\n",
                 "text/plain; charset=utf-8");
  }

  // Requests and answers on one connection, plain or TLS, until it closes or idles out.
  template <class Stream>
  net::awaitable<void> exchange(Stream& stream, beast::tcp_stream& tcp) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::empty_body> parser;
      parser.header_limit(8192);
      tcp.expires_after(idle_timeout);
      auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
      if (ec) break;
      const auto& req = parser.get();
      std::string_view path = req.target();
      path = path.substr(0, path.find('?'));
      // (No co_await inside || or ?: : GCC 12 miscompiles those.)
      bool allowed = true;
      if (!users.empty() && path != "/healthz") allowed = co_await authorized(req);
      if (stopped) break;
      auto res = answer(req, allowed);
      tcp.expires_after(idle_timeout);
      auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
      if (wec || !res.keep_alive()) break;
    }
  }

  net::awaitable<void> serve(tcp::socket socket) {
    auto self = shared_from_this();
    if (stopped) co_return;  // accepted just before stop(): not in `open`, close it now
    beast::error_code ignored;
    if (std::shared_ptr<ssl::context> ctx = tls) {
      beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *ctx);
      beast::tcp_stream& tcp = stream.next_layer();
      auto it = open.insert(open.end(), &tcp);
      tcp.expires_after(handshake_timeout);
      auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, use_tuple);
      if (!ec) {
        co_await exchange(stream, tcp);
        tcp.expires_after(handshake_timeout);
        co_await stream.async_shutdown(use_tuple);
      }
      open.erase(it);
      tcp.socket().shutdown(tcp::socket::shutdown_both, ignored);
    } else {
      beast::tcp_stream stream(std::move(socket));
      auto it = open.insert(open.end(), &stream);
      co_await exchange(stream, stream);
      open.erase(it);
      stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    }
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

web_server::web_server(net::any_io_executor ex, web_handlers handlers)
    : impl_(std::make_shared<impl>(ex, std::move(handlers))) {}

web_server::~web_server() {
  stop();
}

std::string web_server::secure(const web_security& security) {
  std::shared_ptr<ssl::context> tls;
  if (!security.tls_cert_pem.empty() || !security.tls_key_pem.empty()) {
    std::string error;
    std::optional<ssl::context> ctx =
        make_tls_context(security.tls_cert_pem, security.tls_key_pem, error);
    if (!ctx) return error;
    tls = std::make_shared<ssl::context>(std::move(*ctx));
  }
  impl_->tls = std::move(tls);
  impl_->users = security.basic_auth_users;
  impl_->accepted.clear();
  if (!impl_->users.empty() && !impl_->bcrypt_thread)
    impl_->bcrypt_thread = std::make_unique<net::thread_pool>(1);
  return {};
}

std::string web_server::start(const std::string& listen) {
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

std::uint16_t web_server::port() const {
  beast::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

void web_server::stop() {
  impl_->stopped = true;
  beast::error_code ec;
  impl_->acceptor.close(ec);
  for (beast::tcp_stream* s : impl_->open) s->socket().close(ec);
}

}  // namespace qoewatch::metrics
