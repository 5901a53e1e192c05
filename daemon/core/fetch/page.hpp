// Reading one listsessions response page into rows the evaluator can judge. Tolerant of what
// the API is not documented to guarantee: numbers may arrive as numeric strings, keys may be
// missing, the counters are ignored. A row that cannot be judged is skipped and counted, never
// a crash and never silently treated as "not offending". Pure code.
#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace qoewatch::fetch {

enum class skip_reason { not_an_object, no_sessionid, bad_endtime, missing_metric, not_a_number };
inline constexpr std::size_t skip_reason_count = 5;

/// The label value for qoewatch_rows_skipped_total: "not_an_object", "no_sessionid", ...
std::string_view to_string(skip_reason r);

/// What to read from each row, decided once per rule.
struct row_schema {
  std::vector<std::string> metrics;  // the condition's metrics, in metrics_of order
  std::vector<std::string> fields;   // group_by, aggregated metrics, then the rule's fields
};

/// The schema of a rule: its condition's metrics (a row without one is skipped), then as
/// fields its group_by dimensions (always fields, even when also a metric), the metrics its
/// aggregates read and its extra fields (any other name already read is read once, where it
/// first appears).
row_schema schema_for(const config::rule_config& rule);

struct session_row {
  std::string sessionid;
  double endtime = 0;               // epoch seconds
  std::vector<double> metrics;      // aligned with row_schema::metrics
  std::vector<std::string> fields;  // aligned with row_schema::fields; "" when absent
};

struct page {
  std::size_t rows_in_page = 0;  // entries of "response", usable or not
  std::vector<session_row> rows;
  std::array<std::size_t, skip_reason_count> skipped{};
};

struct page_result {
  std::optional<page> value;
  std::string error;  // when !value: why the body is unusable, e.g. "not JSON: ..."
  explicit operator bool() const { return value.has_value(); }
};

/// Parses a response body `{"response":[{...}, ...], ...}`. A body that is not JSON, not an
/// object, or has no "response" array is an error (the poll fails); bad rows are skipped.
/// Reads like boost::json's DOM: of keys given twice in one object, the last counts.
page_result parse_page(std::string_view body, const row_schema& schema);

/// Counts of one page (what parse_page's `page` holds besides the rows).
struct page_counts {
  std::size_t rows_in_page = 0;
  std::array<std::size_t, skip_reason_count> skipped{};
  // The largest non-negative integer among the body's top-level "totalcount", "pagecount"
  // and "totalrecords": what the server says the window holds (its docs disagree on which
  // counter counts rows and which pages). A hint for sizing, never trusted; 0 without one.
  std::size_t claimed_rows = 0;
};

struct scan_result {
  std::optional<page_counts> value;
  std::string error;  // when !value: as page_result::error
  explicit operator bool() const { return value.has_value(); }
};

/// Reads `body` like parse_page, but hands each usable row to `on_row` as it is read instead
/// of collecting them; rows that are skipped cost no allocation. The row passed is reused from
/// row to row: valid only during the call.
///
/// Whether the body is usable is known only at its end, so on error (the result is false) the
/// caller must discard whatever it received for this page. A body with "response" more than
/// once at top level reads its last one, as parse_page does: when a later one begins after rows
/// were handed over, `on_restart` is called and the caller must drop those rows; without
/// `on_restart`, such a body is an error. Exceptions thrown by the callbacks propagate.
scan_result scan_page(std::string_view body, const row_schema& schema,
                      const std::function<void(const session_row&)>& on_row,
                      const std::function<void()>& on_restart = {});

/// Reads a number given as a JSON number or as a string holding one ("7.4", " 12 ").
/// std::nullopt for anything else, including NaN and infinities.
std::optional<double> to_number(std::string_view text);

}  // namespace qoewatch::fetch
