// The connection pool behind http::client: request slots (at most max_connections in
// flight, FIFO waiters), idle keep-alive connections, the deadline race and the one retry.
//
// Waiting works on one thread without locks: a request that finds no free slot queues a
// waiter (a steady_timer that never expires) and waits on it; release() hands its slot
// straight to the oldest waiter and cancels that timer, close() marks every waiter closed and
// cancels them all. The pool is shared by the client and every running send(), so a send
// suspended in a timer never outlives the state it touches.
#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <cctype>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "connection.hpp"
#include "http/client.hpp"

namespace qoewatch::http {

namespace detail {

namespace bhttp = beast::http;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// RFC 9110 token characters (method and header names).
bool valid_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

bool valid_field_value(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

std::variant<beast_request, failure> build_request(const request& req, const origin& o,
                                                   const client_options& opts) {
  // Messages name the header, never its value (the API key is one).
  if (!valid_token(req.method)) return failure{failure_kind::protocol, "invalid request method"};
  beast_request msg;
  if (auto verb = bhttp::string_to_verb(req.method); verb != bhttp::verb::unknown) {
    msg.method(verb);
  } else {
    msg.method_string(req.method);
  }
  msg.target(req.target.empty() ? "/" : req.target);
  msg.version(11);
  msg.set(bhttp::field::host, host_header(o));
  msg.set(bhttp::field::user_agent, opts.user_agent);
  for (const auto& [name, value] : req.headers) {
    if (!valid_token(name)) return failure{failure_kind::protocol, "invalid request header name"};
    if (!valid_field_value(value)) {
      return failure{failure_kind::protocol, "invalid value for request header " + name};
    }
    auto field = bhttp::string_to_field(name);
    // The caller may override Host and User-Agent; any other header may repeat.
    if (field == bhttp::field::host || field == bhttp::field::user_agent) {
      msg.set(name, value);
    } else {
      msg.insert(name, value);
    }
  }
  msg.body() = req.body;
  msg.keep_alive(true);
  msg.prepare_payload();
  return msg;
}

// Runs in the deadline race: connects when `endpoints` is given, then one exchange.
net::awaitable<exchange_outcome> attempt(connection& conn,
                                         const tcp::resolver::results_type* endpoints,
                                         beast_request& msg, const origin& o,
                                         const client_options& opts, step& current) {
  if (endpoints) {
    if (auto f = co_await conn.open(*endpoints, o, opts.connect_timeout, current)) {
      co_return exchange_outcome{result{std::move(*f)}};
    }
  }
  co_return co_await conn.exchange(msg, o, opts, current);
}

}  // namespace

class pool {
 public:
  pool(net::any_io_executor ex, origin o, client_options opts)
      : ex_(std::move(ex)),
        origin_(std::move(o)),
        opts_(std::move(opts)),
        max_in_flight_(std::max<std::size_t>(1, opts_.max_connections)) {
    if (origin_.tls) {
      auto ctx = make_tls_context(opts_);
      if (auto* f = std::get_if<failure>(&ctx)) {
        tls_error_ = std::move(*f);
      } else {
        tls_.emplace(std::move(std::get<ssl::context>(ctx)));
      }
    }
  }

  static net::awaitable<result> send(std::shared_ptr<pool> self, request req) {
    if (self->closed_) co_return self->closed_failure();
    if (self->tls_error_) co_return *self->tls_error_;
    auto built = build_request(req, self->origin_, self->opts_);
    if (auto* f = std::get_if<failure>(&built)) co_return std::move(*f);
    if (auto f = co_await acquire(self)) co_return std::move(*f);
    slot held(self);
    co_return co_await self->exchange(std::get<beast_request>(built));
  }

  void close() {
    closed_ = true;
    for (auto& conn : idle_) conn->close();
    idle_.clear();
    for (waiter* w : waiters_) {
      w->state = waiter::closed;
      w->timer.cancel();
    }
    waiters_.clear();
  }

  // close(), and also closes the connections of requests in flight: they fail at once.
  void abort() {
    close();
    for (connection* c : busy_) c->close();
  }

  const origin& where() const { return origin_; }

 private:
  struct waiter {
    explicit waiter(const net::any_io_executor& ex)
        : timer(ex, net::steady_timer::time_point::max()) {}
    net::steady_timer timer;
    enum { queued, granted, closed } state = queued;
    bool accepted = false;  // the granted slot was taken over by the request
  };

  // Leaves the queue if still in it, passes a granted slot on if it was never taken over
  // (a cancelled or destroyed request).
  struct waiter_guard {
    pool& p;
    waiter& w;
    ~waiter_guard() {
      if (w.state == waiter::queued) {
        std::erase(p.waiters_, &w);
      } else if (w.state == waiter::granted && !w.accepted) {
        p.release();
      }
    }
  };

  // One request slot, released on every path out of send().
  class slot {
   public:
    explicit slot(std::shared_ptr<pool> p) : pool_(std::move(p)) {}
    slot(const slot&) = delete;
    slot& operator=(const slot&) = delete;
    ~slot() { pool_->release(); }

   private:
    std::shared_ptr<pool> pool_;
  };

  failure closed_failure() const {
    return {failure_kind::closed, "client for " + authority(origin_) + " is closed"};
  }

  // Takes a slot, waiting in FIFO order when all are in use; std::nullopt when taken.
  static net::awaitable<std::optional<failure>> acquire(std::shared_ptr<pool> self) {
    if (self->closed_) co_return self->closed_failure();
    if (self->in_flight_ < self->max_in_flight_ && self->waiters_.empty()) {
      ++self->in_flight_;
      co_return std::nullopt;
    }
    waiter w(self->ex_);
    self->waiters_.push_back(&w);
    waiter_guard guard{*self, w};
    co_await w.timer.async_wait(use_tuple);
    switch (w.state) {
      case waiter::granted:
        // close() may have come between the grant and this resumption.
        if (self->closed_) co_return self->closed_failure();
        w.accepted = true;
        co_return std::nullopt;
      case waiter::closed:
        co_return self->closed_failure();
      case waiter::queued:
        break;
    }
    // Cancelled by the caller (the guard leaves the queue).
    co_return failure{failure_kind::closed,
                      "cancelled while waiting for a connection to " + authority(self->origin_)};
  }

  void release() {
    if (!waiters_.empty()) {
      waiter* next = waiters_.front();
      waiters_.pop_front();
      next->state = waiter::granted;
      next->timer.cancel();
      return;
    }
    --in_flight_;
  }

  net::awaitable<std::variant<tcp::resolver::results_type, failure>> resolve() {
    tcp::resolver resolver(ex_);
    auto [ec, results] = co_await resolver.async_resolve(origin_.host, origin_.port,
                                                         tcp::resolver::numeric_service, use_tuple);
    if (ec) {
      co_return failure{failure_kind::resolve,
                        "cannot resolve " + origin_.host + ": " + ec.message()};
    }
    co_return std::move(results);
  }

  failure deadline_failure(step current) const {
    return {failure_kind::timeout, "deadline of " + format_duration(opts_.deadline) + " exceeded " +
                                       std::string(describe(current)) + " " + authority(origin_)};
  }

  // The exchange on an idle connection or a new one, raced against the deadline; resolving
  // stays outside the race (it cannot be cancelled) and outside the deadline's budget.
  net::awaitable<result> exchange(beast_request& msg) {
    using namespace net::experimental::awaitable_operators;
    std::unique_ptr<connection> conn;
    if (!idle_.empty()) {
      // The most recently used connection is the least likely to have been closed.
      conn = std::move(idle_.back());
      idle_.pop_back();
    }
    bool reused = conn != nullptr;
    std::chrono::steady_clock::duration budget = opts_.deadline;
    step current = step::connect;
    for (;;) {
      if (closed_) co_return closed_failure();
      std::optional<tcp::resolver::results_type> endpoints;
      if (!conn) {
        auto resolved = co_await resolve();
        if (auto* f = std::get_if<failure>(&resolved)) co_return std::move(*f);
        endpoints = std::move(std::get<tcp::resolver::results_type>(resolved));
        conn = std::make_unique<connection>(ex_, tls_ ? &*tls_ : nullptr);
      }
      if (budget <= budget.zero()) co_return deadline_failure(current);
      net::steady_timer deadline(ex_);
      deadline.expires_after(budget);
      auto started = std::chrono::steady_clock::now();
      busy_.push_back(conn.get());
      struct unbusy {
        std::vector<connection*>& busy;
        connection* c;
        ~unbusy() { std::erase(busy, c); }
      } registered{busy_, conn.get()};
      auto raced = co_await (
          attempt(*conn, endpoints ? &*endpoints : nullptr, msg, origin_, opts_, current) ||
          deadline.async_wait(net::use_awaitable));
      budget -= std::chrono::steady_clock::now() - started;
      // Deadline first: the exchange was cancelled mid-way, the connection is unusable.
      if (raced.index() == 1) co_return deadline_failure(current);
      auto out = std::move(std::get<0>(raced));
      if (out.stale && reused) {
        // The server closed the idle connection: retry once on a fresh one.
        conn.reset();
        reused = false;
        current = step::connect;
        continue;
      }
      if (out.reusable && !closed_) idle_.push_back(std::move(conn));
      co_return std::move(out.res);
    }
  }

  net::any_io_executor ex_;
  origin origin_;
  client_options opts_;
  std::size_t max_in_flight_;
  std::optional<ssl::context> tls_;
  std::optional<failure> tls_error_;  // the CA file or trust store could not be loaded
  std::size_t in_flight_ = 0;
  std::deque<waiter*> waiters_;
  std::vector<std::unique_ptr<connection>> idle_;
  std::vector<connection*> busy_;  // connections carrying a request right now
  bool closed_ = false;
};

}  // namespace detail

std::string describe(const result& r) {
  if (const auto* f = std::get_if<failure>(&r)) return f->message;
  const response& res = std::get<response>(r);
  return "HTTP " + std::to_string(res.status) + ", " + std::to_string(res.body.size()) + " bytes";
}

const std::string* response::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (n == name) return &v;
  }
  return nullptr;
}

struct client::impl {
  std::shared_ptr<detail::pool> pool;
};

client::client(boost::asio::any_io_executor ex, origin o, client_options opts)
    : impl_(std::make_unique<impl>(
          impl{std::make_shared<detail::pool>(std::move(ex), std::move(o), std::move(opts))})) {}

client::~client() {
  if (impl_) impl_->pool->close();
}

boost::asio::awaitable<result> client::send(request req) {
  // Not a coroutine: the pool's shared_ptr is copied into the send's frame right here.
  return detail::pool::send(impl_->pool, std::move(req));
}

void client::close() {
  impl_->pool->close();
}

void client::abort() {
  impl_->pool->abort();
}

const origin& client::where() const {
  return impl_->pool->where();
}

}  // namespace qoewatch::http
