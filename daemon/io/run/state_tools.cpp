#include "run/state_tools.hpp"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <system_error>
#include <vector>

#include "duration.hpp"
#include "state/pg_store.hpp"
#include "state/sqlite_store.hpp"

namespace qoewatch::run {

namespace {

bool postgresql(const config::daemon_config& cfg) {
  return cfg.state.backend == config::state_backend::postgresql;
}

// Who this process is to the PostgreSQL store (it takes no lease, so it is written nowhere):
// what it does and its pid.
std::string tool_owner(const char* what) {
  return std::string(what) + "/" + std::to_string(::getpid());
}

// The database file --migrate-state names: the file itself, or the state_dir holding it.
std::string sqlite_file(const std::string& from) {
  std::error_code ec;
  if (std::filesystem::is_directory(from, ec))
    return (std::filesystem::path(from) / "qoewatch.db").string();
  return from;
}

int failed(const std::string& message) {
  std::fprintf(stderr, "qoewatchd: %s\n", message.c_str());
  return 1;
}

}  // namespace

int list_dead_letters(const config::daemon_config& cfg, const config::secrets& secrets) {
  try {
    std::unique_ptr<state::store> store;
    if (postgresql(cfg))
      store = state::pg_store::open(secrets.state_url, tool_owner("dead-letters"));
    else
      store = state::sqlite_store::open_read_only(cfg.state_dir);
    std::vector<state::dead_letter> letters = store->dead_letters();
    for (const state::dead_letter& l : letters) {
      std::printf(
          "%s sink=%s rule=%s written=%s given_up=%s attempts=%d\n  reason: %s\n  body: %s\n",
          l.id.c_str(), l.sink.c_str(), l.rule.c_str(), utc_rfc3339(l.created_at).c_str(),
          utc_rfc3339(l.dead_at).c_str(), l.attempts, l.reason.c_str(), l.body.c_str());
    }
    std::printf("%zu dead letter(s) in %s\n", letters.size(), store->describe().c_str());
    return 0;
  } catch (const state::store_error& e) {
    return failed(e.what());
  }
}

int migrate_state(const config::daemon_config& cfg, const config::secrets& secrets,
                  const std::string& from) {
  if (!postgresql(cfg)) {
    return failed("--migrate-state copies the state into PostgreSQL, and " + cfg.file +
                  " keeps it in SQLite: give the config the replicas will run (state.backend: "
                  "postgresql, with state.url_file)");
  }
  try {
    // Held until the copy is written: no qoewatchd starts on the file and moves on from what
    // was read.
    const std::unique_ptr<state::sqlite_store> source =
        state::sqlite_store::open_exclusive(sqlite_file(from));
    const state::snapshot s = source->everything();
    const std::unique_ptr<state::pg_store> target =
        state::pg_store::open(secrets.state_url, tool_owner("migrate"));
    target->import(s);
    std::printf("copied the state in %s into %s:\n", source->describe().c_str(),
                target->describe().c_str());
    const std::pair<const char*, std::size_t> counts[] = {
        {"checkpoints", s.checkpoints.size()}, {"notified", s.notified.size()},
        {"incidents", s.incidents.size()},     {"group_incidents", s.group_incidents.size()},
        {"outbox", s.outbox.size()},           {"dead_letters", s.dead_letters.size()},
        {"silences", s.silences.size()},
    };
    for (const auto& [table, n] : counts) std::printf("  %-16s %zu\n", table, n);
    std::printf("start the replicas on %s; the single node must not run again\n", cfg.file.c_str());
    return 0;
  } catch (const state::store_error& e) {
    return failed(e.what());
  }
}

}  // namespace qoewatch::run
