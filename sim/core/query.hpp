// The session-list query engine: GET /mm-apis/listsessions/{customerId} without the
// network. Pure: decoded query parameters + sessions + now -> status and JSON body.
//
// Selection (documented choices where the vendor is silent):
//   - period=start=S,end=E selects sessions whose endtime (sessiontype=ended, default) or
//     starttime (sessiontype=started) is in [S, E], inclusive at both ends.
//   - allstatus=0 (default): only ENDED sessions (endtime <= now); allstatus=1 adds RUNNING
//     ones (starttime <= now < endtime). A running session's endtime is its scheduled end.
//   - filter: [dim=a|b][dim2=c], a numeric value compares by its text. qoefilter: the full
//     qoewatch rule grammar; a numeric string counts as its number; a session lacking a
//     metric the condition reads (or holding non-numeric text there) does not match.
//   - Rows carry exactly the `metrics` keys, in that order, omitting keys a session lacks.
//   - orderby (default: the first metric) / order (default desc); numbers (and numeric
//     strings) compare as numbers and sort before text; rows missing the key sort last;
//     ties by sessionid ascending.
//   - limit 1..100000 (default 1000), offset >= 0 (default 0).
//   - Unknown parameters are ignored; a known parameter given twice is an error.
#pragma once

#include <cstdint>
#include <string>
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

}  // namespace qoewatch::sim
