#include "notify/webhook_sink.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <optional>
#include <random>

#include "export/metrics.hpp"
#include "http/client.hpp"
#include "http/retry_after.hpp"

namespace qoewatch::notify {

namespace {
namespace net = boost::asio;
using namespace std::chrono_literals;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr std::chrono::milliseconds first_backoff = 1s;
constexpr std::chrono::milliseconds max_backoff = 60s;

struct item {
  std::string body;
  std::string rule;
};

bool retryable(unsigned status) {
  return status == 408 || status == 429 || status >= 500;
}

std::string target_of(const std::string& url) {
  std::size_t scheme = url.find("://");
  std::size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  return slash == std::string::npos ? "/" : url.substr(slash);
}
// One connection per sink keeps deliveries in order; receivers answer with small bodies.
http::client_options options(std::chrono::milliseconds timeout) {
  http::client_options o;
  o.connect_timeout = timeout;
  o.io_timeout = timeout;
  o.deadline = timeout;
  o.max_body_bytes = 1u << 20;
  o.max_connections = 1;
  return o;
}

}  // namespace

struct webhook_sink::impl {
  net::any_io_executor ex;
  std::string name;
  std::string target;
  std::chrono::milliseconds timeout;
  std::unique_ptr<http::client> client;
  std::optional<config::sink_config> next;  // settings to switch to before the next POST
  std::size_t dropped = 0;
  metrics::registry& metrics;
  std::deque<item> queue;
  net::steady_timer wake;
  bool stopping = false;
  bool in_flight = false;
  std::mt19937_64 rng{std::random_device{}()};

  impl(net::any_io_executor executor, const config::sink_config& sink, metrics::registry& m,
       std::chrono::milliseconds request_timeout)
      : ex(std::move(executor)),
        name(sink.name),
        target(target_of(sink.url)),
        timeout(request_timeout),
        client(make_client(sink)),
        metrics(m),
        wake(ex, net::steady_timer::time_point::max()) {}

  std::unique_ptr<http::client> make_client(const config::sink_config& sink) {
    return std::make_unique<http::client>(ex, http::parse_origin(sink.url).value_or(http::origin{}),
                                          options(timeout));
  }

  // Between POSTs only: the client in use must not be destroyed under a request.
  void switch_settings() {
    if (!next) return;
    client->close();
    client = make_client(*next);
    target = target_of(next->url);
    next.reset();
  }

  // Sleeps until woken by enqueue()/stop() or for `d`.
  net::awaitable<void> sleep(std::chrono::milliseconds d) {
    wake.expires_after(d);
    co_await wake.async_wait(use_tuple);
  }

  // One POST; returns true when the item is done with (delivered or dropped as hopeless).
  net::awaitable<std::pair<bool, std::optional<std::chrono::seconds>>> deliver(const item& it) {
    http::request req;
    req.method = "POST";
    req.target = target;
    req.headers = {{"Content-Type", "application/json"}};
    req.body = it.body;
    in_flight = true;
    http::result r = co_await client->send(std::move(req));
    in_flight = false;
    if (auto* f = std::get_if<http::failure>(&r)) {
      metrics.record_notification(name, false);
      spdlog::warn("sink {}: notification for rule {} not delivered: {}", name, it.rule,
                   f->message);
      co_return std::pair(false, std::nullopt);
    }
    const http::response& res = std::get<http::response>(r);
    if (res.status >= 200 && res.status < 300) {
      metrics.record_notification(name, true);
      co_return std::pair(true, std::nullopt);
    }
    metrics.record_notification(name, false);
    std::string body = res.body.substr(0, 200);
    if (!retryable(res.status)) {
      spdlog::error(
          "sink {}: receiver rejected a notification for rule {} with HTTP {} ({}); "
          "dropped, since repeating it cannot succeed",
          name, it.rule, res.status, body);
      ++dropped;
      co_return std::pair(true, std::nullopt);
    }
    spdlog::warn("sink {}: HTTP {} for rule {} ({}); will retry", name, res.status, it.rule, body);
    co_return std::pair(false, http::retry_after(res));
  }

  net::awaitable<void> run() {
    std::chrono::milliseconds backoff = first_backoff;
    while (!stopping) {
      switch_settings();
      if (queue.empty()) {
        co_await sleep(std::chrono::hours(24));
        continue;
      }
      auto [done, after] = co_await deliver(queue.front());
      if (done) {
        queue.pop_front();
        backoff = first_backoff;
        continue;
      }
      if (stopping) break;
      // Full jitter: a random wait up to the backoff, so many sinks do not retry in step.
      std::uniform_int_distribution<std::int64_t> jitter(backoff.count() / 2, backoff.count());
      std::chrono::milliseconds wait(jitter(rng));
      if (after) wait = std::max<std::chrono::milliseconds>(wait, *after);
      backoff = std::min(backoff * 2, max_backoff);
      co_await sleep(wait);
    }
    if (!queue.empty())
      spdlog::warn("sink {}: {} notification(s) still queued at shutdown were not delivered", name,
                   queue.size());
    client->close();
  }
};

webhook_sink::webhook_sink(net::any_io_executor ex, const config::sink_config& sink,
                           metrics::registry& metrics, std::chrono::milliseconds timeout)
    : impl_(std::make_shared<impl>(ex, sink, metrics, timeout)) {}

webhook_sink::~webhook_sink() = default;

void webhook_sink::enqueue(std::string body, std::string rule) {
  impl_->queue.push_back({std::move(body), std::move(rule)});
  // Wake an idle loop; a loop backing off from a failure keeps its backoff.
  if (impl_->queue.size() == 1) impl_->wake.cancel();
}

net::awaitable<void> webhook_sink::run() {
  auto keep = impl_;
  co_await keep->run();
}

void webhook_sink::stop() {
  impl_->stopping = true;
  impl_->wake.cancel();
}

void webhook_sink::abort() {
  impl_->client->abort();
}

void webhook_sink::reconfigure(const config::sink_config& sink) {
  impl_->next = sink;
  impl_->wake.cancel();  // an idle loop switches now; a backing-off one retries at once
}

std::size_t webhook_sink::dropped() const {
  return impl_->dropped;
}

bool webhook_sink::in_flight() const {
  return impl_->in_flight;
}

std::size_t webhook_sink::pending() const {
  return impl_->queue.size();
}

const std::string& webhook_sink::name() const {
  return impl_->name;
}

}  // namespace qoewatch::notify
