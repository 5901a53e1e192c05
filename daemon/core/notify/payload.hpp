// The webhook body: one notification per rule per poll that found new offending sessions, in
// the shape Alertmanager's webhook receivers already understand, plus a "qoewatch" object with
// the rule, the window and the query. Pure code.
#pragma once

#include <boost/json/fwd.hpp>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "fetch/page.hpp"
#include "fetch/query.hpp"

namespace qoewatch::notify {

struct context {
  std::string receiver;      // the sink's name
  std::string external_url;  // where this qoewatch serves /metrics, e.g. "http://host:9786"
  std::uint64_t customer_id = 0;
  fetch::window window;
  std::string query;  // the listsessions URL of the poll's first page (never the key)
};

/// The JSON bodies for `sessions`, at most `max_per_notification` alerts each, in order. Each
/// body's truncatedAlerts counts the sessions left for the bodies after it.
std::vector<std::string> build_notifications(const config::rule_config& rule,
                                             const fetch::row_schema& schema,
                                             std::span<const fetch::session_row* const> sessions,
                                             const context& ctx, std::size_t max_per_notification);

/// The same bodies as trees, handed to `each` one at a time so that the caller can add to a
/// body before serializing it once, and never holds more than one. A body lives only during
/// its call (it is built in an arena reused for the next). `told_after`: sessions of the same
/// notification told by later calls (a poll's sessions rendered slice by slice), counted in
/// truncatedAlerts.
void each_notification(const config::rule_config& rule, const fetch::row_schema& schema,
                       std::span<const fetch::session_row* const> sessions, const context& ctx,
                       std::size_t max_per_notification,
                       const std::function<void(boost::json::object& body)>& each,
                       std::size_t told_after = 0);

/// "latency 7.4 s > 5 s": the comparisons of the condition that hold for the row (those not
/// under NOT), joined by ", "; when none does, "matches <condition>".
std::string summary_of(const config::rule_config& rule, const fetch::row_schema& schema,
                       const fetch::session_row& row);

/// summary_of prepared once for a rule and its schema: the comparisons and where their metrics
/// sit in a row are found once, not for every session.
class session_summary {
 public:
  session_summary(const config::rule_config& rule, const fetch::row_schema& schema);
  std::string operator()(const fetch::session_row& row) const;

 private:
  struct term {
    std::size_t metric;  // index into row.metrics
    rules::cmp_op op;
    double threshold;
    std::string name;  // "latency "
    std::string tail;  // " s > 5 s": unit, operator, threshold and unit
  };
  std::vector<term> terms_;
  std::string fallback_;  // "matches <condition>"
};

/// A stable 16-hex-digit hash of a label set (order-independent).
std::string fingerprint(const std::vector<std::pair<std::string, std::string>>& labels);

/// fingerprint(labels + {extra}) for a `sorted` label set, without copying or sorting it.
std::string fingerprint_with(const std::vector<std::pair<std::string, std::string>>& sorted,
                             const std::pair<std::string_view, std::string_view>& extra);

}  // namespace qoewatch::notify
