// Building the SmartSight listsessions request for one page of one rule's window. Pure code:
// the API key is not part of the query (it travels in the X-API-Key header).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace qoewatch::fetch {

/// A poll window in UTC epoch seconds: [start, end].
struct window {
  std::int64_t start = 0;
  std::int64_t end = 0;
  bool operator==(const window&) const = default;
};

/// The window a poll at `now` covers: [end - window, end] with end = schedule::aligned_end
/// (`now - delay` floored to the rule's interval grid), in whole seconds: every process that
/// polls in the same interval judges the same window.
window window_at(const config::rule_config& rule, std::chrono::system_clock::time_point now);

/// The window of the next poll, given the end of the last window fully processed (the rule's
/// checkpoint). After downtime it reaches back to the checkpoint, so sessions that ended while
/// nobody polled are still judged, but never further than `max_catchup` before the normal
/// end (nor later than the normal start); `skipped_seconds` is what that bound left out.
/// A span longer than one window and one interval is covered in slices at most one window
/// long and ending on the grid, one per poll, so a long outage never needs more pages than a
/// normal poll and `min_sessions` means the same in every slice; `behind` says another slice
/// follows this one.
struct catchup {
  window w;
  std::int64_t skipped_seconds = 0;
  bool behind = false;
};
catchup window_after(const config::rule_config& rule, std::chrono::system_clock::time_point now,
                     std::optional<std::int64_t> checkpoint, duration max_catchup);

/// The `metrics` list: the condition's metrics first, then sessionid, starttime, endtime,
/// then the rule's fields; each name once.
std::vector<std::string> requested_metrics(const config::rule_config& rule);

/// Why a poll fails whose window needs more than `max_pages` pages of `page_size` sessions:
/// the poller's error, and the backtest's for a window it knows to be that large.
std::string too_many_pages(std::size_t max_pages, int page_size);

/// Percent-encodes everything but RFC 3986 unreserved characters.
std::string percent_encode(std::string_view s);

/// The request target (path and query) for one page:
/// {prefix}/mm-apis/listsessions/{customer}?period=..&metrics=..&aggby=sessionid
///   &sessiontype=ended[&filter=..][&qoefilter=..]&limit=..&offset=..
/// `prefix` is the path of base_url (usually empty).
std::string listsessions_target(const config::smartsight_config& api,
                                const config::rule_config& rule, window w, std::int64_t offset);

/// base_url followed by listsessions_target: the whole URL, for logs and --check-config.
std::string listsessions_url(const config::smartsight_config& api, const config::rule_config& rule,
                             window w, std::int64_t offset);

/// listsessions_target and listsessions_url prepared once for a rule: only the window and the
/// offset change from request to request (with a thousand rules, building the whole target
/// for every request was 3.6 % of the daemon's CPU).
class listsessions_query {
 public:
  listsessions_query(const config::smartsight_config& api, const config::rule_config& rule);
  std::string target(window w, std::int64_t offset) const;
  std::string url(window w, std::int64_t offset) const;

 private:
  std::string origin_;  // scheme, host and port of base_url
  std::string head_;    // {prefix}/mm-apis/listsessions/{customer}?period=
  std::string middle_;  // &metrics=..&aggby=..&sessiontype=..[&filter=..][&qoefilter=..]
                        // &limit=..&offset=
};

}  // namespace qoewatch::fetch
