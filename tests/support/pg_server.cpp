#include "support/pg_server.hpp"

#include <unistd.h>

#include <gtest/gtest.h>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <stdexcept>

namespace qoewatch::test {

namespace {

using namespace std::chrono_literals;

// pg_ctl waits up to 60 s for a start or a stop; the rest is margin for a loaded machine.
constexpr auto script_timeout = 120s;

}  // namespace

std::string run_pg_server(const std::vector<std::string>& args,
                          const std::map<std::string, std::string>& env) {
  std::map<std::string, std::string> full_env = env;
  if (const char* bin = std::getenv("QOEWATCH_PG_BINDIR");
      bin && !full_env.count("QOEWATCH_PG_BINDIR"))
    full_env["QOEWATCH_PG_BINDIR"] = bin;
  child_process script(PG_SERVER_SCRIPT, args, std::move(full_env));
  const auto deadline = std::chrono::steady_clock::now() + script_timeout;
  const auto left = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                 std::chrono::steady_clock::now());
  };
  std::string out;
  // Until end of output: the script's stdout closes when it exits (the server and the watcher
  // write elsewhere), or the deadline passes and wait() below says so.
  while (std::optional<std::string> line = script.read_line(left())) {
    out += (out.empty() ? "" : "\n") + *line;
  }
  const int code = script.wait(std::max(left(), std::chrono::milliseconds(0)));
  if (code != 0) {
    std::string what = "tests/support/pg-server";
    for (const std::string& a : args) what += " " + a;
    what += code < 0 ? ": no exit within two minutes" : ": exit code " + std::to_string(code);
    throw std::runtime_error(what + "\n" + script.log());
  }
  return out;
}

pg_server::pg_server() {
  // Our pid: the script's watcher stops the server if this process dies without ~pg_server.
  run_pg_server({"init", dir_.path.string(), port_.port(), std::to_string(::getpid())});
  try {
    run_pg_server({"start", dir_.path.string()});
  } catch (...) {
    // A start that timed out may still come up later: no destructor runs for us.
    try {
      run_pg_server({"stop", dir_.path.string(), "immediate"});
    } catch (...) {
      // The postmaster also shuts itself down within a minute once its directory is gone.
    }
    throw;
  }
}

pg_server::~pg_server() {
  try {
    run_pg_server({"stop", dir_.path.string(), "immediate"});
  } catch (const std::exception& e) {
    ADD_FAILURE() << "the test's PostgreSQL server did not stop: " << e.what();
  }
}

std::string pg_server::url(const std::string& db) const {
  return run_pg_server({"url", dir_.path.string(), db});
}

std::string pg_server::create_database(const std::string& name) {
  run_pg_server({"createdb", dir_.path.string(), name});
  return url(name);
}

std::string pg_server::psql(const std::string& db, const std::string& sql) const {
  return run_pg_server({"psql", dir_.path.string(), db, "-c", sql});
}

void pg_server::stop() {
  run_pg_server({"stop", dir_.path.string()});
}

void pg_server::start() {
  run_pg_server({"start", dir_.path.string()});
}

void pg_server::restart() {
  run_pg_server({"restart", dir_.path.string()});
}

void pg_server::pause() {
  run_pg_server({"pause", dir_.path.string()});
}

void pg_server::resume() {
  run_pg_server({"resume", dir_.path.string()});
}

const std::string& pg_server::unavailable() {
  static const std::string why = [] {
    try {
      run_pg_server({"check"});
      return std::string();
    } catch (const std::runtime_error& e) {
      // The script's own words ("pg-server: initdb not found ...; run scripts/install-deps"),
      // without the command line above them.
      std::string text = e.what();
      text.erase(0, text.find('\n') + 1);
      while (!text.empty() && text.back() == '\n') text.pop_back();
      return text;
    }
  }();
  return why;
}

std::string pg_server::bin_dir() {
  return run_pg_server({"bindir"});
}

bool postgresql_required() {
  const char* ci = std::getenv("CI");
  if (ci == nullptr) return false;
  const std::string value = ci;
  return !value.empty() && value != "0" && value != "false";
}

}  // namespace qoewatch::test
