// What pg_store.cpp, pg_schema.cpp, pg_leases.cpp and pg_silences.cpp share (internal to
// qoewatch_state).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "state/pg_connection.hpp"
#include "state/pg_store.hpp"

namespace qoewatch::state {

struct pg_store::impl {
  impl(std::string url, std::string who, std::chrono::milliseconds io_timeout)
      : conn(std::move(url), io_timeout), owner(std::move(who)) {}
  pg::connection conn;
  std::string owner;
};

namespace pg {

/// `s` as a text column can hold it: PostgreSQL's text holds neither NUL nor malformed UTF-8
/// (and refuses the whole statement), so those bytes become U+FFFD.
std::string storable_text(std::string_view s);

/// Writes `rows` into the silences table in one statement, each replacing any stored under
/// its id (of an id given twice, the later row). Throws store_error with `what`.
void write_silences(connection& c, std::span<const silence_row> rows, std::string_view what);

/// The outbox columns as pg_store reads them, in this order, and one row of them decoded.
inline constexpr std::string_view outbox_columns =
    "id, sink, rule, body, created_at, attempts, last_error, sink_type";
outbox_row outbox_row_at(const result& r, int row);

/// The schema version this build writes.
int current_version();

/// Creates or migrates the schema in one transaction, under an advisory lock; refuses (with
/// store_error, changing nothing) a database that is not ours or is newer.
void migrate(connection& c);

}  // namespace pg

}  // namespace qoewatch::state
