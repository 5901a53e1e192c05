// The session-list query engine: GET /mm-apis/listsessions/{customerId} without the
// network. Pure: decoded query parameters + sessions + now -> status and JSON body.
//
// Selection (documented choices where the vendor is silent):
//   - period=start=S,end=E selects sessions whose endtime (sessiontype=ended, default) or
//     starttime (sessiontype=started) is in [S, E], inclusive at both ends.
//   - allstatus=0 (default): only ENDED sessions (endtime <= now); allstatus=1 adds RUNNING
//     ones (starttime <= now < endtime). A running session's endtime is its scheduled end.
//   - filter: [dim=a|b][dim2=c], a numeric value compares by its text. qoefilter: the full
//     qoewatch rule grammar (comparisons, AND, OR, NOT, parentheses); a numeric string counts
//     as its number; a session lacking a metric the condition reads (or holding non-numeric
//     text there) does not match. Both are read by the simulator's own evaluator
//     (core/filter_eval.hpp), never by the daemon's parser.
//   - Rows carry exactly the `metrics` keys, in that order, omitting keys a session lacks.
//   - orderby (default: the first metric) / order (default desc); numbers (and numeric
//     strings) compare as numbers and sort before text; rows missing the key sort last;
//     ties by sessionid ascending.
//   - limit 1..100000 (default 1000), offset >= 0 (default 0).
//   - Unknown parameters are ignored; a known parameter given twice is an error.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/json/value.hpp>

#include "core/store.hpp"

namespace qoewatch::sim {

/// How the two counters are read (the vendor's two doc generations disagree).
enum class counters_mode {
  records,  // totalcount = matching rows, pagecount = pages (ceil(rows / limit))
  pages,    // totalcount = pages, pagecount = matching rows
};

struct query_options {
  counters_mode counters = counters_mode::records;
  bool extra_counters = false;         // add top-level totalrecords and per-row totalpages
  bool require_listed_fields = false;  // 400 when qoefilter/orderby name a field not in metrics
};

/// Decoded query parameters in request order.
using query_params = std::vector<std::pair<std::string, std::string>>;

struct query_result {
  unsigned status = 200;    // 200 or 400
  boost::json::value body;  // the page, or {"error": "<parameter>: <what is wrong>"}
};

inline constexpr std::int64_t default_limit = 1000;
inline constexpr std::int64_t max_limit = 100000;

/// Answers one listsessions request over the store's sessions as of `now` (epoch seconds).
/// The store should have been advanced to `now`. Never throws for any input.
query_result handle_listsessions(const query_params& params, const session_store& store,
                                 std::int64_t now, const query_options& options = {});

/// A listsessions answer as JSON text.
struct page_answer {
  unsigned status = 200;  // 200 or 400
  std::string body;       // the page, or {"error": ...}
  std::size_t rows = 0;   // rows in a 200 page
};

/// Remembers listsessions answers (--cache-pages), so reading the same backlog again (a
/// benchmark, several tools side by side) costs a lookup instead of a scan, a sort and a
/// render per page. Every answer is byte for byte the one handle_listsessions would give:
///   - a query's matching rows are selected and sorted once, then every page is cut from them;
///     each rendered page is kept, up to `max_bytes` in all (beyond it, everything is dropped
///     and caching starts over);
///   - the period is reduced to the first and last time of the sessions it selects, so two
///     periods that select the same sessions (a poller's sliding `now - window`) share pages;
///   - everything is dropped when the store changes (store.version()) and when `now` reaches
///     the first status change of any session (a running session ending), so it only pays off
///     for a store that stands still: a fixed backlog with --rate 0.
/// Errors (400) are answered without caching. Not thread-safe; never throws but bad_alloc.
class page_cache {
 public:
  static constexpr std::size_t default_max_bytes = std::size_t{2} << 30;
  explicit page_cache(std::size_t max_bytes = default_max_bytes);
  ~page_cache();
  page_cache(const page_cache&) = delete;
  page_cache& operator=(const page_cache&) = delete;

  page_answer answer(const query_params& params, const session_store& store, std::int64_t now,
                     const query_options& options = {});

  std::uint64_t hits() const { return hits_; }      // pages answered from the cache
  std::uint64_t misses() const { return misses_; }  // pages rendered
  std::size_t bytes() const { return bytes_; }      // memory held, roughly

 private:
  struct ordered_rows;
  struct cached_body {
    std::string body;
    std::size_t rows = 0;
  };
  // start, end, sessiontype=started, allstatus
  using period_key = std::tuple<std::int64_t, std::int64_t, bool, bool>;
  static constexpr std::size_t max_periods = 4096;

  void clear();

  std::size_t max_bytes_;
  bool valid_ = false;
  std::uint64_t version_ = 0;
  std::int64_t computed_at_ = 0;
  std::int64_t stable_until_ = 0;
  std::map<period_key, std::pair<std::int64_t, std::int64_t>> periods_;
  std::unordered_map<std::string, std::unique_ptr<ordered_rows>> selections_;
  std::unordered_map<std::string, cached_body> pages_;
  std::size_t bytes_ = 0;
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
};

}  // namespace qoewatch::sim
