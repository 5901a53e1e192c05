// Shared by the filter agreement tests: the daemon's qoefilter and filter parser and evaluator
// (daemon/core/rules) and the simulator's own (sim/core/filter_eval) side by side, so a test
// hands both the same text and rows and compares their answers. Only these tests may include
// both: the simulator's library must not include the daemon's rules/ headers.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/filter_eval.hpp"
#include "rules/dimension_filter.hpp"
#include "rules/expr.hpp"

namespace filter_agreement {

namespace rules = qoewatch::rules;
namespace sim = qoewatch::sim;

enum class answer { refused, match, no_match, unjudged };

inline const char* name_of(answer a) {
  switch (a) {
    case answer::refused:
      return "refused";
    case answer::match:
      return "match";
    case answer::no_match:
      return "no match";
    case answer::unjudged:
      return "unjudged";
  }
  return "?";
}

using metric_row = std::map<std::string, double>;  // a metric the row lacks is absent
using dimension_row = std::map<std::string, std::string>;

inline std::string show(const metric_row& row) {
  std::string out = "{";
  for (const auto& [k, v] : row) out += (out.size() > 1 ? ", " : "") + k + "=" + std::to_string(v);
  return out + "}";
}

inline std::string show(const dimension_row& row) {
  std::string out = "{";
  for (const auto& [k, v] : row) out += (out.size() > 1 ? ", " : "") + k + "='" + v + "'";
  return out + "}";
}

// One condition text compiled by both sides.
struct condition_pair {
  std::optional<rules::expr> daemon;
  std::optional<sim::qoe_condition> simulator;

  explicit condition_pair(std::string_view text) {
    if (rules::parse_result r = rules::parse(text)) daemon = std::move(r.value);
    auto c = sim::qoe_condition::compile(text);
    if (auto* ok = std::get_if<sim::qoe_condition>(&c)) simulator = std::move(*ok);
  }

  answer daemon_answer(const metric_row& row) const {
    if (!daemon) return answer::refused;
    std::optional<bool> r = rules::evaluate(*daemon, [&](std::string_view m) {
      auto it = row.find(std::string(m));
      return it == row.end() ? std::nullopt : std::optional<double>(it->second);
    });
    return !r ? answer::unjudged : *r ? answer::match : answer::no_match;
  }

  answer sim_answer(const metric_row& row) const {
    if (!simulator) return answer::refused;
    std::vector<std::optional<double>> values;
    for (const std::string& name : simulator->names()) {
      auto it = row.find(name);
      values.push_back(it == row.end() ? std::nullopt : std::optional<double>(it->second));
    }
    switch (simulator->judge(values)) {
      case sim::qoe_condition::verdict::match:
        return answer::match;
      case sim::qoe_condition::verdict::no_match:
        return answer::no_match;
      case sim::qoe_condition::verdict::unjudged:
        return answer::unjudged;
    }
    return answer::refused;
  }
};

// One dimension filter text compiled by both sides.
struct filter_pair {
  std::optional<rules::dimension_filter> daemon;
  std::optional<sim::dimension_match> simulator;

  explicit filter_pair(std::string_view text) {
    if (rules::dimension_filter_result r = rules::parse_dimension_filter(text))
      daemon = std::move(r.value);
    auto f = sim::dimension_match::compile(text);
    if (auto* ok = std::get_if<sim::dimension_match>(&f)) simulator = std::move(*ok);
  }

  answer daemon_answer(const dimension_row& row) const {
    if (!daemon) return answer::refused;
    bool ok = rules::matches(*daemon, [&](std::string_view d) {
      auto it = row.find(std::string(d));
      return it == row.end() ? std::nullopt : std::optional<std::string_view>(it->second);
    });
    return ok ? answer::match : answer::no_match;
  }

  answer sim_answer(const dimension_row& row) const {
    if (!simulator) return answer::refused;
    std::vector<std::optional<std::string_view>> values;
    for (const std::string& name : simulator->names()) {
      auto it = row.find(name);
      values.push_back(it == row.end() ? std::nullopt
                                       : std::optional<std::string_view>(it->second));
    }
    return simulator->accepts(values) ? answer::match : answer::no_match;
  }
};

// Both sides on every row; returns the answers (the daemon's) so callers can tally them.
template <class Pair, class Row>
std::vector<answer> expect_agreement(std::string_view text, const std::vector<Row>& rows,
                                     const std::string& origin) {
  Pair p(text);
  std::vector<answer> out;
  if (!p.daemon || !p.simulator) {
    EXPECT_EQ(p.daemon.has_value(), p.simulator.has_value())
        << origin << ": \"" << text << "\" is " << (p.daemon ? "accepted" : "refused")
        << " by the daemon but " << (p.simulator ? "accepted" : "refused") << " by the simulator";
    out.push_back(answer::refused);
    return out;
  }
  for (const Row& row : rows) {
    answer d = p.daemon_answer(row), s = p.sim_answer(row);
    EXPECT_EQ(name_of(d), std::string(name_of(s)))
        << origin << ": \"" << text << "\" on " << show(row) << ": daemon " << name_of(d)
        << ", simulator " << name_of(s);
    out.push_back(d);
  }
  return out;
}

}  // namespace filter_agreement
