// The daemon's own HTTP endpoints on the event loop: /metrics (Prometheus text format),
// /healthz (the process is alive and its loop turns) and /readyz (config loaded, every rule
// polled at least once). One coroutine per connection, keep-alive, small request cap.
// Not thread-safe: use from the event loop's thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace qoewatch::metrics {

struct status_handlers {
  std::function<std::string()> metrics;    // the /metrics body
  std::function<std::string()> not_ready;  // empty when ready, else why not (for /readyz)
};

class status_server {
 public:
  status_server(boost::asio::any_io_executor ex, status_handlers handlers);
  ~status_server();
  status_server(const status_server&) = delete;
  status_server& operator=(const status_server&) = delete;

  /// Binds `listen` ("HOST:PORT", "[::]:PORT"; port 0 picks one) and starts accepting.
  /// Returns an error message naming the address when it cannot.
  std::string start(const std::string& listen);

  /// The bound port (after a successful start).
  std::uint16_t port() const;

  /// Stops accepting and closes open connections.
  void stop();

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace qoewatch::metrics
