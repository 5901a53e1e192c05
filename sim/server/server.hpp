// The simulator's HTTP(S) server: the daemon's http::server on one io_context, one thread, one
// coroutine per connection (HTTP/1.1 keep-alive, Expect: 100-continue, request bodies up to
// 16 MiB). Each request is answered by sim_api::handle with the wall clock; its faults (delays,
// resets, hostile answers) are written onto the connection here.
#pragma once

#include <cstdint>
#include <string>

#include "core/sim_api.hpp"

namespace qoewatch::sim {

struct server_config {
  std::string host;        // an address or a name to resolve, e.g. 127.0.0.1, ::1, localhost
  std::uint16_t port = 0;  // 0: any free port
  std::string tls_cert;    // PEM chain; with tls_key, serve HTTPS only
  std::string tls_key;
};

/// Largest request body accepted (413 beyond it) and largest request header block.
inline constexpr std::size_t max_body_bytes = 16u << 20;
inline constexpr std::size_t max_header_bytes = 64u << 10;

/// Serves `api` until SIGTERM or SIGINT. Once bound, prints exactly one line
/// "listening on ADDRESS:PORT" (the real port) to stdout and flushes it; logs go to stderr
/// and never contain the API key. Returns the exit code: 0 after a signal, 1 when it cannot
/// resolve or listen, 2 when the TLS files cannot be loaded.
int run_server(const server_config& config, sim_api& api);

}  // namespace qoewatch::sim
