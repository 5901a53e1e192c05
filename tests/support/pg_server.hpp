// Test support: a real PostgreSQL server of the test's own, for the PostgreSQL state tests.
// tests/support/pg-server does the work (initdb and pg_ctl, as the postgres user when the tests
// run as root); this class gives it a temporary directory, a free loopback port held for its
// lifetime, and a destructor that leaves nothing running. Nothing relies on a server someone
// else started, nor on the packaged cluster.
//
// Failures: every member but the destructor throws std::runtime_error with the script's own
// message (what is missing, or the server log's last lines) when the script fails or takes
// longer than two minutes. If the test binary dies without running the destructor (a crash, a
// sanitizer report, a CTest timeout), a watcher started with the server stops it and removes
// its directory within a second or two.
//
// Cost, measured on a 2-core machine at load 5: init 3 to 4 s wall (1.9 s of CPU, nearly all of
// it initdb), start and stop about 0.6 s wall each (0.2 to 0.3 s of CPU): some 5 s and 2.4 s of
// CPU per server, and CI runs every suite three times. So share one server per test process
// and give each test its own database:
//
//   std::unique_ptr<qoewatch::test::pg_server> pg;  // the test process's server
//   class pg_environment : public ::testing::Environment {
//     void SetUp() override {
//       if (!qoewatch::test::pg_server::unavailable().empty()) return;  // the tests say why
//       try {
//         pg = std::make_unique<qoewatch::test::pg_server>();
//       } catch (const std::exception& e) {
//         FAIL() << e.what();  // a fatal failure here fails the binary and runs no test
//       }
//     }
//     void TearDown() override { pg.reset(); }
//   };
//   const auto* const pg_env = ::testing::AddGlobalTestEnvironment(new pg_environment);
//
//   class PgStore : public ::testing::Test {
//    protected:
//     void SetUp() override {
//       QOEWATCH_REQUIRE_POSTGRESQL();
//       static int databases = 0;
//       url_ = pg->create_database("test_" + std::to_string(++databases));
//     }
//     std::string url_;
//   };
//
// Under CTest, gtest_discover_tests runs every test in a process of its own, so the
// environment above still starts one server per test there; it shares one across tests only
// when the binary runs whole (or when CMake registers the binary as one test).
//
// Thread-safety: none; one thread drives a pg_server.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "support/process.hpp"
#include "support/reserved_port.hpp"

namespace qoewatch::test {

/// Runs tests/support/pg-server with `args` (and $QOEWATCH_PG_BINDIR, PATH and the variables in
/// `env`): what it printed on stdout, lines joined by '\n' without a final one. Throws
/// std::runtime_error with its stderr when it exits non-zero or runs for over two minutes.
std::string run_pg_server(const std::vector<std::string>& args,
                          const std::map<std::string, std::string>& env = {});

class pg_server {
 public:
  /// Initialises a cluster in a new temporary directory and starts it on 127.0.0.1 on a free
  /// port, with a private socket directory. Superuser postgres, its password generated.
  pg_server();
  /// Stops the server at once (stop immediate: nothing in it is worth a checkpoint) and
  /// removes its directory. A failure to stop is reported with ADD_FAILURE.
  ~pg_server();
  pg_server(const pg_server&) = delete;
  pg_server& operator=(const pg_server&) = delete;

  /// postgresql://postgres:PASSWORD@127.0.0.1:PORT/DB: TCP, password authentication.
  /// Database names are [a-z_][a-z0-9_]* (no quoting needed in SQL or in a URL).
  std::string url(const std::string& db = "postgres") const;
  /// Creates the empty database `name`; its url().
  std::string create_database(const std::string& name);
  /// Runs `sql` in `db` with psql over the private socket, as the superuser, stopping at the
  /// first error (which throws): the rows it printed, one a line, fields separated by '|', no
  /// header, lines joined by '\n' without a final one.
  std::string psql(const std::string& db, const std::string& sql) const;

  /// Stops the server (fast: sessions are ended, a shutdown checkpoint is written). The port
  /// stays held: connecting to it is refused until start().
  void stop();
  /// Starts the stopped server on the same port and waits until it accepts connections.
  void start();
  /// stop() then start(): every session is cut, the data stays.
  void restart();
  /// Freezes the postmaster and every server process (SIGSTOP): the kernel still accepts TCP
  /// connections, and nothing ever answers on them: a black-holed database.
  void pause();
  /// Lets the paused processes run again; connections made meanwhile are then served.
  void resume();

  const std::string& port() const { return port_.port(); }
  /// The server's directory: data/, log, sock/, password, port.
  const std::filesystem::path& dir() const { return dir_.path; }

  /// Why no server can be started here ("" when one can): the missing binary or user, and
  /// that scripts/install-deps installs it. Asked once per process.
  static const std::string& unavailable();
  /// The directory of the PostgreSQL binaries the servers run (psql is there too).
  static std::string bin_dir();

 private:
  reserved_port port_;  // declared first: released after the directory is gone
  temp_dir dir_;
};

/// Whether a missing PostgreSQL fails the tests instead of skipping them: when $CI is set to
/// anything but "", "0" or "false" (CI machines install it with scripts/install-deps).
bool postgresql_required();

}  // namespace qoewatch::test

/// In a test body or a fixture's SetUp: skips the test when no PostgreSQL server can be started
/// here, or fails it when postgresql_required(); the message names what is missing.
#define QOEWATCH_REQUIRE_POSTGRESQL()                                                        \
  do {                                                                                       \
    if (const std::string& qoewatch_pg_missing = ::qoewatch::test::pg_server::unavailable(); \
        !qoewatch_pg_missing.empty()) {                                                      \
      if (::qoewatch::test::postgresql_required()) {                                         \
        FAIL() << qoewatch_pg_missing << " (CI is set: PostgreSQL is required)";             \
      } else {                                                                               \
        GTEST_SKIP() << qoewatch_pg_missing;                                                 \
      }                                                                                      \
    }                                                                                        \
  } while (false)
