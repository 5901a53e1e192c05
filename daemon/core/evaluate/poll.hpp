// Judging one poll of one rule: every row of every page against the whole condition, then
// deciding which offending sessions are new. Pure code; the clock and the remembered state
// are passed in, so the whole decision is table-testable.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "evaluate/row_condition.hpp"
#include "evaluate/row_log.hpp"
#include "fetch/page.hpp"
#include "fetch/query.hpp"

namespace qoewatch::evaluate {

/// Folds the pages of one poll as they arrive; keeps only the offending rows (in a row_log:
/// within its memory budget, the rest in its spill).
class poll_accumulator {
 public:
  explicit poll_accumulator(const config::rule_config& rule, row_log::options keep = {});

  /// Evaluates every usable row of `p` with the rule's whole condition. A session seen on an
  /// earlier page of the same poll (pages can shift while sessions end) counts once.
  void add(const fetch::page& p);

  /// The same for rows already read (a backtest's window, taken from the rows it fetched once):
  /// each counts as fetched, none as skipped.
  void add_rows(std::span<const fetch::session_row> rows);

  /// The same for a response body read as it is parsed (fetch::scan_page): only offending
  /// rows are kept, no page is built. An unusable body is the error and changes nothing.
  /// Throws what the row log's spill throws.
  fetch::scan_result add_body(std::string_view body);

  const fetch::row_schema& schema() const { return schema_; }
  std::size_t rows_fetched() const { return rows_fetched_; }
  const std::array<std::size_t, fetch::skip_reason_count>& skipped() const { return skipped_; }
  /// Offending sessions of the window, in the order they arrived.
  const row_log& offending() const { return offending_; }

 private:

  void judge(const fetch::session_row& row);
  void forget_since(std::size_t offending);  // drops offending rows from that index on
  // Whether no offending row holds `sessionid` yet; if so, the next one added will.
  bool first_offense(std::string_view sessionid);
  void index_offending(std::size_t slots);  // rebuilds seen_ with that many slots

  fetch::row_schema schema_;
  row_condition condition_;  // the rule's whole condition, compiled for the schema
  std::size_t rows_fetched_ = 0;
  std::array<std::size_t, fetch::skip_reason_count> skipped_{};
  row_log offending_;
  // The offending rows by session id: open addressing, at most half full, each slot a hash
  // tag (high 32 bits) and an index into offending_ plus one (low 32 bits; 0: empty). No copy
  // of the id and no allocation per row, unlike a set of strings; the id is read back from
  // the log only when a tag matches.
  std::vector<std::uint64_t> seen_;
};

struct summary {
  double max = 0;
  double p95 = 0;  // nearest-rank 95th percentile
  double mean = 0;
};

/// Max, p95 and mean of values read twice, in any order: first each one to count(), then each
/// one to rank(). Only the largest 5 % are held, not every value of a big window.
class summary_builder {
 public:
  void count(double v);
  void rank(double v);
  std::optional<summary> result() const;

 private:
  std::size_t n_ = 0;
  double max_ = 0;
  double sum_ = 0;
  std::vector<double> top_;  // min-heap of the largest values, down to the p95
};

/// Max, p95 and mean of `values`; std::nullopt when empty.
std::optional<summary> summarize(const std::vector<double>& values);

/// The (rule, session) pairs already notified, each with when its session ended (whole epoch
/// seconds, rounded up), kept until no window of the rule can hold the session any more.
class notified_sessions {
 public:
  /// Records the pair; false when it was already recorded.
  bool insert(std::string_view rule, std::string_view sessionid, std::int64_t ended_at);
  bool contains(std::string_view rule, std::string_view sessionid) const;
  /// Forgets the rule's pairs of sessions that ended before `before` (see forget_before).
  void expire(std::string_view rule, std::int64_t before);
  /// Forgets every pair of rules not in `keep` (after a reload removed rules).
  void retain_rules(const std::vector<std::string>& keep);
  std::size_t size() const { return size_; }

 private:
  // Looked up by string_view: no key is copied to check or record a pair (tens of thousands
  // per poll after an outage).
  struct text_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  template <class V>
  using by_text = std::unordered_map<std::string, V, text_hash, std::equal_to<>>;
  by_text<by_text<std::int64_t>> by_rule_;
  std::size_t size_ = 0;  // kept as pairs come and go: read after every poll
};

/// A session's end time as notified pairs keep it: whole epoch seconds, rounded up.
std::int64_t ended_at(double endtime);

/// Pairs of sessions that ended before this can be forgotten: no window of the rule, from
/// `now` on, can hold them. Windows start at the checkpoint while the rule catches up after
/// downtime (both ends are inclusive), at the normal window's start otherwise, and never
/// further back than `max_catchup` reaches; one interval (and a little) is kept as margin.
/// Computed from the rule's current settings, so a reload that widens the window keeps more.
std::int64_t forget_before(const config::rule_config& rule, std::int64_t now,
                           std::optional<std::int64_t> checkpoint, duration max_catchup);

/// The same for pairs of rules no longer configured (they may come back): no window of any
/// of `rules` reaching back `max_catchup` from `now` could hold them.
std::int64_t forget_before_any(std::int64_t now, duration max_catchup,
                               const std::vector<config::rule_config>& rules);

struct decision {
  // By index in acc.offending(): whether the session is new (not yet notified).
  std::vector<bool> is_new;
  std::size_t new_sessions = 0;              // how many are new
  std::size_t offending = 0;                 // in the window, new or not
  std::optional<summary> startup_seconds;    // over offending, when fetched
  std::optional<summary> rebuffering_ratio;  // 0-1, when fetched
};

/// Decides what a successful poll means: which offending sessions are new for the rule (not in
/// `notified`), and the window's summaries. Records nothing: the rule step (evaluate/step.hpp)
/// turns it into pairs to remember. Reads acc.offending() twice; throws what its spill throws.
decision decide(const config::rule_config& rule, const poll_accumulator& acc,
                const notified_sessions& notified);

}  // namespace qoewatch::evaluate
