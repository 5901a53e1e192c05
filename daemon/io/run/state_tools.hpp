// The state database from the command line, for an operator: --dead-letters lists the
// notifications given up on, --migrate-state copies a stopped single node's SQLite state into
// the PostgreSQL database that replicas share. Each prints its report on stdout and a failure
// on stderr ("qoewatchd: " and the store's message), and returns the process's exit code. A
// PostgreSQL database is only ever named by its URL without the password. Blocking; no Asio;
// call from main's thread.
#pragma once

#include <string>

#include "config/config.hpp"
#include "config/secrets.hpp"

namespace qoewatch::run {

/// --dead-letters: prints the config's dead letters, oldest first, one block each, then
/// "N dead letter(s) in <where>". SQLite: the database in cfg.state_dir, opened read-only (no
/// secret needed; it may run next to the daemon). PostgreSQL: secrets.state_url, opened as
/// replicas open it (creating the schema in an empty database). Returns 0, or 1 when the state
/// cannot be read.
int list_dead_letters(const config::daemon_config& cfg, const config::secrets& secrets);

/// --migrate-state: copies the SQLite state at `from` (a qoewatch.db, or the state_dir holding
/// one) into the config's PostgreSQL database (secrets.state_url), so that replicas go on
/// where the single node stopped: checkpoints, notified pairs, incidents and firing groups
/// (their keys and started_at), the outbox (its order, webhook-ids, attempts and last errors),
/// the dead letters and the silences (expired ones too). The file is held exclusively for the
/// whole copy and left as it was; the database is written in one transaction. Prints where
/// from and where to, then the rows copied per table, and returns 0. Returns 1, with nothing
/// written, when cfg's state backend is not postgresql, when the file is absent, not a
/// qoewatch state or still open in another process (a running qoewatchd), when the database
/// cannot be reached or already holds qoewatch state, or when a write fails.
int migrate_state(const config::daemon_config& cfg, const config::secrets& secrets,
                  const std::string& from);

}  // namespace qoewatch::run
