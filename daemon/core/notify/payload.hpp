// The webhook body: one notification per rule per poll that found new offending sessions, in
// the shape Alertmanager's webhook receivers already understand, plus a "qoewatch" object with
// the rule, the window and the query. Pure code.
#pragma once

#include <cstdint>
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

/// "latency 7.4 s > 5 s": the comparisons of the condition that hold for the row (those not
/// under NOT), joined by ", "; when none does, "matches <condition>".
std::string summary_of(const config::rule_config& rule, const fetch::row_schema& schema,
                       const fetch::session_row& row);

/// RFC 3339 UTC with seconds, e.g. "2026-04-09T15:53:00Z" (fractions of a second dropped).
std::string rfc3339(double epoch_seconds);

/// A stable 16-hex-digit hash of a label set (order-independent).
std::string fingerprint(const std::vector<std::pair<std::string, std::string>>& labels);

}  // namespace qoewatch::notify
