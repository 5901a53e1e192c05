// pg_store's schema and its migrations.
#include <array>
#include <map>
#include <string_view>

#include "state/pg_store_impl.hpp"
#include "text/join.hpp"

namespace qoewatch::state::pg {

namespace {

// One schema migration: the SQL that takes the database from version `to - 1` to `to`. They
// run in order inside one transaction; to add v2, append {2, "ALTER TABLE ..."}: never edit a
// released step. The numbering is PostgreSQL's own (SQLite's schema is at v4).
struct migration {
  int to;
  const char* sql;
};

// Text keys compare byte by byte (COLLATE "C"), as in SQLite: reads come back in the same
// order whatever the database's locale. Times are as SQLite has them (epoch seconds, a double
// where fractions matter), except the lease tables': the database's clock in milliseconds.
constexpr std::array migrations{
    migration{1, R"sql(
CREATE TABLE qoewatch_meta(
  key text COLLATE "C" PRIMARY KEY,
  value text NOT NULL
);
CREATE TABLE checkpoints(
  rule text COLLATE "C" PRIMARY KEY,
  window_end bigint NOT NULL
);
CREATE TABLE notified(
  rule text COLLATE "C" NOT NULL,
  sessionid text COLLATE "C" NOT NULL,
  ended_at bigint NOT NULL,
  PRIMARY KEY(rule, sessionid)
);
CREATE INDEX notified_ended_at ON notified(ended_at);
CREATE TABLE incidents(
  rule text COLLATE "C" PRIMARY KEY,
  key text NOT NULL,
  started_at double precision NOT NULL,
  polls_below integer NOT NULL,
  sinks text NOT NULL DEFAULT ''
);
CREATE TABLE group_incidents(
  rule text COLLATE "C" NOT NULL,
  grp text COLLATE "C" NOT NULL,
  key text NOT NULL,
  started_at double precision NOT NULL,
  polls_below integer NOT NULL,
  sinks text NOT NULL,
  PRIMARY KEY(rule, grp)
);
CREATE TABLE outbox(
  seq bigserial PRIMARY KEY,
  id text COLLATE "C" NOT NULL UNIQUE,
  sink text NOT NULL,
  rule text NOT NULL,
  body bytea NOT NULL,
  created_at double precision NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  last_error text NOT NULL DEFAULT '',
  sink_type text NOT NULL DEFAULT '',
  claimed_by text,
  claim_epoch bigint
);
CREATE INDEX outbox_by_sink ON outbox(sink, seq);
CREATE TABLE dead_letters(
  seq bigserial PRIMARY KEY,
  id text NOT NULL,
  sink text NOT NULL,
  rule text NOT NULL,
  body bytea NOT NULL,
  created_at double precision NOT NULL,
  dead_at double precision NOT NULL,
  attempts integer NOT NULL,
  reason text NOT NULL
);
CREATE TABLE leases(
  kind text COLLATE "C" NOT NULL,
  name text COLLATE "C" NOT NULL,
  owner text NOT NULL DEFAULT '',
  epoch bigint NOT NULL DEFAULT 0,
  expires_at bigint NOT NULL,
  declined_by text NOT NULL DEFAULT '',
  declined_wants text NOT NULL DEFAULT '',
  PRIMARY KEY(kind, name)
);
CREATE TABLE replicas(
  owner text COLLATE "C" PRIMARY KEY,
  since bigint NOT NULL,
  heartbeat_at bigint NOT NULL,
  wants text NOT NULL DEFAULT ''
);
)sql"},
    // The silences of the Alertmanager API (silence/silence.hpp), shared by the replicas:
    // times in milliseconds since the epoch, the matchers as the API writes them (JSON).
    migration{2, R"sql(
CREATE TABLE silences(
  id text COLLATE "C" PRIMARY KEY,
  matchers text NOT NULL,
  starts_at bigint NOT NULL,
  ends_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  created_by text NOT NULL,
  comment text NOT NULL
);
)sql"},
};

constexpr int latest = migrations.back().to;

// Held for the migration's transaction by every qoewatchd opening the database: 'qoew', as
// SQLite's application_id.
constexpr std::int64_t migration_lock = 0x716F6577;

constexpr std::string_view application = "qoewatch";

// Every table some version of the schema has: finding one without qoewatch_meta means the
// database holds someone else's tables (or a damaged qoewatch state), which we never touch.
const std::vector<std::string> our_tables = {
    "qoewatch_meta", "checkpoints",  "notified", "incidents", "group_incidents",
    "outbox",        "dead_letters", "leases",   "replicas",  "silences"};

// The schema version the database holds: 0 when it holds none of our tables; throws when it
// is not ours or is newer than this build.
int version_of(connection& c) {
  const result tables = c.exec(
      "SELECT c.relname FROM pg_catalog.pg_class c "
      "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
      "WHERE n.nspname = current_schema() AND c.relname = ANY($1) ORDER BY c.relname",
      params().text_array(our_tables), "cannot read the schema");
  std::vector<std::string> found;
  bool has_meta = false;
  for (int i = 0; i < tables.rows(); ++i) {
    found.push_back(tables.text(i, 0));
    has_meta = has_meta || found.back() == "qoewatch_meta";
  }
  const std::string not_ours = c.describe() + ": not a qoewatch state database";
  if (!has_meta) {
    if (found.empty()) return 0;
    throw store_refused(not_ours + " (it has tables named like qoewatch's, " +
                      text::join(found, ", ") + ", but no qoewatch_meta)");
  }
  const result rows = c.exec("SELECT key, value FROM qoewatch_meta", "cannot read qoewatch_meta");
  std::map<std::string, std::string> meta;
  for (int i = 0; i < rows.rows(); ++i) meta[rows.text(i, 0)] = rows.text(i, 1);
  if (auto app = meta.find("application"); app == meta.end() || app->second != application) {
    throw store_refused(not_ours + " (qoewatch_meta says application \"" +
                      (app == meta.end() ? std::string() : app->second) + "\")");
  }
  int version = 0;
  const std::string& text = meta["schema_version"];
  try {
    std::size_t used = 0;
    version = std::stoi(text, &used);
    if (used != text.size() || version < 1) throw std::invalid_argument(text);
  } catch (const std::logic_error&) {
    throw store_refused(not_ours + " (qoewatch_meta says schema_version \"" + text + "\")");
  }
  if (version > latest) {
    throw store_refused(c.describe() + ": written by a newer qoewatchd (schema v" +
                      std::to_string(version) + ", this build reads up to v" +
                      std::to_string(latest) + ")");
  }
  return version;
}

}  // namespace

int current_version() {
  return latest;
}

void migrate(connection& c) {
  transaction tx(c);
  // Replicas starting together wait here for the first one's migration, then find the
  // schema current: the version is read under the lock.
  c.exec("SELECT pg_advisory_xact_lock($1)", params().int64(migration_lock),
         "cannot lock the schema for migration");
  const int version = version_of(c);
  if (version == latest) {
    tx.commit();
    return;
  }
  for (const migration& m : migrations) {
    if (m.to <= version) continue;
    c.exec_script(m.sql, "cannot migrate to schema v" + std::to_string(m.to));
  }
  c.exec(
      "INSERT INTO qoewatch_meta(key, value) VALUES('application', $1), ('schema_version', $2) "
      "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      params().text(application).text(std::to_string(latest)), "cannot write qoewatch_meta");
  tx.commit();
}

}  // namespace qoewatch::state::pg
