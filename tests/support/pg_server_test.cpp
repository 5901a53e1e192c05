// The PostgreSQL test server that the state, e2e, soak and bench tests build on: what they will
// rely on is checked here from the outside, with psql over TCP as a client of the daemon would
// connect (URL, password), not through the script that runs the server.
#include <signal.h>

#include <gtest/gtest.h>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "support/pg_server.hpp"
#include "support/process.hpp"
#include "support/reserved_port.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using qoewatch::test::child_process;
using qoewatch::test::pg_server;

struct psql_result {
  int code = -1;    // psql's exit code: 0 done, 2 no connection; -1 still running
  std::string out;  // the rows, unaligned, one a line
  std::string err;
};

// psql over TCP to `url`, never prompting and reading no ~/.pgpass: only what the URL holds
// authenticates. PGCONNECT_TIMEOUT unset waits for an answer forever (the pause test's point).
class tcp_psql {
 public:
  tcp_psql(const std::string& url, const std::string& sql,
           std::optional<std::string> connect_timeout = "10")
      : process_(pg_server::bin_dir() + "/psql",
                 {"-X", "-w", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql},
                 [&] {
                   std::map<std::string, std::string> env = {{"PGPASSFILE", "/nonexistent/pgpass"}};
                   if (connect_timeout) env["PGCONNECT_TIMEOUT"] = *connect_timeout;
                   return env;
                 }()) {}

  /// Waits up to `timeout` for psql to end.
  psql_result result(std::chrono::milliseconds timeout = 30s) {
    psql_result r;
    r.code = process_.wait(timeout);
    if (r.code < 0) return r;
    while (std::optional<std::string> line = process_.read_line(1s)) {
      r.out += (r.out.empty() ? "" : "\n") + *line;
    }
    r.err = process_.log();
    return r;
  }

 private:
  child_process process_;
};

psql_result over_tcp(const std::string& url, const std::string& sql) {
  return tcp_psql(url, sql).result();
}

// Whether the process `pid` runs (a zombie waiting for init to reap it does not).
bool running(const std::string& pid) {
  std::ifstream stat("/proc/" + pid + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  if (text.empty()) return false;
  const std::size_t paren = text.rfind(") ");
  return paren != std::string::npos && text.substr(paren + 2, 1) != "Z";
}

std::string postmaster_pid(const fs::path& dir) {
  std::ifstream in(dir / "data" / "postmaster.pid");
  std::string pid;
  std::getline(in, pid);
  return pid;
}

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return done();
}

TEST(PgServer, StartsStopsAndRestartsOnItsPort) {
  QOEWATCH_REQUIRE_POSTGRESQL();
  pg_server pg;
  const std::string url = pg.url();
  EXPECT_EQ(url.rfind("postgresql://postgres:", 0), 0u) << url;
  EXPECT_NE(url.find("@127.0.0.1:" + pg.port() + "/postgres"), std::string::npos) << url;

  // Over TCP on the port it was given, not over the socket.
  psql_result r = over_tcp(url, "SELECT inet_server_addr(), inet_server_port()");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "127.0.0.1|" + pg.port());
  pg.psql("postgres", "CREATE TABLE kept (v int); INSERT INTO kept VALUES (7)");
  const std::string first_start = pg.psql("postgres", "SELECT pg_postmaster_start_time()");

  pg.stop();
  r = over_tcp(url, "SELECT 1");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("Connection refused"), std::string::npos) << r.err;

  // Back on the same port (held meanwhile), with the data.
  pg.start();
  r = over_tcp(url, "SELECT v FROM kept");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "7");
  const std::string second_start = pg.psql("postgres", "SELECT pg_postmaster_start_time()");
  EXPECT_NE(second_start, first_start);

  pg.restart();
  r = over_tcp(url, "SELECT v FROM kept");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "7");
  EXPECT_NE(pg.psql("postgres", "SELECT pg_postmaster_start_time()"), second_start);
}

TEST(PgServer, PausedServerAnswersNothingUntilResumed) {
  QOEWATCH_REQUIRE_POSTGRESQL();
  pg_server pg;
  pg.pause();
  // No connect timeout: the client waits as long as the server stays silent.
  tcp_psql waiting(pg.url(), "SELECT 'answered'", std::nullopt);
  psql_result r = waiting.result(1s);
  EXPECT_EQ(r.code, -1) << "a paused server answered: " << r.out << r.err;

  pg.resume();
  // The connection made while paused is served, not refused: a black hole, then the database.
  r = waiting.result(30s);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "answered");
  EXPECT_EQ(pg.psql("postgres", "SELECT 1"), "1");
}

TEST(PgServer, TcpNeedsThePassword) {
  QOEWATCH_REQUIRE_POSTGRESQL();
  pg_server pg;
  const std::string url = pg.url();
  const std::string without = "postgresql://postgres@127.0.0.1:" + pg.port() + "/postgres";
  psql_result r = over_tcp(without, "SELECT 1");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("no password supplied"), std::string::npos) << r.err;

  const std::string wrong = "postgresql://postgres:wrong@127.0.0.1:" + pg.port() + "/postgres";
  r = over_tcp(wrong, "SELECT 1");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("password authentication failed for user \"postgres\""), std::string::npos)
      << r.err;

  r = over_tcp(url, "SELECT current_user");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "postgres");

  // The password file is the owner's alone.
  const fs::perms perms = fs::status(pg.dir() / "password").permissions();
  EXPECT_EQ(perms & (fs::perms::group_all | fs::perms::others_all), fs::perms::none);
}

TEST(PgServer, EachDatabaseHasItsOwnUrlAndTables) {
  QOEWATCH_REQUIRE_POSTGRESQL();
  pg_server pg;
  const std::string alpha = pg.create_database("alpha");
  const std::string beta = pg.create_database("beta");
  EXPECT_EQ(alpha, pg.url("alpha"));
  psql_result r = over_tcp(alpha, "CREATE TABLE t (v int); SELECT current_database()");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "alpha");
  r = over_tcp(beta, "SELECT current_database(), to_regclass('t') IS NULL");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "beta|t");

  // A name that would need quoting is refused with the rule, before reaching the server.
  try {
    pg.create_database("Gamma");
    ADD_FAILURE() << "create_database(\"Gamma\") did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("[a-z_][a-z0-9_]*"), std::string::npos) << e.what();
  }
  // An SQL error throws with PostgreSQL's message.
  try {
    pg.psql("alpha", "SELECT * FROM missing");
    ADD_FAILURE() << "a failing statement did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("relation \"missing\" does not exist"), std::string::npos)
        << e.what();
  }
}

TEST(PgServer, LeavesNothingRunningNorOnDisk) {
  QOEWATCH_REQUIRE_POSTGRESQL();
  fs::path dir;
  std::string port;
  std::string pid;
  {
    pg_server pg;
    pg.pause();  // the destructor must not hang on a frozen server
    dir = pg.dir();
    port = pg.port();
    pid = postmaster_pid(dir);
    ASSERT_TRUE(running(pid)) << pid;
  }
  EXPECT_FALSE(fs::exists(dir)) << dir;
  EXPECT_FALSE(running(pid)) << pid;
  const psql_result r =
      over_tcp("postgresql://postgres:x@127.0.0.1:" + port + "/postgres", "SELECT 1");
  EXPECT_NE(r.err.find("Connection refused"), std::string::npos) << r.err;
}

TEST(PgServer, StopsAndIsRemovedWhenItsOwnerDies) {
  QOEWATCH_REQUIRE_POSTGRESQL();
  // The owner stands for a test binary killed by a CTest timeout: no destructor runs.
  child_process owner("/bin/sleep", {"600"});
  // The directory itself, not a folder in it: init hands it to postgres, a parent of mode 700
  // would keep postgres out.
  const qoewatch::test::temp_dir scratch;
  const fs::path dir = scratch.path;
  const qoewatch::test::reserved_port port;
  qoewatch::test::run_pg_server({"init", dir.string(), port.port(), std::to_string(owner.pid())});
  qoewatch::test::run_pg_server({"start", dir.string()});
  const std::string pid = postmaster_pid(dir);
  ASSERT_TRUE(running(pid)) << pid;

  owner.signal(SIGKILL);
  EXPECT_EQ(owner.wait(5s), 128 + SIGKILL);
  // The watcher looks once a second, then stops the server at once.
  EXPECT_TRUE(eventually([&] { return !fs::exists(dir); }, 30s)) << dir << " still exists";
  EXPECT_TRUE(eventually([&] { return !running(pid); }, 10s)) << "postmaster " << pid;
}

TEST(PgServer, MissingBinariesAreNamedWithTheFix) {
  // No server needed: what a machine without PostgreSQL says.
  try {
    qoewatch::test::run_pg_server({"check"}, {{"QOEWATCH_PG_BINDIR", "/nonexistent/bin"}});
    ADD_FAILURE() << "check passed without binaries";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("initdb not found in /nonexistent/bin; run scripts/install-deps"),
              std::string::npos)
        << what;
  }
}

}  // namespace
