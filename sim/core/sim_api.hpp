// The simulator's HTTP API without the network: authentication, routing, the control
// endpoints and request statistics. Pure; the caller passes the clock. Not thread-safe.
//
//   GET    /mm-apis/listsessions/{customerId}   the session list (see query.hpp)
//   POST   /_sim/sessions   body: JSON array of session objects to add (test control)
//   DELETE /_sim/sessions   removes all sessions; generation stops until restart
//   GET    /_sim/stats      request counts (and page cache hits, with cache_pages);
//                           DELETE /_sim/stats resets them
//   PUT    /_sim/faults     body: a fault plan (see faults.hpp): listsessions answers get
//                           faults from now on; DELETE /_sim/faults ends them; GET shows
//                           the plan and the faults injected so far
//
// Every path requires the X-API-Key header (401 first, then 404/405/400). Error bodies are
// {"error": "<text>"}.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/url/url_view.hpp>

#include "core/faults.hpp"
#include "core/query.hpp"
#include "core/store.hpp"

namespace qoewatch::sim {

struct api_config {
  std::string customer_id;
  std::string api_key;
  query_options query;
  std::size_t max_control_sessions = 1'000'000;
  bool cache_pages = false;      // answer listsessions through a page_cache (--cache-pages)
  std::uint64_t fault_seed = 1;  // faults are drawn from this (the simulator's --seed)
};

struct api_request {
  std::string_view method;                  // "GET", "POST", ...
  std::string_view target;                  // origin form: /path?query
  std::optional<std::string_view> api_key;  // the X-API-Key header, if sent
  std::string_view body;
};

struct api_response {
  unsigned status = 200;
  std::string body;      // JSON text
  std::string allow;     // the Allow header for a 405, else empty
  std::size_t rows = 0;  // rows in a listsessions page (for the log)
  // Injected faults (PUT /_sim/faults) the server carries out:
  int retry_after = -1;  // >= 0: a Retry-After header, in seconds
  int delay_ms = 0;      // wait this long before answering
  bool reset = false;    // send the headers and half the body, then reset the connection
  std::int64_t oversized_bytes = 0;  // > 0: Content-Length this, the body, then spaces
  bool endless = false;              // a chunked body that never ends
  int trickle_ms = 0;                // > 0: the answer one byte at a time, this far apart
  bool huge_header = false;          // a header that never ends
  std::string fault;                 // the fault's name, for the log; empty when none
};

struct status_counts {
  std::uint64_t total = 0;
  std::map<unsigned, std::uint64_t> by_status;
  void add(unsigned status) {
    ++total;
    ++by_status[status];
  }
};

class sim_api {
 public:
  sim_api(api_config config, session_store store);

  /// Answers one request as of `now` (epoch seconds), advancing the store first, and counts
  /// it (requests to /_sim/stats are not counted). Never throws for any input.
  api_response handle(const api_request& req, std::int64_t now);

  /// Counts a response the server produced without calling handle() (malformed HTTP, body
  /// too large).
  void count(unsigned status) { all_.add(status); }

  const session_store& store() const { return store_; }
  const status_counts& counts() const { return all_; }
  const status_counts& listsessions_counts() const { return listsessions_; }

 private:
  api_response route(const api_request& req, std::int64_t now, bool& counted);
  api_response add_sessions(std::string_view body);
  api_response listsessions(const boost::urls::url_view& url, std::int64_t now);
  api_response faults(const api_request& req);
  api_response stats_body() const;

  api_config config_;
  session_store store_;
  status_counts all_;
  status_counts listsessions_;
  std::unique_ptr<page_cache> cache_;  // with cache_pages only
  fault_injector faults_;
};

/// A JSON error body: {"error": message}.
std::string error_body(std::string_view message);

}  // namespace qoewatch::sim
