// A qoefilter compiled against a row schema: each metric resolved once to its place in a row,
// so every row is judged without name lookups and with short circuits. Rows handed over by
// fetch::scan_page hold every metric of the schema, so the verdict is always known. Shared by
// the per-session and the population accumulators. Pure code.
#pragma once

#include <string>
#include <vector>

#include "rules/expr.hpp"

namespace qoewatch::evaluate {

class row_condition {
 public:
  /// `metrics`: the row schema's metrics, which hold every metric `e` reads.
  row_condition(const rules::expr& e, const std::vector<std::string>& metrics);
  /// Whether the condition holds for a row's metric values.
  bool holds(const std::vector<double>& values) const { return holds(root_, values); }

 private:
  struct node {
    rules::expr::kind k = rules::expr::kind::compare;
    std::size_t metric = 0;
    rules::cmp_op op = rules::cmp_op::gt;
    double value = 0;
    std::vector<node> children;
  };
  static node compile(const rules::expr& e, const std::vector<std::string>& metrics);
  static bool holds(const node& n, const std::vector<double>& values);
  node root_;
};

}  // namespace qoewatch::evaluate
