#include "backtest/feed.hpp"

#include <algorithm>
#include <span>

#include "evaluate/replay.hpp"

namespace qoewatch::backtest {

namespace {

bool ends_before(const fetch::session_row& row, double t) {
  return row.endtime < t;
}
bool ends_after(double t, const fetch::session_row& row) {
  return t < row.endtime;
}

}  // namespace

std::string row_feed::add_page(std::string_view body, std::int64_t lo, bool lo_read,
                               std::size_t& rows_in_page) {
  fetch::page_result p = fetch::parse_page(body, schema_);
  if (!p) return p.error;
  rows_in_page = p.value->rows_in_page;
  for (std::size_t i = 0; i < skipped_.size(); ++i) skipped_[i] += p.value->skipped[i];
  const auto first = static_cast<double>(lo);
  for (fetch::session_row& row : p.value->rows) {
    if (lo_read && row.endtime <= first) continue;  // the chunk before holds it
    open_.push_back(std::move(row));
  }
  return {};
}

void row_feed::close_chunk() {
  std::stable_sort(open_.begin(), open_.end(),
                   [](const fetch::session_row& a, const fetch::session_row& b) {
                     return a.endtime < b.endtime;
                   });
  rows_read_ += open_.size();
  if (!open_.empty()) chunks_.push_back({std::move(open_)});
  open_ = {};
}

void row_feed::drop_chunk() {
  open_.clear();
}

template <class F>
void row_feed::each_run(fetch::window w, F&& f) const {
  const auto start = static_cast<double>(w.start);
  const auto end = static_cast<double>(w.end);
  for (const chunk& c : chunks_) {
    if (c.rows.back().endtime < start) continue;
    if (c.rows.front().endtime > end) break;
    auto from = std::lower_bound(c.rows.begin(), c.rows.end(), start, ends_before);
    auto to = std::upper_bound(from, c.rows.end(), end, ends_after);
    if (from != to)
      f(std::span<const fetch::session_row>(&*from, static_cast<std::size_t>(to - from)));
  }
}

std::size_t row_feed::count(fetch::window w) const {
  std::size_t n = 0;
  each_run(w, [&n](std::span<const fetch::session_row> rows) { n += rows.size(); });
  return n;
}

void row_feed::feed(fetch::window w, evaluate::poll_outcome& out) const {
  each_run(w, [&out](std::span<const fetch::session_row> rows) { evaluate::add_rows(out, rows); });
}

void row_feed::forget_before(std::int64_t t) {
  const auto before = static_cast<double>(t);
  while (!chunks_.empty() && chunks_.front().rows.back().endtime < before) chunks_.pop_front();
}

std::size_t row_feed::rows_held() const {
  std::size_t n = open_.size();
  for (const chunk& c : chunks_) n += c.rows.size();
  return n;
}

}  // namespace qoewatch::backtest
