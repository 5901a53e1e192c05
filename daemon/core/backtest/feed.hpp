// The rows a backtest fetched for one schema of one fetch group, held from the oldest window
// still to judge to the newest chunk read: each page of the span is fetched once, and every
// window that overlaps it is judged from these rows (a 10-minute window polled every minute
// reads each row ten times, but fetches it once). A chunk's rows are sorted by end time, so a
// window takes its rows with two binary searches and no copy. Pure code.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "evaluate/step.hpp"
#include "fetch/page.hpp"
#include "fetch/query.hpp"

namespace qoewatch::backtest {

class row_feed {
 public:
  explicit row_feed(fetch::row_schema schema) : schema_(std::move(schema)) {}

  const fetch::row_schema& schema() const { return schema_; }

  /// Reads one page body of the chunk being fetched, the period [lo, hi] of which the rows
  /// that ended at `lo` exactly were already read with the chunk before when `lo_read` (both
  /// periods hold them: SmartSight's period is inclusive at both ends). An unusable body
  /// changes nothing: the error says why. `rows_in_page`: the page's entries, usable or not.
  std::string add_page(std::string_view body, std::int64_t lo, bool lo_read,
                       std::size_t& rows_in_page);
  /// The chunk's last page is in: its rows are sorted and can be judged.
  void close_chunk();
  /// The chunk could not be fetched: what was read of it goes.
  void drop_chunk();

  /// How many rows ended in [w.start, w.end].
  std::size_t count(fetch::window w) const;
  /// Adds those rows to `out` (prepared by evaluate::prepare_outcome).
  void feed(fetch::window w, evaluate::poll_outcome& out) const;
  /// Forgets the chunks whose every row ended before `t`.
  void forget_before(std::int64_t t);

  std::size_t rows_held() const;
  std::size_t rows_read() const { return rows_read_; }  // usable rows, every chunk
  const std::array<std::size_t, fetch::skip_reason_count>& skipped() const { return skipped_; }

 private:
  struct chunk {
    std::vector<fetch::session_row> rows;  // by endtime
  };
  template <class F>
  void each_run(fetch::window w, F&& f) const;  // f(span of the rows in w), chunk by chunk

  fetch::row_schema schema_;
  std::deque<chunk> chunks_;
  std::vector<fetch::session_row> open_;  // the chunk being read
  std::size_t rows_read_ = 0;
  std::array<std::size_t, fetch::skip_reason_count> skipped_{};
};

}  // namespace qoewatch::backtest
