#include "evaluate/population.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <functional>
#include <limits>

#include "rules/expr.hpp"

namespace qoewatch::evaluate {

std::string group_label(const config::rule_config& rule, const std::vector<std::string>& values) {
  std::string out;
  for (std::size_t i = 0; i < rule.group_by.size() && i < values.size(); ++i) {
    if (i) out += ',';
    out += rule.group_by[i];
    out += '=';
    out += values[i];
  }
  return out;
}

double nearest_rank(const std::vector<double>& sorted, int p) {
  // In whole numbers: ceil(p / 100 * n) computed in floating point is one too high when the
  // product comes out a hair above a whole number.
  const std::size_t n = sorted.size();
  const std::size_t rank = (static_cast<std::size_t>(p) * n + 99) / 100;
  return sorted[std::max<std::size_t>(rank, 1) - 1];
}

population_accumulator::population_accumulator(const config::rule_config& rule,
                                               std::size_t most_rows)
    : rule_(rule), schema_(fetch::schema_for(rule)), most_rows_(most_rows) {
  auto field_index = [this](const std::string& name) {
    return static_cast<std::size_t>(
        std::find(schema_.fields.begin(), schema_.fields.end(), name) - schema_.fields.begin());
  };
  auto source_of = [&](const std::string& name) {
    auto m = std::find(schema_.metrics.begin(), schema_.metrics.end(), name);
    return m != schema_.metrics.end()
               ? metric_source{false, static_cast<std::size_t>(m - schema_.metrics.begin())}
               : metric_source{true, field_index(name)};
  };
  // Dimensions are always fields (schema_for), their text as the row gives it.
  for (const std::string& d : rule.group_by) dimensions_.push_back({true, field_index(d)});
  std::vector<std::string> names;  // of metrics_
  for (const rules::aggregate& a : rule.aggregates) {
    auto it = std::find(names.begin(), names.end(), a.metric);
    if (it == names.end()) {
      names.push_back(a.metric);
      metrics_.push_back(source_of(a.metric));
      needs_values_.push_back(false);
      it = names.end() - 1;
    }
    const auto slot = static_cast<std::size_t>(it - names.begin());
    aggregate_metric_.push_back(slot);
    if (rules::percentile(a.fn) > 0) needs_values_[slot] = true;
  }
  if (rule.has_qoefilter()) condition_.emplace(rule.condition, schema_.metrics);
}

void population_accumulator::add(const fetch::page& p) {
  add_rows(p.rows);
  rows_fetched_ += p.rows_in_page - p.rows.size();
  for (std::size_t i = 0; i < skipped_.size(); ++i) skipped_[i] += p.skipped[i];
}

void population_accumulator::expect(std::size_t rows) {
  if (presized_) return;
  presized_ = true;
  const std::size_t claimed = std::min(rows, most_rows_);
  seen_->reserve(claimed);
  values_->reserve(claimed * static_cast<std::size_t>(
                                 std::count(needs_values_.begin(), needs_values_.end(), true)));
}

void population_accumulator::add_rows(std::span<const fetch::session_row> rows) {
  for (const fetch::session_row& row : rows) stage(row);
  fold_page();
  rows_fetched_ += rows.size();
}

fetch::scan_result population_accumulator::add_body(std::string_view body) {
  fetch::scan_result r = fetch::scan_page(
      body, schema_, [this](const fetch::session_row& row) { stage(row); },
      [this] { drop_page(); });
  if (!r) {
    drop_page();
    return r;
  }
  fold_page();
  // Growing the tables a doubling at a time zeroes and rehashes about twice the memory they
  // end with; the counters, when they tell the truth, spare that.
  expect(r.value->claimed_rows);
  rows_fetched_ += r.value->rows_in_page;
  for (std::size_t i = 0; i < skipped_.size(); ++i) skipped_[i] += r.value->skipped[i];
  return r;
}

std::string_view population_accumulator::dimension(const fetch::session_row& row,
                                                   const metric_source& d) {
  const std::string& v = row.fields[d.index];
  return v.empty() ? unknown_value : std::string_view(v);
}

std::uint32_t population_accumulator::group_of(const fetch::session_row& row) {
  // Found by a hash of the row's values, straight from the row: no key is built.
  std::uint64_t h = 0;
  for (const metric_source& d : dimensions_)
    h = (std::rotl(h, 17) ^ std::hash<std::string_view>{}(dimension(row, d))) *
        0x9e3779b97f4a7c15ULL;
  auto same = [&](const group_acc& g) {
    if (g.hash != h) return false;
    for (std::size_t k = 0; k < dimensions_.size(); ++k)
      if (g.values[k] != dimension(row, dimensions_[k])) return false;
    return true;
  };
  std::size_t mask = group_slots_.size() - 1;
  std::size_t i = h & mask;
  for (; group_slots_[i] != 0; i = (i + 1) & mask)
    if (same(groups_[group_slots_[i] - 1])) return group_slots_[i] - 1;

  const auto index = static_cast<std::uint32_t>(groups_.size());
  group_acc g;
  g.hash = h;
  for (const metric_source& d : dimensions_) g.values.emplace_back(dimension(row, d));
  g.metrics.resize(metrics_.size());
  groups_.push_back(std::move(g));
  staged_offending_.push_back(0);
  if ((groups_.size() + 1) * 2 <= group_slots_.size()) {
    group_slots_[i] = index + 1;
    return index;
  }
  // At most half full: twice the slots, every group placed again.
  group_slots_.assign(group_slots_.size() * 2, 0);
  mask = group_slots_.size() - 1;
  for (std::uint32_t n = 0; n < groups_.size(); ++n) {
    std::size_t j = groups_[n].hash & mask;
    while (group_slots_[j] != 0) j = (j + 1) & mask;
    group_slots_[j] = n + 1;
  }
  return index;
}

void population_accumulator::stage(const fetch::session_row& row) {
  staged_row s;
  s.hash = std::hash<std::string_view>{}(row.sessionid);
  s.hash += s.hash == 0;  // 0 marks an empty slot
  // Whether this is the session's first sighting in the poll is settled a few rows later:
  // the probe of the seen set, a cache miss in a table of megabytes, is prefetched now and
  // overlaps the parsing of the rows in between.
  seen_->prefetch(s.hash);
  s.group = group_of(row);
  s.offending = condition_ && condition_->holds(row.metrics);
  for (const metric_source& m : metrics_) {
    double v = std::numeric_limits<double>::quiet_NaN();
    if (!m.in_fields)
      v = row.metrics[m.index];
    else if (std::optional<double> n = fetch::to_number(row.fields[m.index]))
      v = *n;
    staged_values_.push_back(v);
  }
  const auto evidence = static_cast<std::size_t>(std::max(rule_.evidence, 0));
  if (s.offending &&
      groups_[s.group].evidence.size() + staged_offending_[s.group] < evidence) {
    // It would take one of its group's evidence slots, which a repeat may not take from a
    // session that is new: this one is settled now, after every row before it.
    settle(staged_.size());
    if (!seen_->insert(s.hash)) {
      staged_values_.resize(staged_values_.size() - metrics_.size());
      return;
    }
    ++staged_offending_[s.group];
    staged_evidence_.push_back(row);
    s.evidence = static_cast<std::uint32_t>(staged_evidence_.size());
    staged_.push_back(s);
    settled_ = staged_.size();
    return;
  }
  staged_.push_back(s);
  if (staged_.size() - settled_ > settle_lag) settle(staged_.size() - settle_lag);
}

void population_accumulator::settle(std::size_t upto) {
  for (; settled_ < upto; ++settled_) {
    staged_row& s = staged_[settled_];
    s.repeat = !seen_->insert(s.hash);  // a session seen before in this poll counts once
  }
}

void population_accumulator::drop_page() {
  // Only the settled rows were marked seen; a repeat was marked by another row.
  for (std::size_t i = 0; i < settled_; ++i)
    if (!staged_[i].repeat) seen_->erase(staged_[i].hash);
  clear_page();
}

void population_accumulator::clear_page() {
  staged_.clear();
  settled_ = 0;
  staged_values_.clear();
  staged_evidence_.clear();
  std::fill(staged_offending_.begin(), staged_offending_.end(), 0);
}

void population_accumulator::fold_page() {
  settle(staged_.size());
  const std::size_t width = metrics_.size();
  const auto evidence = static_cast<std::size_t>(std::max(rule_.evidence, 0));
  for (std::size_t i = 0; i < staged_.size(); ++i) {
    const staged_row& s = staged_[i];
    if (s.repeat) continue;
    ++sessions_;
    group_acc& g = groups_[s.group];
    ++g.sessions;
    if (s.offending) ++g.offending;
    for (std::size_t m = 0; m < width; ++m) {
      const double v = staged_values_[i * width + m];
      if (std::isnan(v)) continue;
      metric_acc& a = g.metrics[m];
      a.min = a.count == 0 ? v : std::min(a.min, v);
      a.max = a.count == 0 ? v : std::max(a.max, v);
      a.sum += v;
      ++a.count;
      if (needs_values_[m]) values_->push_back(a.values, v);
    }
    if (s.evidence && g.evidence.size() < evidence)
      g.evidence.push_back(std::move(staged_evidence_[s.evidence - 1]));
  }
  clear_page();
}

window_figures population_accumulator::finish() {
  window_figures w;
  w.schema = schema_;
  w.rows_fetched = rows_fetched_;
  w.sessions = sessions_;
  w.skipped = skipped_;
  seen_.reset();  // the largest part, no longer needed
  // Per metric, the group's values in one sorted run: reused from group to group, so it
  // grows to the largest group only.
  std::vector<std::vector<double>> sorted(metrics_.size());
  for (group_acc& g : groups_) {
    group_figures f;
    f.values = std::move(g.values);
    f.sessions = g.sessions;
    f.offending = g.offending;
    f.ratio = g.sessions ? static_cast<double>(g.offending) / static_cast<double>(g.sessions) : 0;
    for (std::size_t m = 0; m < g.metrics.size(); ++m) {
      if (!needs_values_[m]) continue;
      sorted[m].clear();
      for (const value_store::chunk& c : g.metrics[m].values.chunks)
        sorted[m].insert(sorted[m].end(), c.data, c.data + c.size);
      std::sort(sorted[m].begin(), sorted[m].end());
    }
    for (std::size_t i = 0; i < rule_.aggregates.size(); ++i) {
      const metric_acc& m = g.metrics[aggregate_metric_[i]];
      if (m.count == 0) {
        f.aggregates.emplace_back();
        continue;
      }
      const rules::aggregate_fn fn = rule_.aggregates[i].fn;
      switch (fn) {
        case rules::aggregate_fn::avg:
          f.aggregates.emplace_back(m.sum / static_cast<double>(m.count));
          break;
        case rules::aggregate_fn::min:
          f.aggregates.emplace_back(m.min);
          break;
        case rules::aggregate_fn::max:
          f.aggregates.emplace_back(m.max);
          break;
        case rules::aggregate_fn::sum:
          f.aggregates.emplace_back(m.sum);
          break;
        default:
          f.aggregates.emplace_back(
              nearest_rank(sorted[aggregate_metric_[i]], rules::percentile(fn)));
      }
    }
    f.evidence = std::move(g.evidence);
    g.metrics.clear();
    if (f.sessions > 0) w.groups.push_back(std::move(f));
  }
  groups_.clear();
  values_.reset();
  std::sort(w.groups.begin(), w.groups.end(), [](const group_figures& a, const group_figures& b) {
    return a.sessions != b.sessions ? a.sessions > b.sessions : a.values < b.values;
  });
  return w;
}

}  // namespace qoewatch::evaluate
