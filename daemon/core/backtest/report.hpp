// A backtest's report of one rule: for people, a table per day, the incidents and the totals
// ("would have paged 14 times, 3 of them between 00:00 and 06:00"); for scripts, one JSON
// object per line: each incident, each day, each span not fetched, and last the summary. Pure.
#pragma once

#include <string>
#include <vector>

#include "backtest/tally.hpp"

namespace qoewatch::backtest {

/// What the report says besides the tally: the rule's share of the fetching.
struct fetch_facts {
  std::size_t rows_fetched = 0;          // rows read for the rule's query over the span
  std::size_t pages = 0;                 // requests answered
  std::vector<std::string> shared_with;  // other rules judged from the same rows
  std::size_t retries = 0;               // pages asked again after a failure
};

/// JSON lines: {"type":"incident",...} per incident, {"type":"gap",...} per span not fetched,
/// {"type":"day",...} per day, then {"type":"summary",...}. Each line ends with '\n'.
std::string json_lines(const rule_tally& t, const fetch_facts& f);

/// The text report of one rule; `zone_name` names the days' zone ("UTC").
std::string text_report(const rule_tally& t, const fetch_facts& f, const std::string& zone_name);

}  // namespace qoewatch::backtest
