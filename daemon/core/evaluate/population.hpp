// Judging one poll of a population rule: every usable row of the window is folded, as the
// pages are parsed, into the accumulator of its group (the values of the rule's group_by
// fields). Only counts, sums and extremes are kept, the metric values a percentile needs
// (8 bytes a session), and the first `evidence` offending rows of each group; no row is kept
// otherwise. finish() turns the accumulators into each group's figures. Pure code.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "evaluate/row_condition.hpp"
#include "evaluate/seen_set.hpp"
#include "evaluate/value_store.hpp"
#include "fetch/page.hpp"

namespace qoewatch::evaluate {

/// The value a group takes for a session without the dimension, or with an empty one.
inline constexpr std::string_view unknown_value = "unknown";

/// One group's figures in one window.
struct group_figures {
  std::vector<std::string> values;  // aligned with rule.group_by
  std::size_t sessions = 0;         // rows judged
  std::size_t offending = 0;        // rows matching the qoefilter
  double ratio = 0;                 // offending / sessions
  // Aligned with rule.aggregates; std::nullopt when no session of the group carries the metric.
  std::vector<std::optional<double>> aggregates;
  std::vector<fetch::session_row> evidence;  // the first rule.evidence offending, as they came
  bool operator==(const group_figures&) const = default;
};

/// What a population poll found in its window.
struct window_figures {
  fetch::row_schema schema;
  std::size_t rows_fetched = 0;
  std::size_t sessions = 0;  // rows judged, each session once
  std::array<std::size_t, fetch::skip_reason_count> skipped{};
  std::vector<group_figures> groups;  // most sessions first, then by values
};

/// `group=value` pairs joined by ',' in group_by order ("cdn=edgeB,platform=Android"): the
/// metrics' `group` label and what messages call the group; "" without group_by.
std::string group_label(const config::rule_config& rule, const std::vector<std::string>& values);

/// Nearest-rank percentile `p` (1-100) of sorted `values`: the smallest value with at least
/// p % of the values at or below it. `values` must not be empty.
double nearest_rank(const std::vector<double>& sorted, int p);

class population_accumulator {
 public:
  /// `most_rows`: the most rows a poll reads (page_size × max_pages). The sessions-seen set and
  /// the percentile values are sized once for what the first page's counters claim, up to
  /// that; 0: they only grow.
  explicit population_accumulator(const config::rule_config& rule, std::size_t most_rows = 0);

  /// Folds every usable row of `p`. A session seen before in the same poll counts once.
  void add(const fetch::page& p);
  /// The same for rows already read, as one page with none skipped.
  void add_rows(std::span<const fetch::session_row> rows);
  /// Sizes the tables once for a poll known to hold `rows` rows (at most `most_rows`), before
  /// any is added: a backtest knows each window's count, where a poll reads the counters.
  void expect(std::size_t rows);

  /// The same for a response body as it is parsed (fetch::scan_page). An unusable body is
  /// the error and changes nothing.
  fetch::scan_result add_body(std::string_view body);

  /// The groups' figures; the accumulator is spent.
  window_figures finish();

 private:
  struct metric_source {  // where a row holds an aggregated metric
    bool in_fields = false;
    std::size_t index = 0;
  };
  struct metric_acc {
    std::size_t count = 0;
    double sum = 0, min = 0, max = 0;
    value_store::run values;  // only for a metric a percentile reads
  };
  struct group_acc {
    std::uint64_t hash = 0;  // of values, as group_of computes it
    std::vector<std::string> values;
    std::size_t sessions = 0, offending = 0;
    std::vector<metric_acc> metrics;  // aligned with metrics_
    std::vector<fetch::session_row> evidence;
  };
  // A row of the page in hand, folded once the page is known to be usable. Whether it is
  // the session's first sighting in the poll is settled (and it marked seen) settle_lag rows
  // later, at the latest when the page ends; a dropped page unmarks its sightings.
  struct staged_row {
    std::uint64_t hash = 0;
    std::uint32_t group = 0;
    bool offending = false;
    bool repeat = false;         // settled: a session seen before in this poll
    std::uint32_t evidence = 0;  // index + 1 in staged_evidence_; 0: none
  };
  static constexpr std::size_t settle_lag = 8;

  void stage(const fetch::session_row& row);
  void settle(std::size_t upto);  // the staged rows before `upto`
  void fold_page();
  void drop_page();   // the page is unusable or restarts: its rows and sightings go
  void clear_page();  // the staged rows are folded or dropped
  std::uint32_t group_of(const fetch::session_row& row);

  const config::rule_config& rule_;
  fetch::row_schema schema_;
  std::vector<metric_source> dimensions_;  // group_by: where a row holds each
  std::vector<metric_source> metrics_;         // distinct metrics the aggregates read
  std::vector<bool> needs_values_;             // aligned with metrics_: a percentile reads it
  std::vector<std::size_t> aggregate_metric_;  // aligned with rule.aggregates: into metrics_
  std::optional<row_condition> condition_;  // the qoefilter; none: nothing offends

  std::vector<group_acc> groups_;
  // Open addressing over groups_ by their hash: index + 1, 0 for empty; at most half full.
  std::vector<std::uint32_t> group_slots_ = std::vector<std::uint32_t>(64, 0);
  // A dimension's value in `row`: unknown_value when the row has none.
  static std::string_view dimension(const fetch::session_row& row, const metric_source& d);

  // The page in hand.
  std::vector<staged_row> staged_;
  std::vector<double> staged_values_;  // metrics_.size() per staged row; NaN: not carried
  std::vector<fetch::session_row> staged_evidence_;
  std::vector<std::size_t> staged_offending_;  // per group: offending rows staged this page
  std::size_t settled_ = 0;  // staged_ before it are settled

  // Sessions seen in this poll, and the values percentiles read; both sized once after the
  // first page (see the constructor).
  std::unique_ptr<seen_set> seen_ = std::make_unique<seen_set>();
  std::unique_ptr<value_store> values_ = std::make_unique<value_store>();
  std::size_t most_rows_ = 0;
  bool presized_ = false;

  std::size_t rows_fetched_ = 0;
  std::size_t sessions_ = 0;
  std::array<std::size_t, fetch::skip_reason_count> skipped_{};
};

}  // namespace qoewatch::evaluate
