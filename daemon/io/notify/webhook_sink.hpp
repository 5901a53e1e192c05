// Delivery of notification bodies to one webhook sink: a FIFO queue drained by one coroutine
// that POSTs each body, in order, until it succeeds. 2xx is success; 408, 429, 5xx and network
// failures are retried with capped exponential backoff (honouring Retry-After); other 4xx are
// dropped with an error, since repeating them cannot succeed. The queue lives in memory.
// Not thread-safe: use from the event loop's thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "config/config.hpp"

namespace qoewatch::metrics {
class registry;
}

namespace qoewatch::notify {

class webhook_sink {
 public:
  webhook_sink(boost::asio::any_io_executor ex, const config::sink_config& sink,
               metrics::registry& metrics, std::chrono::milliseconds timeout);
  ~webhook_sink();
  webhook_sink(const webhook_sink&) = delete;
  webhook_sink& operator=(const webhook_sink&) = delete;

  /// Queues a JSON body for `rule` (the rule's name is only for logs).
  void enqueue(std::string body, std::string rule);

  /// The delivery loop; returns after stop() once the POST in flight (if any) ended.
  boost::asio::awaitable<void> run();

  /// Stops delivering: the POST in flight may finish, nothing new starts. Bodies still queued
  /// are counted in the log.
  void stop();

  /// Aborts the POST in flight (after the shutdown grace period) and closes the connection.
  void abort();

  /// Points the sink at new settings (URL, batch size, timeout) from a reload. Queued bodies
  /// stay queued and go to the new URL; the POST in flight, if any, finishes first.
  void reconfigure(const config::sink_config& sink);

  /// Bodies dropped because the receiver rejected them for good (4xx other than 408/429).
  std::size_t dropped() const;

  /// Bodies not yet delivered, the one in flight included.
  std::size_t pending() const;
  /// True while a POST is on the wire.
  bool in_flight() const;
  const std::string& name() const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace qoewatch::notify
