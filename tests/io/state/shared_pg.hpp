// The state tests' PostgreSQL server: one per test process, started by the first test that
// asks for it (so a process that runs only SQLite tests starts none) and stopped when the
// tests end; each test gets a database of its own. See support/pg_server.hpp for the costs.
#pragma once

#include <string>

#include "support/pg_server.hpp"

namespace qoewatch::test {

/// The process's server, started on first use. Throws std::runtime_error when it cannot be
/// started (and again, at once, on every later call). Call after QOEWATCH_REQUIRE_POSTGRESQL().
pg_server& shared_pg();

struct test_database {
  std::string name;
  std::string url;  // postgresql://postgres:PASSWORD@127.0.0.1:PORT/NAME
};

/// A new empty database on shared_pg(), named after `hint` (made unique and fit for SQL).
test_database fresh_database(const std::string& hint = "test");

}  // namespace qoewatch::test
