// One poll of one rule's window against SmartSight: the paging protocol. Pages are requested
// at offsets 0, page_size, ... until one comes back short; once a page came back full, the
// next is requested before the one in hand is judged, so SmartSight sends it meanwhile.
// smartsight.max_pages caps a window. Every page is judged as it is read (the accumulator
// keeps only offending rows, past 8 MB in a temporary file: state/spill_file.hpp). Failures
// (network, HTTP status, unusable body, the page cap, a cancellation, a spill file that
// cannot be written) end the poll with a message; the API key never appears in one.
// Runs on the event loop's thread; no decision is taken here (see evaluate/step.hpp).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "evaluate/step.hpp"
#include "fetch/query.hpp"

namespace qoewatch::http {
class client;
}

namespace qoewatch::fetch {

/// Where and how a rule's pages are fetched.
struct page_source {
  std::shared_ptr<http::client> client;  // SmartSight
  const config::smartsight_config* api = nullptr;
  const listsessions_query* query = nullptr;  // the rule's, for `api`
  std::string api_key;
  std::function<bool()> cancelled;  // checked before each page
};

/// What a page handler makes of a body: the rows the page holds (a page shorter than
/// page_size is the last), or, when it cannot be used, the error that ends the read.
struct page_verdict {
  std::size_t rows_in_page = 0;
  std::string error;
};

/// How reading a window's pages ended.
struct pages_read {
  bool ok = false;
  std::string error;                                // !ok: why (the API key redacted)
  std::optional<std::chrono::seconds> retry_after;  // SmartSight asked to wait
  std::size_t pages = 0;                            // requested
  std::int64_t failed_offset = 0;                   // !ok: the page that failed
};

/// The paging protocol alone: requests every page of `w` for `src.query` (at most
/// `max_pages`), hands each body to `on_page` as it arrives (the next one already requested
/// once a page came back full) and stops at the first short page or failure. Starts at
/// `first_offset` (a reader that retries a failed page goes on from there).
boost::asio::awaitable<pages_read> read_pages(
    const page_source& src, window w, std::size_t max_pages,
    const std::function<page_verdict(std::string_view body, std::int64_t offset)>& on_page,
    std::int64_t first_offset = 0);

/// An HTTP client for SmartSight as `api` configures it (timeouts, body cap, concurrency).
std::shared_ptr<http::client> smartsight_client(boost::asio::any_io_executor ex,
                                                const config::smartsight_config& api);

/// Reads every page of the window `c.w` for `rule`. The outcome is `polled` (with the
/// window's accumulator) or `failed` (with the error and any Retry-After), and carries the
/// window, the catch-up facts of `c` and the number of pages read.
boost::asio::awaitable<evaluate::poll_outcome> poll(const config::rule_config& rule,
                                                    const page_source& src, catchup c);

}  // namespace qoewatch::fetch
