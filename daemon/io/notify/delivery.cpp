#include "notify/delivery.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <list>
#include <optional>
#include <random>
#include <set>

#include "deliver/policy.hpp"
#include "duration.hpp"
#include "export/metrics.hpp"
#include "http/client.hpp"
#include "http/retry_after.hpp"
#include "notify/sign.hpp"
#include "redact.hpp"

namespace qoewatch::notify {

namespace {
namespace net = boost::asio;
using namespace std::chrono_literals;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

double epoch_now() {
  return epoch_seconds(std::chrono::system_clock::now());
}

// Receivers answer with small bodies; one connection per endpoint keeps deliveries in order.
http::client_options options(std::chrono::milliseconds timeout) {
  http::client_options o;
  o.connect_timeout = timeout;
  o.io_timeout = timeout;
  o.deadline = timeout;
  o.max_body_bytes = 1u << 20;
  o.max_connections = 1;
  return o;
}

// Where one POST of a notification goes: an Alertmanager sink has one per peer.
struct endpoint {
  std::string url;  // for messages (configured URLs hold no credentials)
  std::string target;
  std::unique_ptr<http::client> client;
};

std::vector<endpoint> endpoints_of(net::any_io_executor ex, const config::sink_config& sink,
                                   const sink_secrets& secrets, std::chrono::milliseconds timeout) {
  std::vector<std::string> urls;
  if (sink.type == config::sink_type::alertmanager)
    for (const std::string& u : sink.urls) urls.push_back(u + "/api/v2/alerts");
  else
    urls.push_back(secrets.url.empty() ? sink.url : secrets.url);
  std::vector<endpoint> out;
  for (const std::string& u : urls) {
    auto parsed = boost::urls::parse_absolute_uri(u);
    std::string target = parsed ? std::string(parsed->encoded_target()) : "/";
    if (target.empty() || target.front() != '/') target.insert(0, "/");
    out.push_back({u, std::move(target),
                   std::make_unique<http::client>(
                       ex, http::parse_origin(u).value_or(http::origin{}), options(timeout))});
  }
  return out;
}

struct outcome {
  deliver::verdict verdict = deliver::verdict::retry;
  std::string error;  // when not delivered
  std::optional<std::chrono::seconds> retry_after;
};

}  // namespace

struct delivery::impl {
  net::any_io_executor ex;
  config::sink_config sink;
  sink_secrets secrets;
  std::chrono::milliseconds timeout;
  std::vector<endpoint> endpoints;
  std::optional<std::pair<config::sink_config, sink_secrets>> next;  // settings for the next POST
  metrics::registry& metrics;
  state::database& db;
  // A list: the front row is used across co_await while enqueue() may erase rows behind it,
  // and list erasure never moves the other elements.
  std::list<state::outbox_row> queue;
  deliver::token_bucket bucket;
  net::steady_timer wake;
  std::size_t dead = 0;
  bool stopping = false;
  bool finishing = false;  // end once the queue is empty (--once)
  bool in_flight = false;
  bool finished = false;
  std::optional<std::string> retired;  // why what is left becomes dead letters
  std::mt19937_64 rng{std::random_device{}()};
  // Lease mode (replicas): the epoch and expiry of the sink's lease, while held.
  struct lease_hold {
    std::int64_t epoch = 0;
    std::chrono::steady_clock::time_point until;
  };
  bool leased = false;
  std::optional<lease_hold> held;
  bool paused = false;      // the loop waits for the lease to be held again
  bool claim_soon = false;  // claim again as soon as the claim under way ends
  // The next claim also takes the rows already claimed at this epoch: at first (another
  // delivery of this name may have claimed them), and after a claim whose answer was lost.
  bool reclaim = true;
  bool claim_failing = false;
  net::steady_timer claim_timer;

  impl(net::any_io_executor executor, const config::sink_config& s, sink_secrets sec,
       metrics::registry& m, state::database& st, std::chrono::milliseconds request_timeout)
      : ex(std::move(executor)),
        sink(s),
        secrets(std::move(sec)),
        timeout(request_timeout),
        endpoints(endpoints_of(ex, s, secrets, request_timeout)),
        metrics(m),
        db(st),
        bucket(config::effective_rate_limit(s), config::effective_burst(s),
               std::chrono::steady_clock::now()),
        wake(ex, net::steady_timer::time_point::max()),
        claim_timer(ex, net::steady_timer::time_point::max()) {}

  const std::string& name() const { return sink.name; }

  void publish_outbox() {
    if (retired) return;
    metrics.set_outbox(name(), queue.size(), queue.empty() ? 0.0 : queue.front().created_at);
  }

  // Between POSTs only: a client in use must not be destroyed under its request.
  void switch_settings() {
    if (!next) return;
    for (endpoint& e : endpoints) e.client->close();
    sink = std::move(next->first);
    secrets = std::move(next->second);
    next.reset();
    endpoints = endpoints_of(ex, sink, secrets, timeout);
    bucket = deliver::token_bucket(config::effective_rate_limit(sink),
                                   config::effective_burst(sink), std::chrono::steady_clock::now());
  }

  net::awaitable<void> sleep(std::chrono::milliseconds d) {
    wake.expires_after(d);
    co_await wake.async_wait(use_tuple);
  }

  // What must never be written down: keys, header values (tokens go there), and a URL that is
  // a secret (Slack's; any URL read from url_file), whole and its path alone.
  std::vector<std::string> secret_values() const {
    std::vector<std::string> out{secrets.signing_key, secrets.routing_key};
    for (const auto& [name, value] : sink.headers) {
      out.push_back(value);
      // "Bearer <token>": a receiver may echo the token alone.
      if (std::size_t space = value.find_last_of(' '); space != std::string::npos)
        out.push_back(value.substr(space + 1));
    }
    for (const std::string& url :
         {secrets.url, sink.type == config::sink_type::slack ? sink.url : std::string{}}) {
      if (url.empty()) continue;
      std::vector<std::string> forms{url};
      if (auto parsed = boost::urls::parse_absolute_uri(url))
        forms.emplace_back(parsed->encoded_target());
      for (const std::string& form : forms) {
        out.push_back(form);
        // As a JSON encoder may write it: https:\/\/hooks...
        std::string escaped;
        for (char c : form) escaped += c == '/' ? std::string("\\/") : std::string(1, c);
        out.push_back(std::move(escaped));
      }
    }
    return out;
  }

  // The body as sent: PagerDuty's routing key joins it only here, so it is never stored.
  std::optional<std::string> wire_body(const state::outbox_row& row) const {
    if (sink.type != config::sink_type::pagerduty) return row.body;
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(row.body, ec);
    if (ec || !v.is_object()) return std::nullopt;
    v.as_object()["routing_key"] = secrets.routing_key;
    return boost::json::serialize(v);
  }

  http::request request_for(const state::outbox_row& row, std::string body) const {
    auto timestamp = static_cast<std::int64_t>(epoch_now());
    http::request req;
    req.method = "POST";
    req.headers = {{"Content-Type", "application/json"},
                   {"webhook-id", row.id},
                   {"webhook-timestamp", std::to_string(timestamp)}};
    if (!secrets.signing_key.empty())
      req.headers.emplace_back("webhook-signature",
                               signature(secrets.signing_key, row.id, timestamp, body));
    for (const auto& [k, v] : sink.headers) req.headers.emplace_back(k, v);
    req.body = std::move(body);
    return req;
  }

  // One attempt: a POST to every endpoint. Delivered when any accepted it (Alertmanager peers
  // share what one of them received); dead only when every one refused it for good.
  net::awaitable<outcome> attempt(const state::outbox_row& row) {
    std::optional<std::string> body = wire_body(row);
    if (!body)
      co_return outcome{deliver::verdict::dead, "the stored body is not a JSON object", {}};
    outcome out{deliver::verdict::dead, {}, {}};
    bool any_retry = false;
    bool delivered = false;
    for (endpoint& e : endpoints) {
      http::request req = request_for(row, *body);
      req.target = e.target;
      in_flight = true;
      http::result r = co_await e.client->send(std::move(req));
      in_flight = false;
      std::string error;
      deliver::verdict v = deliver::verdict::retry;
      // Never the URL: a Slack webhook's is a secret.
      spdlog::debug("sink {}: POST of notification {} for rule {} ({} bytes): {}", name(), row.id,
                    row.rule, body->size(), http::describe(r));
      if (auto* f = std::get_if<http::failure>(&r)) {
        error = f->message;
      } else {
        const http::response& res = std::get<http::response>(r);
        v = deliver::classify(res.status);
        if (v == deliver::verdict::delivered) {
          // Every peer gets it (Alertmanager peers do not share alerts); one is enough for
          // the row, and the next poll's re-send reaches a peer that missed this one.
          metrics.record_notification(name(), true);
          delivered = true;
          continue;
        }
        error = "HTTP " + std::to_string(res.status);
        // Redacted before it is cut short: a cut must not leave half a secret behind.
        if (std::string text = redact(res.body, secret_values()).substr(0, 200); !text.empty())
          error += " (" + text + ")";
        if (auto after = http::retry_after(res))
          out.retry_after = std::max(out.retry_after.value_or(0s), *after);
      }
      metrics.record_notification(name(), false);
      if (endpoints.size() > 1) error = e.url + ": " + error;
      if (!out.error.empty()) out.error += "; ";
      out.error += error;
      any_retry = any_retry || v == deliver::verdict::retry;
    }
    if (delivered) {
      if (!out.error.empty())
        spdlog::warn("sink {}: notification {} for rule {} reached only some peers: {}", name(),
                     row.id, row.rule, out.error);
      co_return outcome{deliver::verdict::delivered, {}, {}};
    }
    out.verdict = any_retry ? deliver::verdict::retry : deliver::verdict::dead;
    co_return out;
  }

  // Store writes, in order, never awaited: a failing database must not stop delivery; what
  // the store missed is sent again after a restart under the same webhook-id, which
  // receivers dedupe on.
  void write(const char* what, std::function<void(state::store&)> f) {
    db.post(std::move(f),
            fmt::format("sink {}: could not record {} in the state database", name(), what));
  }

  void bury_front(const std::string& reason) {
    // A last error stored by an older version may not have been redacted.
    notify::bury(db, metrics, queue.front(), redact(reason, secret_values()));
    ++dead;
    queue.pop_front();
    publish_outbox();
  }

  // Queues a committed row; for Alertmanager, rows of the same rule from earlier polls still
  // waiting are dropped from the outbox (the front row may be on the wire: it stays).
  void enqueue(state::outbox_row row) {
    if (sink.type == config::sink_type::alertmanager) {
      for (auto it = queue.begin(); it != queue.end();) {
        if (it == queue.begin() || it->rule != row.rule || it->created_at >= row.created_at) {
          ++it;
          continue;
        }
        write("a superseded notification", [id = it->id](state::store& s) { s.delivered(id); });
        it = queue.erase(it);
      }
    }
    queue.push_back(std::move(row));
    publish_outbox();
    // Wake an idle loop; a loop backing off from a failure keeps its backoff.
    if (queue.size() == 1) wake.cancel();
  }

  bool holding() const {
    return !leased || (held && std::chrono::steady_clock::now() < held->until);
  }

  // Lease mode: forgets what is queued (the rows stay in the outbox, claimed by the next
  // holder), but the row on the wire, which its POST still settles.
  void drop() {
    if (in_flight && !queue.empty())
      queue.erase(std::next(queue.begin()), queue.end());
    else
      queue.clear();
    publish_outbox();
  }

  void publish_owned() { metrics.set_sink_owned(name(), holding()); }

  // Claimed rows join the queue; rows written for the sink's former type become dead letters
  // (as a restart buries them when the sink is alone). A claim made again returns rows that
  // may be queued already.
  void take(std::vector<state::outbox_row>& rows, bool again) {
    const std::string type(config::to_string(sink.type));
    std::set<std::string> queued;
    if (again)
      for (const state::outbox_row& q : queue) queued.insert(q.id);
    for (state::outbox_row& row : rows) {
      if (queued.contains(row.id)) continue;
      if (!row.sink_type.empty() && row.sink_type != type) {
        notify::bury(db, metrics, row,
                     "sink " + name() + " changed type from " + row.sink_type + " to " + type);
        ++dead;
        continue;
      }
      // The row on the wire when the epoch changed is claimed again: it is queued already.
      if (!queue.empty() && queue.front().id == row.id) continue;
      enqueue(std::move(row));
    }
  }

  net::awaitable<void> claim_loop() {
    constexpr std::size_t batch = 1000;
    while (!stopping) {
      bool more = false;
      if (held && !retired && holding()) {
        const std::int64_t epoch = held->epoch;
        const bool again = reclaim;
        std::function<std::optional<std::vector<state::outbox_row>>(state::store&)> claim =
            [sink_name = name(), epoch, again](state::store& s) {
              return s.claim_outbox(sink_name, epoch, batch, again);
            };  // named: GCC 12 destroys a temporary in a co_await twice
        std::optional<std::vector<state::outbox_row>> rows;
        std::string error;
        try {
          rows = co_await db.call(std::move(claim));
        } catch (const std::exception& e) {
          error = e.what();
        }
        if (!error.empty()) {
          if (!claim_failing)
            spdlog::error("sink {}: cannot claim its outbox: {}; trying again every second",
                          name(), error);
          claim_failing = true;
          reclaim = true;  // the server may have made the claim before the answer was lost
        } else if (held && held->epoch == epoch && !stopping) {
          if (claim_failing) spdlog::info("sink {}: claiming its outbox again", name());
          claim_failing = false;
          if (!rows) {
            spdlog::warn("sink {}: its lease (epoch {}) is no longer this replica's: another "
                         "delivers its outbox",
                         name(), epoch);
            held.reset();
            drop();
            publish_owned();
          } else {
            more = !again && rows->size() == batch;
            if (again) reclaim = false;
            take(*rows, again);
          }
        }
      }
      if (stopping) break;
      publish_owned();  // a lease that lapsed unrenewed reads 0 within a second
      if (more || claim_soon) {
        claim_soon = false;
        continue;
      }
      claim_timer.expires_after(1s);
      co_await claim_timer.async_wait(use_tuple);
    }
  }

  // Records what an attempt at the front row came to. True when the row left the queue
  // (delivered, or a dead letter); false when it stays for a retry.
  bool settle(const outcome& o) {
    state::outbox_row& row = queue.front();
    if (o.verdict == deliver::verdict::delivered) {
      write("a delivery", [id = row.id](state::store& s) { s.delivered(id); });
      metrics.record_delivered(name(), epoch_now() - row.created_at);
      queue.pop_front();
      publish_outbox();
      return true;
    }
    if (o.verdict == deliver::verdict::dead) {
      bury_front(o.error);
      return true;
    }
    ++row.attempts;
    row.last_error = o.error;
    write("a failed attempt", [id = row.id, n = row.attempts, e = row.last_error](
                                  state::store& s) { s.attempt_failed(id, n, e); });
    return false;
  }

  // "reason (last: HTTP 503 ...)": why a row is given up on, with its last failure if any.
  static std::string with_last_error(const std::string& reason, const state::outbox_row& row) {
    return row.last_error.empty() ? reason : reason + " (last: " + row.last_error + ")";
  }

  // Waits for the sink's token bucket when it is empty; true when it waited (the caller looks
  // at its queue again: a stop or a new front row may have come meanwhile).
  net::awaitable<bool> paced() {
    auto wait = bucket.take(std::chrono::steady_clock::now());
    if (wait <= 0ms) co_return false;
    co_await sleep(wait);
    co_return true;
  }

  // A retired sink, with the settings it had: one last attempt for each row still queued (a
  // removed rule's resolve may be among them). The first that fails becomes a dead letter,
  // and so does everything after it: a sink being removed is often one that no longer works.
  net::awaitable<void> drain() {
    bool give_up = false;
    // Lease mode, not held: the rows stay in the outbox for the holder.
    while (!queue.empty() && holding()) {
      state::outbox_row& row = queue.front();
      if (give_up) {
        bury_front(with_last_error(*retired, row));
        continue;
      }
      if (co_await paced()) continue;
      outcome o = co_await attempt(row);
      if (settle(o)) continue;
      give_up = true;
    }
  }

  net::awaitable<void> run() {
    publish_outbox();
    while (!stopping) {
      switch_settings();
      // Lease mode, the lease gone: what is queued (a row that failed on the wire as the lease
      // went, say) is the next holder's.
      if (leased && !held && !queue.empty()) drop();
      if (!holding()) {
        // Lease mode, not held (or not renewed in time): nothing goes out until it is.
        paused = true;
        co_await sleep(std::chrono::hours(24));
        paused = false;
        continue;
      }
      if (queue.empty()) {
        if (finishing) break;
        co_await sleep(std::chrono::hours(24));
        continue;
      }
      state::outbox_row& row = queue.front();
      double age = epoch_now() - row.created_at;
      double max_age = std::chrono::duration<double>(sink.max_age).count();
      if (age > max_age) {
        bury_front(with_last_error("undelivered after " + format_duration(sink.max_age), row));
        continue;
      }
      if (co_await paced()) continue;
      outcome o = co_await attempt(row);
      // A lease that went meanwhile: no backoff, the row is the next holder's (or waits).
      if (settle(o) || stopping || !holding()) continue;
      std::uniform_real_distribution<double> unit(0.0, 1.0);
      std::chrono::milliseconds wait = deliver::retry_delay(row.attempts, unit(rng), o.retry_after);
      spdlog::warn(
          "sink {}: notification {} for rule {} not delivered (attempt {}): {}; retrying "
          "in {:.1f}s",
          name(), row.id, row.rule, row.attempts, o.error,
          std::chrono::duration<double>(wait).count());
      co_await sleep(wait);
    }
    if (retired) co_await drain();
    if (!queue.empty())
      spdlog::info("sink {}: {} notification(s) stay in the outbox for the next start", name(),
                   queue.size());
    for (endpoint& e : endpoints) e.client->close();
    finished = true;
  }
};

void bury(state::database& db, metrics::registry& metrics, const state::outbox_row& row,
          const std::string& reason) {
  db.post([id = row.id, reason, now = epoch_now()](state::store& s) { s.dead(id, reason, now); },
          fmt::format("sink {}: could not record a dead letter in the state database", row.sink));
  metrics.record_dead_letter(row.sink);
  spdlog::error(
      "sink {}: notification {} for rule {} moved to the dead letters: {} (list them with "
      "qoewatchd --dead-letters)",
      row.sink, row.id, row.rule, reason);
}

delivery::delivery(net::any_io_executor ex, const config::sink_config& sink, sink_secrets secrets,
                   metrics::registry& metrics, state::database& db,
                   std::chrono::milliseconds timeout)
    : impl_(std::make_shared<impl>(ex, sink, std::move(secrets), metrics, db, timeout)) {}

delivery::~delivery() = default;

// Each poll re-sends the rule's whole state to Alertmanager: what an earlier poll of the same
// rule still has waiting is superseded (sending it late would only flap alerts).
void delivery::enqueue(state::outbox_row row) {
  impl_->enqueue(std::move(row));
}

void delivery::lease_mode() {
  impl_->leased = true;
  impl_->publish_owned();
}

void delivery::hold(std::int64_t epoch, std::chrono::steady_clock::time_point until) {
  impl& d = *impl_;
  const bool fresh = !d.held || d.held->epoch != epoch;
  // A new epoch: what was queued (under an older one) is claimed afresh.
  if (fresh) d.drop();
  d.held = impl::lease_hold{epoch, until};
  d.publish_owned();
  if (fresh) {
    d.claim_soon = true;
    d.claim_timer.cancel();
  }
  // Only a loop waiting for the lease: one backing off from a failure keeps its backoff.
  if (d.paused) d.wake.cancel();
}

void delivery::release() {
  impl& d = *impl_;
  if (!d.held) return;
  d.held.reset();
  d.drop();
  d.publish_owned();
}

void delivery::claim() {
  impl_->claim_soon = true;
  impl_->claim_timer.cancel();
}

net::awaitable<void> delivery::claims() {
  auto keep = impl_;
  co_await keep->claim_loop();
}

bool delivery::owned() const {
  return impl_->holding();
}

std::optional<std::int64_t> delivery::lease_epoch() const {
  if (!impl_->held) return std::nullopt;
  return impl_->held->epoch;
}

net::awaitable<void> delivery::run() {
  auto keep = impl_;
  co_await keep->run();
}

void delivery::stop() {
  impl_->stopping = true;
  impl_->wake.cancel();
  impl_->claim_timer.cancel();
}

void delivery::finish() {
  impl_->finishing = true;
  // Only an idle loop is woken: one backing off from a failure keeps its backoff (and any
  // Retry-After), as for enqueue.
  if (impl_->queue.empty()) impl_->wake.cancel();
}

void delivery::retire(std::string reason) {
  impl_->retired = std::move(reason);
  stop();
}

void delivery::abort() {
  for (endpoint& e : impl_->endpoints) e.client->abort();
}

void delivery::reconfigure(const config::sink_config& sink, sink_secrets secrets) {
  impl_->next.emplace(sink, std::move(secrets));
  impl_->wake.cancel();  // an idle loop switches now; a backing-off one retries at once
}

std::size_t delivery::dead() const {
  return impl_->dead;
}

std::size_t delivery::pending() const {
  return impl_->queue.size();
}

std::optional<double> delivery::oldest() const {
  if (impl_->queue.empty()) return std::nullopt;
  return impl_->queue.front().created_at;
}

bool delivery::in_flight() const {
  return impl_->in_flight;
}

bool delivery::finished() const {
  return impl_->finished;
}

}  // namespace qoewatch::notify
