// One poll of one rule's window against SmartSight: the paging protocol. Pages are requested
// at offsets 0, page_size, ... until one comes back short; once a page came back full, the
// next is requested before the one in hand is judged, so SmartSight sends it meanwhile.
// smartsight.max_pages caps a window. Every page is judged as it is read (the accumulator
// keeps only offending rows, past 8 MB in a temporary file: state/spill_file.hpp). Failures
// (network, HTTP status, unusable body, the page cap, a cancellation, a spill file that
// cannot be written) end the poll with a message; the API key never appears in one.
// Runs on the event loop's thread; no decision is taken here (see evaluate/step.hpp).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <string>

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

/// Reads every page of the window `c.w` for `rule`. The outcome is `polled` (with the
/// window's accumulator) or `failed` (with the error and any Retry-After), and carries the
/// window, the catch-up facts of `c` and the number of pages read.
boost::asio::awaitable<evaluate::poll_outcome> poll(const config::rule_config& rule,
                                                    const page_source& src, catchup c);

}  // namespace qoewatch::fetch
