#include "evaluate/poll.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <string_view>

#include "duration.hpp"
#include "rules/expr.hpp"

namespace qoewatch::evaluate {

poll_accumulator::poll_accumulator(const config::rule_config& rule, row_log::options keep)
    : schema_(fetch::schema_for(rule)),
      condition_(rule.condition, schema_.metrics),
      offending_(std::move(keep)) {}

void poll_accumulator::add(const fetch::page& p) {
  rows_fetched_ += p.rows_in_page;
  for (std::size_t i = 0; i < skipped_.size(); ++i) skipped_[i] += p.skipped[i];
  for (const fetch::session_row& row : p.rows) judge(row);
}

void poll_accumulator::add_rows(std::span<const fetch::session_row> rows) {
  rows_fetched_ += rows.size();
  for (const fetch::session_row& row : rows) judge(row);
}

fetch::scan_result poll_accumulator::add_body(std::string_view body) {
  const std::size_t before = offending_.size();
  fetch::scan_result r = fetch::scan_page(
      body, schema_, [this](const fetch::session_row& row) { judge(row); },
      [this, before] { forget_since(before); });
  if (!r) {
    forget_since(before);
    return r;
  }
  rows_fetched_ += r.value->rows_in_page;
  for (std::size_t i = 0; i < skipped_.size(); ++i) skipped_[i] += r.value->skipped[i];
  return r;
}

void poll_accumulator::judge(const fetch::session_row& row) {
  // Rows handed over hold every metric, so the verdict is always known.
  if (condition_.holds(row.metrics) && first_offense(row.sessionid)) offending_.append(row);
}

void poll_accumulator::forget_since(std::size_t offending) {
  if (offending >= offending_.size()) return;
  offending_.truncate(offending);
  index_offending(seen_.size());
}

namespace {
constexpr std::uint64_t slot_index_mask = 0xffff'ffff;
std::uint64_t tag_of(std::size_t hash) {
  return static_cast<std::uint64_t>(hash) >> 32 << 32;
}
}  // namespace

bool poll_accumulator::first_offense(std::string_view sessionid) {
  if ((offending_.size() + 1) * 2 > seen_.size())
    index_offending(std::max<std::size_t>(64, seen_.size() * 2));
  const std::size_t hash = std::hash<std::string_view>{}(sessionid);
  const std::uint64_t tag = tag_of(hash);
  const std::size_t mask = seen_.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const std::uint64_t slot = seen_[i];
    if (slot == 0) {
      seen_[i] = tag | (offending_.size() + 1);
      return true;
    }
    if ((slot & ~slot_index_mask) == tag &&
        offending_.sessionid_is((slot & slot_index_mask) - 1, sessionid))
      return false;
  }
}

void poll_accumulator::index_offending(std::size_t slots) {
  seen_.assign(slots, 0);
  if (slots == 0) return;
  const std::size_t mask = slots - 1;
  row_log::reader rows(offending_);
  fetch::session_row row;
  for (std::size_t n = rows.index(); rows.next(row); n = rows.index()) {
    const std::size_t hash = std::hash<std::string_view>{}(row.sessionid);
    std::size_t i = hash & mask;
    while (seen_[i] != 0) i = (i + 1) & mask;
    seen_[i] = tag_of(hash) | (n + 1);
  }
}

void summary_builder::count(double v) {
  max_ = n_ == 0 ? v : std::max(max_, v);
  sum_ += v;
  ++n_;
}

void summary_builder::rank(double v) {
  // Nearest rank: the p95 is the smallest value with at least 95 % of the values at or below
  // it, the k-th largest for k = n - rank + 1: the smallest of the k largest.
  const auto rank =
      std::max<std::size_t>(static_cast<std::size_t>(std::ceil(0.95 * static_cast<double>(n_))), 1);
  const std::size_t k = n_ - rank + 1;
  auto greater = std::greater<double>{};
  if (top_.size() < k) {
    top_.push_back(v);
    std::push_heap(top_.begin(), top_.end(), greater);
  } else if (v > top_.front()) {
    std::pop_heap(top_.begin(), top_.end(), greater);
    top_.back() = v;
    std::push_heap(top_.begin(), top_.end(), greater);
  }
}

std::optional<summary> summary_builder::result() const {
  if (n_ == 0 || top_.empty()) return std::nullopt;
  return summary{max_, top_.front(), sum_ / static_cast<double>(n_)};
}

std::optional<summary> summarize(const std::vector<double>& values) {
  summary_builder b;
  for (double v : values) b.count(v);
  for (double v : values) b.rank(v);
  return b.result();
}

bool notified_sessions::insert(std::string_view rule, std::string_view sessionid,
                               std::int64_t ended_at) {
  auto r = by_rule_.find(rule);
  if (r == by_rule_.end()) r = by_rule_.emplace(std::string(rule), by_text<std::int64_t>{}).first;
  const bool added = r->second.emplace(std::string(sessionid), ended_at).second;
  size_ += added ? 1 : 0;
  return added;
}

bool notified_sessions::contains(std::string_view rule, std::string_view sessionid) const {
  auto r = by_rule_.find(rule);
  return r != by_rule_.end() && r->second.contains(sessionid);
}

void notified_sessions::expire(std::string_view rule, std::int64_t before) {
  auto r = by_rule_.find(rule);
  if (r == by_rule_.end()) return;
  size_ -= std::erase_if(r->second, [before](const auto& entry) { return entry.second < before; });
}

void notified_sessions::retain_rules(const std::vector<std::string>& keep) {
  std::erase_if(by_rule_, [&](const auto& entry) {
    const bool gone = std::find(keep.begin(), keep.end(), entry.first) == keep.end();
    if (gone) size_ -= entry.second.size();
    return gone;
  });
}

namespace {
// Margin for polls that run late and for rounding: one interval and 2 s.
std::int64_t margin(const config::rule_config& rule) {
  return whole_seconds(rule.interval) + 2;
}
}  // namespace

std::int64_t ended_at(double endtime) {
  return static_cast<std::int64_t>(std::ceil(endtime));
}

std::int64_t forget_before(const config::rule_config& rule, std::int64_t now,
                           std::optional<std::int64_t> checkpoint, duration max_catchup) {
  const std::int64_t end = now - whole_seconds(rule.delay);
  const std::int64_t normal_start = end - whole_seconds(rule.window);
  // fetch::window_after never starts a window before both the checkpoint and the normal
  // start, nor before max_catchup reaches (or the normal start, if that is earlier).
  const std::int64_t earliest = std::min(end - whole_seconds(max_catchup), normal_start);
  const std::int64_t start =
      std::max(checkpoint ? std::min(*checkpoint, normal_start) : normal_start, earliest);
  return start - margin(rule);
}

std::int64_t forget_before_any(std::int64_t now, duration max_catchup,
                               const std::vector<config::rule_config>& rules) {
  std::int64_t before = now - whole_seconds(max_catchup) - 2;
  for (const config::rule_config& r : rules)
    before = std::min(
        before, forget_before(r, now, std::nullopt, max_catchup) - whole_seconds(max_catchup));
  return before;
}

decision decide(const config::rule_config& rule, const poll_accumulator& acc,
                const notified_sessions& notified) {
  decision d;
  d.offending = acc.offending().size();
  const fetch::row_schema& schema = acc.schema();
  auto index_of = [&](std::string_view metric) -> std::optional<std::size_t> {
    auto it = std::find(schema.metrics.begin(), schema.metrics.end(), metric);
    if (it == schema.metrics.end()) return std::nullopt;
    return static_cast<std::size_t>(it - schema.metrics.begin());
  };
  // A metric the rule fetches as a condition metric, or only as a reported field.
  auto value_of = [&](std::string_view metric) {
    std::optional<std::size_t> m = index_of(metric);
    auto f = std::find(schema.fields.begin(), schema.fields.end(), metric);
    std::optional<std::size_t> field;
    if (f != schema.fields.end()) field = static_cast<std::size_t>(f - schema.fields.begin());
    return [m, field](const fetch::session_row& row) -> std::optional<double> {
      if (m) return row.metrics[*m];
      if (field) return fetch::to_number(row.fields[*field]);
      return std::nullopt;
    };
  };
  auto latency = value_of("latency");
  auto rebuffering = value_of("cirrbufferingratio");
  summary_builder latencies, ratios;
  d.is_new.assign(d.offending, false);
  fetch::session_row row;
  // Two passes over rows that may be on disk: the p95 needs the count before it can choose.
  for (row_log::reader rows(acc.offending()); rows.next(row);) {
    if (auto v = latency(row)) latencies.count(*v);
    if (auto v = rebuffering(row)) ratios.count(*v / 100.0);
    if (!notified.contains(rule.name, row.sessionid)) {
      d.is_new[rows.index() - 1] = true;
      ++d.new_sessions;
    }
  }
  for (row_log::reader rows(acc.offending()); rows.next(row);) {
    if (auto v = latency(row)) latencies.rank(*v);
    if (auto v = rebuffering(row)) ratios.rank(*v / 100.0);
  }
  d.startup_seconds = latencies.result();
  d.rebuffering_ratio = ratios.result();
  return d;
}

}  // namespace qoewatch::evaluate
