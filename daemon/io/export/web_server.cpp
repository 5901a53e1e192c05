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
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cctype>
#include <cstring>
#include <optional>
#include <set>

#include "http/server.hpp"

namespace qoewatch::metrics {

namespace {
namespace net = boost::asio;
namespace ssl = net::ssl;
using server = http::server;

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
  boost::system::error_code ec;
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

// The server's options: the daemon's Server header, small request caps; the
// timeouts the daemon has always had. A bad request closes the connection without a word.
server::options web_options() {
  server::options o;
  o.name = "qoewatch";
  o.header_limit = 8192;
  o.body_limit = 64u << 10;  // a silence with its matchers and comment
  o.idle_timeout = std::chrono::seconds(60);
  o.handshake_timeout = std::chrono::seconds(10);
  o.tls_shutdown_timeout = std::chrono::seconds(10);
  return o;
}

// Answers /metrics, /healthz and /readyz, checking basic auth where users are configured.
class endpoints final : public server::handler {
 public:
  explicit endpoints(web_handlers handlers) : handlers_(std::move(handlers)) {
    RAND_bytes(cache_key_.data(), static_cast<int>(cache_key_.size()));
  }
  ~endpoints() override {
    if (bcrypt_thread_) bcrypt_thread_->join();
  }
  endpoints(const endpoints&) = delete;
  endpoints& operator=(const endpoints&) = delete;

  // Requests from now on are checked against `users` (user: bcrypt hash; empty: no auth).
  void set_users(std::map<std::string, std::string> users) {
    users_ = std::move(users);
    accepted_.clear();
    if (!users_.empty() && !bcrypt_thread_) bcrypt_thread_ = std::make_unique<net::thread_pool>(1);
  }

  // Whether the API answers without users: on a loopback address (set at start), or when
  // web.allow_unauthenticated_writes says so (set at start and at reloads).
  void set_loopback(bool loopback) { loopback_ = loopback; }
  void set_open_api(bool allowed) { open_api_ = allowed; }

  net::awaitable<std::optional<server::response>> handle(const server::request& req,
                                                         server::connection&) override {
    std::string_view path = req.target;
    path = path.substr(0, path.find('?'));
    // (No co_await inside || or ?: : GCC 12 miscompiles those.)
    bool allowed = true;
    if (!users_.empty() && path != "/healthz") allowed = co_await authorized(req);
    if (path == "/api/v2" || path.starts_with("/api/v2/")) {
      std::optional<server::response> res = co_await api(req, allowed);
      co_return res;
    }
    co_return answer(req, allowed);
  }

  std::optional<server::response> malformed(server::bad_request what, const std::string&) override {
    if (what != server::bad_request::body_too_large) return std::nullopt;
    return server::response{413, "text/plain; charset=utf-8", "request body over 64 KiB\n", {}};
  }

 private:
  std::array<unsigned char, 32> digest(const std::string& user, const std::string& pw) const {
    std::string both = user + '\0' + pw;
    std::array<unsigned char, 32> out{};
    unsigned int n = 0;
    HMAC(EVP_sha256(), cache_key_.data(), static_cast<int>(cache_key_.size()),
         reinterpret_cast<const unsigned char*>(both.data()), both.size(), out.data(), &n);
    OPENSSL_cleanse(both.data(), both.size());
    return out;
  }

  const std::string* hash_of(const std::string& user) const {
    auto it = users_.find(user);
    return it == users_.end() ? nullptr : &it->second;
  }

  // Whether the request carries the password of a configured user.
  net::awaitable<bool> authorized(const server::request& req) {
    const std::string* header = req.header("Authorization");
    if (header == nullptr) co_return false;
    auto creds = basic_credentials(*header);
    if (!creds) co_return false;
    std::string user = std::move(creds->first), password = std::move(creds->second);
    auto key = digest(user, password);
    if (accepted_.contains(key)) co_return true;
    const std::string* configured = hash_of(user);
    const std::string hash = configured == nullptr ? unknown_user_hash : *configured;
    // (A coroutine of its own, not a capturing lambda: GCC 12 frees a coroutine lambda's
    // captures twice.)
    bool ok =
        co_await net::co_spawn(bcrypt_thread_->get_executor(),
                               bcrypt_on_thread(std::move(password), hash), net::use_awaitable);
    // Looked up again: a reload meanwhile may have removed the user or changed the hash.
    configured = hash_of(user);
    ok = ok && configured != nullptr && *configured == hash;
    if (ok) {
      if (accepted_.size() >= 64) accepted_.clear();
      accepted_.insert(key);
    }
    co_return ok;
  }

  net::awaitable<std::optional<server::response>> api(const server::request& req, bool allowed) {
    const bool head = req.method == "HEAD";
    const char* json = "application/json";
    if (!allowed) {
      server::response res{401, json, head ? "" : "\"unauthorized\"\n", {}};
      res.headers.emplace_back("WWW-Authenticate", "Basic realm=\"qoewatch\", charset=\"UTF-8\"");
      co_return res;
    }
    if (std::string why = refused_by_browser_rules(req); !why.empty())
      co_return server::response{403, json, head ? "" : "\"" + why + "\"\n", {}};
    if (req.method == "POST") {
      const std::string* type = req.header("Content-Type");
      if (!type || type->find("application/json") == std::string::npos)
        co_return server::response{415, json, "\"a silence is posted as application/json\"\n", {}};
    }
    if (users_.empty() && !loopback_ && !open_api_)
      co_return server::response{
          403,
          json,
          head ? ""
               : "\"the Alertmanager API answers only on a loopback listen address when "
                 "web.basic_auth_users is not set: set web.basic_auth_users, or "
                 "web.allow_unauthenticated_writes: true\"\n",
          {}};
    if (!handlers_.api) co_return server::response{404, json, "\"not found\"\n", {}};
    // Named, then moved in: GCC 12 destroys a temporary in a co_await twice.
    web_request call{head ? "GET" : req.method, req.target, req.body, requester(req)};
    web_answer a = co_await handlers_.api(std::move(call));
    co_return server::response{a.status, a.content_type, head ? "" : std::move(a.body), {}};
  }

  // A browser may be made to send requests to this address by any page it shows (a silence
  // posted as text/plain needs no preflight), or, by DNS rebinding, to read it too. amtool
  // sends neither Origin nor Sec-Fetch-Site; browsers do. Without users on a loopback
  // address, only a loopback Host name is accepted. "" when the request may go on.
  std::string refused_by_browser_rules(const server::request& req) const {
    const std::string* host = req.header("Host");
    if (const std::string* site = req.header("Sec-Fetch-Site");
        site && *site != "same-origin" && *site != "none")
      return "cross-site requests to the Alertmanager API are refused";
    if (const std::string* origin = req.header("Origin")) {
      if (!host || (*origin != "http://" + *host && *origin != "https://" + *host))
        return "requests from another origin to the Alertmanager API are refused";
    }
    if (users_.empty() && loopback_ && !open_api_) {
      std::string name = host ? *host : "";
      if (const std::size_t colon = name.rfind(':');
          colon != std::string::npos && name.find(']') == std::string::npos)
        name.resize(colon);
      else if (name.starts_with("["))
        name = name.substr(0, name.find(']') + 1);
      if (name != "localhost" && name != "[::1]" && !name.starts_with("127."))
        return "without web.basic_auth_users the Alertmanager API answers only requests for "
               "a loopback host name (127.0.0.1, [::1], localhost)";
    }
    return {};
  }

  // Who asked, for the audit trail: the basic-auth user, or that no one logged in.
  std::string requester(const server::request& req) const {
    if (users_.empty()) return "an unauthenticated client";
    const std::string* header = req.header("Authorization");
    auto creds = header ? basic_credentials(*header) : std::nullopt;
    if (!creds) return "an unauthenticated client";
    OPENSSL_cleanse(creds->second.data(), creds->second.size());
    return "user " + creds->first;
  }

  server::response answer(const server::request& req, bool allowed) const {
    const bool head = req.method == "HEAD";
    auto reply = [head](unsigned status, std::string body, const char* type) {
      return server::response{status, type, head ? std::string() : std::move(body), {}};
    };
    const char* text = "text/plain; charset=utf-8";
    std::string_view path = req.target;
    path = path.substr(0, path.find('?'));
    if (req.method != "GET" && !head) {
      auto res = reply(405, "use GET\n", text);
      res.headers.emplace_back("Allow", "GET, HEAD");
      return res;
    }
    if (path == "/healthz") return reply(200, "ok\n", text);
    if (!allowed) {
      auto res = reply(401, "unauthorized\n", text);
      res.headers.emplace_back("WWW-Authenticate", "Basic realm=\"qoewatch\", charset=\"UTF-8\"");
      return res;
    }
    if (path == "/metrics")
      return reply(200, handlers_.metrics(), "text/plain; version=0.0.4; charset=utf-8");
    if (path == "/readyz") {
      std::string why = handlers_.not_ready();
      if (why.empty()) return reply(200, "ready\n", text);
      return reply(503, "not ready: " + why + "\n", text);
    }
    if (path == "/" && handlers_.status_page) {
      auto res = reply(200, handlers_.status_page(), "text/html; charset=utf-8");
      res.headers.emplace_back("Cache-Control", "no-store");
      return res;
    }
    return reply(404, "not found; try /, /metrics, /healthz, /readyz or /api/v2/status\n", text);
  }

  web_handlers handlers_;
  std::map<std::string, std::string> users_;  // user: bcrypt hash
  // HMAC-SHA-256 (with a key of this process) of "user\0password" pairs bcrypt accepted, so a
  // scrape every 15 s costs one bcrypt per process, not one per scrape. Bounded: cleared when
  // it reaches 64.
  std::set<std::array<unsigned char, 32>> accepted_;
  std::array<unsigned char, 32> cache_key_{};
  std::unique_ptr<net::thread_pool> bcrypt_thread_;
  bool loopback_ = false;  // bound to a loopback address
  bool open_api_ = false;  // web.allow_unauthenticated_writes
};

}  // namespace

std::string tls_problem(const std::string& cert_pem, const std::string& key_pem) {
  std::string error;
  make_tls_context(cert_pem, key_pem, error);
  return error;
}

struct web_server::impl {
  std::shared_ptr<endpoints> handler;  // shared with connections that outlive a stop()
  server srv;

  impl(net::any_io_executor ex, web_handlers handlers)
      : handler(std::make_shared<endpoints>(std::move(handlers))),
        srv(ex, web_options(), handler) {}
};

web_server::web_server(net::any_io_executor ex, web_handlers handlers)
    : impl_(std::make_unique<impl>(ex, std::move(handlers))) {}

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
  impl_->srv.use_tls(std::move(tls));
  impl_->handler->set_users(security.basic_auth_users);
  impl_->handler->set_open_api(security.open_api);
  return {};
}

std::string web_server::start(const std::string& listen) {
  std::size_t colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  std::string port = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  auto failed = impl_->srv.listen(host, static_cast<std::uint16_t>(std::stoi(port)));
  if (!failed) {
    const std::string bound = impl_->srv.local_endpoint();
    impl_->handler->set_loopback(bound.starts_with("127.") || bound.starts_with("[::1]:"));
    return {};
  }
  if (failed->resolving) return "cannot resolve listen address " + listen + ": " + failed->reason;
  return "cannot listen on " + listen + ": " + failed->reason;
}

std::uint16_t web_server::port() const {
  return impl_->srv.port();
}

void web_server::stop() {
  impl_->srv.stop();
}

}  // namespace qoewatch::metrics
