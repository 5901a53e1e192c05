#include "evaluate/row_condition.hpp"

#include <algorithm>

namespace qoewatch::evaluate {

row_condition::row_condition(const rules::expr& e, const std::vector<std::string>& metrics)
    : root_(compile(e, metrics)) {}

row_condition::node row_condition::compile(const rules::expr& e,
                                           const std::vector<std::string>& metrics) {
  node n;
  n.k = e.k;
  if (e.k == rules::expr::kind::compare) {
    n.metric = static_cast<std::size_t>(std::find(metrics.begin(), metrics.end(), e.cmp.metric) -
                                        metrics.begin());
    n.op = e.cmp.op;
    n.value = e.cmp.value;
  }
  for (const rules::expr& c : e.children) n.children.push_back(compile(c, metrics));
  return n;
}

bool row_condition::holds(const node& n, const std::vector<double>& values) {
  switch (n.k) {
    case rules::expr::kind::compare:
      return n.metric < values.size() && rules::compare(values[n.metric], n.op, n.value);
    case rules::expr::kind::not_:
      return !holds(n.children.front(), values);
    case rules::expr::kind::and_:
      return std::all_of(n.children.begin(), n.children.end(),
                         [&](const node& c) { return holds(c, values); });
    case rules::expr::kind::or_:
      return std::any_of(n.children.begin(), n.children.end(),
                         [&](const node& c) { return holds(c, values); });
  }
  return false;
}

}  // namespace qoewatch::evaluate
