// What pg_store.cpp, pg_schema.cpp and pg_leases.cpp share (internal to qoewatch_state).
#pragma once

#include <string>
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

/// The schema version this build writes.
int current_version();

/// Creates or migrates the schema in one transaction, under an advisory lock; refuses (with
/// store_error, changing nothing) a database that is not ours or is newer.
void migrate(connection& c);

}  // namespace pg

}  // namespace qoewatch::state
