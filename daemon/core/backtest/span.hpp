// What a backtest replays, planned before anything is fetched: the times given on the command
// line, each rule's polls over the span (the windows the daemon would have judged, on the
// rule's interval grid, each due at its end + delay + jitter), and the fetches: rules whose
// listsessions query is the same share one, and each fetch walks its span once, in chunks
// sized to hold a few pages. Pure code: `now` is passed in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "fetch/query.hpp"

namespace qoewatch::backtest {

struct time_result {
  std::optional<std::int64_t> value;  // epoch seconds
  std::string error;                  // when !value: what the text is not
};

/// A --from/--to time: RFC 3339 ("2026-11-29T00:00:00Z", "...+01:00"), `now`, or a time
/// relative to `now` as a negative duration: "-7d", "-36h", "-90m", "-1d12h", "-30s".
time_result parse_time(std::string_view text, std::int64_t now);

/// A rule's polls in the span: windows ending on its grid, from the first whose start is at
/// or after `from` to the last ending at or before its `to`.
struct rule_span {
  std::size_t rule = 0;            // index in cfg.rules
  std::int64_t window = 0;         // seconds
  std::vector<std::int64_t> ends;  // the windows' ends, in order: one poll each
};

/// When the daemon would have run the poll of `rule`'s window ending at `end` (epoch
/// seconds): end + delay + the rule's start jitter.
double poll_time(const config::rule_config& rule, std::int64_t end);

/// `to` (explicit) or, when none was given, now minus the rule's delay.
rule_span span_of(const config::rule_config& rule, std::size_t index, std::int64_t from,
                  std::optional<std::int64_t> to, std::int64_t now);

/// Rules that send the same query (the same target but for period and offset) share a fetch.
struct fetch_group {
  std::vector<std::size_t> rules;  // indices in cfg.rules, config order
  std::int64_t start = 0;          // earliest window start of its rules
  std::int64_t end = 0;            // latest window end
};

/// The fetch groups of `spans` (rules with no window in the span are left out), in the order
/// their first rule appears in the config.
std::vector<fetch_group> group_fetches(const config::daemon_config& cfg,
                                       const std::vector<rule_span>& spans);

/// The length of the next chunk after one of `length` seconds that held `rows`: about
/// `target_rows` rows (a few pages), never more than twice the last (a quiet night must not
/// make the next chunk hold a day of prime time), at least `shortest` and at most a day.
std::int64_t next_chunk(std::int64_t length, std::size_t rows, std::size_t target_rows,
                        std::int64_t shortest);

}  // namespace qoewatch::backtest
