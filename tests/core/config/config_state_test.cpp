// The state: section's contract: SQLite by default; PostgreSQL with a connection string read
// from url_file like the other secrets; leases; the exact error texts; that the connection
// string never shows in any of them; what a reload and --check-config say about it.
#include <gtest/gtest.h>

#include <chrono>

#include "cli/options.hpp"
#include "config/load.hpp"
#include "config/reload_plan.hpp"
#include "config/secrets.hpp"
#include "config_fixtures.hpp"

using namespace qoewatch;
using namespace qoewatch::testing_config;
using namespace std::chrono_literals;
using names = std::vector<std::string>;

namespace {

// The minimal config (6 lines) followed by `more`, which starts on line 7.
std::string with(const std::string& more) {
  return std::string(minimal) + more;
}

const std::string pg = "state:\n  backend: postgresql\n  url_file: /etc/q/pg_url\n";

}  // namespace

TEST(ConfigState, WithoutTheSectionTheStateIsSqliteInStateDir) {
  config::load_result r = config::load_from_string(minimal, "c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  const config::state_config& s = r.config->state;
  EXPECT_EQ(s.backend, config::state_backend::sqlite);
  EXPECT_EQ(s.url_file, "");
  EXPECT_EQ(s.lease_ttl, 15s);
  EXPECT_EQ(s.lease_renew, 5s);
  EXPECT_EQ(r.config->state_dir, "/var/lib/qoewatch");
  EXPECT_EQ(config::describe_state(*r.config), "SQLite at /var/lib/qoewatch");
  EXPECT_EQ(config::to_string(config::state_backend::sqlite), "sqlite");
  EXPECT_EQ(config::to_string(config::state_backend::postgresql), "postgresql");
  // Outside the enum (a cast gone wrong): the default's name.
  EXPECT_EQ(config::to_string(static_cast<config::state_backend>(7)), "sqlite");

  // Written out, the same; state_dir still applies.
  r = config::load_from_string(with("state_dir: /srv/q\nstate: {backend: sqlite}\n"),
                               "/etc/q/c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  EXPECT_EQ(r.config->state.backend, config::state_backend::sqlite);
  EXPECT_EQ(config::describe_state(*r.config), "SQLite at /srv/q");
}

TEST(ConfigState, PostgresqlTakesItsUrlFileAndLeases) {
  config::load_result r = config::load_from_string(
      with("state:\n  backend: postgresql\n  url_file: secrets/pg_url\n  lease_ttl: 30s\n"
           "  lease_renew: 10s\n"),
      "/etc/q/c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  const config::state_config& s = r.config->state;
  EXPECT_EQ(s.backend, config::state_backend::postgresql);
  EXPECT_EQ(s.url_file, "/etc/q/secrets/pg_url");  // relative to the config's folder
  EXPECT_EQ(s.lease_ttl, 30s);
  EXPECT_EQ(s.lease_renew, 10s);
  EXPECT_EQ(s.where, (config::source_location{"/etc/q/c.yaml", 9, 13}));  // url_file's value
  EXPECT_EQ(r.config->state_dir, "/var/lib/qoewatch");                    // the default, unused
  EXPECT_EQ(config::describe_state(*r.config),
            "PostgreSQL (URL from /etc/q/secrets/pg_url; leases of 30s renewed every 10s)");

  // Defaults; a credential path is kept as written; renewing at exactly half the TTL is fine.
  r = config::load_from_string(
      with("state: {backend: postgresql, url_file: $CREDENTIALS_DIRECTORY/pg_url}\n"), "c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  EXPECT_EQ(r.config->state.url_file, "$CREDENTIALS_DIRECTORY/pg_url");
  EXPECT_EQ(r.config->state.lease_ttl, 15s);
  EXPECT_EQ(r.config->state.lease_renew, 5s);
  r = config::load_from_string(with(pg + "  lease_ttl: 1s\n  lease_renew: 500ms\n"), "c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  EXPECT_EQ(r.config->state.lease_ttl, 1s);
  EXPECT_EQ(r.config->state.lease_renew, 500ms);
  r = config::load_from_string(with(pg + "  lease_ttl: 15s\n  lease_renew: 7500ms\n"), "c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  EXPECT_EQ(r.config->state.lease_renew, 7500ms);
}

TEST(ConfigState, ErrorTextsArePinned) {
  struct row {
    std::string yaml;  // after the minimal config, from line 7
    names errors;
  };
  const row rows[] = {
      // The backend.
      {"state: {backend: postgres, url_file: /u}\n",
       {"c.yaml:7:18: state.backend: unknown state backend \"postgres\" (did you mean "
        "\"postgresql\"? supported: sqlite, postgresql)"}},
      {"state: {backend: mysql}\n",
       {"c.yaml:7:18: state.backend: unknown state backend \"mysql\" (supported: sqlite, "
        "postgresql)"}},
      {"state: {backend: [postgresql]}\n", {"c.yaml:7:18: state.backend: must be a string"}},
      {"state: postgresql\n",
       {"c.yaml:7:8: state: must be a mapping (backend: sqlite or postgresql, url_file, "
        "lease_ttl, lease_renew, silence_retention)"}},
      {"state:\n  backend: postgresql\n  lease_tll: 20s\n  url_file: /u\n",
       {"c.yaml:9:3: state.lease_tll: unknown key (did you mean \"lease_ttl\"?)"}},
      // PostgreSQL needs its url_file; SQLite takes neither it nor leases.
      {"state:\n  backend: postgresql\n",
       {"c.yaml:8:3: state.url_file: missing (required with backend postgresql: a file holding "
        "the libpq connection URL, e.g. $CREDENTIALS_DIRECTORY/pg_url)"}},
      {"state:\n  url_file: /u\n",
       {"c.yaml:8:13: state.url_file: not used with backend sqlite, which keeps the state in "
        "state_dir (write backend: postgresql to keep it in PostgreSQL, or remove url_file)"}},
      {"state: {backend: sqlite, lease_ttl: 30s, lease_renew: 10s}\n",
       {"c.yaml:7:37: state.lease_ttl: not used with backend sqlite: leases share rules between "
        "replicas on PostgreSQL (write backend: postgresql, or remove lease_ttl)",
        "c.yaml:7:55: state.lease_renew: not used with backend sqlite: leases share rules "
        "between replicas on PostgreSQL (write backend: postgresql, or remove lease_renew)"}},
      {"state_dir: /srv/q\n" + pg,
       {"c.yaml:7:12: state_dir: not used with state.backend postgresql, which keeps the state "
        "in the database (remove state_dir, or write backend: sqlite)"}},
      // Leases.
      {pg + "  lease_ttl: 500ms\n",
       {"c.yaml:10:14: state.lease_ttl: 500ms is too short (write at least 1s: a lease must "
        "outlast a few round trips to the database)"}},
      {pg + "  lease_renew: 50ms\n",
       {"c.yaml:10:16: state.lease_renew: 50ms is too short (write at least 100ms: each renewal "
        "is a round trip to the database)"}},
      {pg + "  lease_renew: 0s\n", {"c.yaml:10:16: state.lease_renew: must be longer than 0s"}},
      {pg + "  lease_ttl: soon\n",
       {"c.yaml:10:14: state.lease_ttl: \"soon\" is not a duration (use 30s, 5m, 1h)"}},
      {pg + "  lease_ttl: 15s\n  lease_renew: 8s\n",
       {"c.yaml:11:16: state.lease_renew: 8s is more than half of lease_ttl 15s (write at most "
        "7s500ms, so that one lost renewal does not lose the lease)"}},
      {pg + "  lease_renew: 10s\n",
       {"c.yaml:10:16: state.lease_renew: 10s is more than half of lease_ttl 15s (write at most "
        "7s500ms, so that one lost renewal does not lose the lease)"}},
      {pg + "  lease_ttl: 8s\n",
       {"c.yaml:10:14: state.lease_ttl: 8s is less than twice lease_renew 5s, the default "
        "(write lease_ttl: 10s or more, or lease_renew: 4s or less, so that one lost renewal "
        "does not lose the lease)"}},
      // The connection string belongs in url_file, and is not repeated.
      {"state:\n  backend: postgresql\n  url: postgresql://app:hunter2@db/q\n  url_file: /u\n",
       {"c.yaml:9:3: state.url: the connection URL does not belong in the config file (it holds "
        "the database password; put it in a file named by url_file)"}},
      {"state: {backend: postgresql, url_file: /u, password: hunter2}\n",
       {"c.yaml:7:44: state.password: a password does not belong in the config file (put the "
        "whole connection URL, password included, in a file named by url_file)"}},
      {"stat: {backend: postgresql}\n",
       {"c.yaml:7:1: stat: unknown key (did you mean \"state\"?)"}},
  };
  for (const row& r : rows) {
    EXPECT_EQ(errors_of(with(r.yaml)), r.errors) << r.yaml;
  }
  for (const row& r : rows) {
    for (const std::string& e : r.errors) {
      EXPECT_EQ(e.find("hunter2"), std::string::npos) << e;
    }
  }
}

namespace {

// The secrets of a postgresql config whose url_file holds `url`, from a made-up file system;
// the errors' texts in `errors`.
config::secrets read_url(const std::string& url, names& errors) {
  config::load_result r = config::load_from_string(
      "smartsight: {customer_id: 1, api_key_env: K}\n"
      "state: {backend: postgresql, url_file: $CREDENTIALS_DIRECTORY/pg_url}\n"
      "rules: [{name: r, qoefilter: latency > 5}]\n",
      "/etc/q/c.yaml");
  if (!r.config) {
    ADD_FAILURE() << testing::PrintToString(texts(r));
    return {};
  }
  config::secret_source source;
  source.env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "CREDENTIALS_DIRECTORY") return "/run/creds";
    if (name == "K") return "k3y";
    return std::nullopt;
  };
  source.file = [url](const std::string& path, std::string& error) -> std::optional<std::string> {
    if (path == "/run/creds/pg_url") return url;
    error = "No such file or directory";
    return std::nullopt;
  };
  std::vector<config::diagnostic> found;
  config::secrets s = config::read_secrets(*r.config, found, source);
  errors.clear();
  for (const config::diagnostic& d : found) errors.push_back(d.to_string());
  return s;
}

}  // namespace

TEST(ConfigState, TheConnectionStringIsReadLikeTheOtherSecrets) {
  struct row {
    std::string file;  // what url_file holds
    std::string url;   // what is kept
  };
  const row rows[] = {
      {"postgresql://qoewatch:hunter2@db.example:5432/qoewatch\n",
       "postgresql://qoewatch:hunter2@db.example:5432/qoewatch"},
      {"  postgres://qoewatch:hunter2@db/q?sslmode=require\r\n",
       "postgres://qoewatch:hunter2@db/q?sslmode=require"},
      {"postgresql://app:p%40ss%20w@h1,h2/q\n", "postgresql://app:p%40ss%20w@h1,h2/q"},
      {"host=db port=5432 dbname=q user=app password='hunter 2'\n",
       "host=db port=5432 dbname=q user=app password='hunter 2'"},
      {"host=db\tpassword=hunter2", "host=db\tpassword=hunter2"},
      // UTF-8 in a password is text, not a control character.
      {"postgresql://app:h\xC3\xBCnter2@db/q", "postgresql://app:h\xC3\xBCnter2@db/q"},
  };
  for (const row& r : rows) {
    names errors;
    config::secrets s = read_url(r.file, errors);
    EXPECT_EQ(errors, names{}) << r.file;
    EXPECT_EQ(s.state_url, r.url) << r.file;
  }
}

TEST(ConfigState, AnUnusableConnectionStringIsAnErrorThatNamesTheFileNotTheText) {
  const std::string at = "/etc/q/c.yaml:2:40: state.url_file: ";
  struct row {
    std::string file;
    std::string error;
  };
  const row rows[] = {
      {" \n", at + "the PostgreSQL connection string in \"/run/creds/pg_url\" is empty"},
      {"postgresql://app:hunter2@db/q\npostgresql://app:hunter2@db2/q\n",
       at + "the PostgreSQL connection string in \"/run/creds/pg_url\" holds more than one line "
            "or control characters (write it on one line)"},
      {"host=db password=hunter2\x7f",
       at + "the PostgreSQL connection string in \"/run/creds/pg_url\" holds more than one line "
            "or control characters (write it on one line)"},
      {"postgresql://app:hunter 2@db/q",
       at + "the PostgreSQL connection URI in \"/run/creds/pg_url\" contains spaces "
            "(percent-encode them as %20)"},
      {"postgresql://app:hunter@2@db/q",
       at + "the PostgreSQL connection URI in \"/run/creds/pg_url\" has more than one '@' "
            "before its path (percent-encode an '@' in the user name or password as %40)"},
      {"postgresql://app:hun/ter2@db/q",
       at + "the PostgreSQL connection URI in \"/run/creds/pg_url\" has an '@' after a '/' "
            "(percent-encode a '/' in the user name or password as %2F)"},
      {"jdbc:postgresql://db/q?user=app&password=hunter2",
       at + "the PostgreSQL connection string in \"/run/creds/pg_url\" is neither a "
            "postgresql:// URI nor keyword=value settings (write "
            "postgresql://USER@HOST:5432/DATABASE, or host=HOST dbname=DATABASE user=USER)"},
      {"host=db password='hunter2",
       at + "the PostgreSQL connection string in \"/run/creds/pg_url\" is neither a "
            "postgresql:// URI nor keyword=value settings (write "
            "postgresql://USER@HOST:5432/DATABASE, or host=HOST dbname=DATABASE user=USER)"},
      {"hunter2",
       at + "the PostgreSQL connection string in \"/run/creds/pg_url\" is neither a "
            "postgresql:// URI nor keyword=value settings (write "
            "postgresql://USER@HOST:5432/DATABASE, or host=HOST dbname=DATABASE user=USER)"},
  };
  for (const row& r : rows) {
    names errors;
    config::secrets s = read_url(r.file, errors);
    EXPECT_EQ(errors, names{r.error}) << r.file;
    EXPECT_EQ(s.state_url, "") << r.file;
    for (const std::string& e : errors) {
      EXPECT_EQ(e.find("hunter"), std::string::npos) << e;
    }
  }
}

TEST(ConfigState, AMissingUrlFileAndAnUnsetCredentialsDirectoryAreErrorsThroughTheLoader) {
  temp_dir dir;
  std::string main = dir.write("c.yaml", std::string(minimal) +
                                             "state:\n  backend: postgresql\n"
                                             "  url_file: $CREDENTIALS_DIRECTORY/pg_url\n");
  config::secrets s;
  config::load_result r = config::load_with_secrets(main, s, with_env({{"QW_TEST_KEY", "k"}}));
  EXPECT_FALSE(r.config);
  EXPECT_EQ(texts(r),
            names{main +
                  ":9:13: state.url_file: cannot read \"$CREDENTIALS_DIRECTORY/pg_url\": "
                  "CREDENTIALS_DIRECTORY is not set (systemd sets it for a service with "
                  "LoadCredential=; elsewhere set it to the folder holding the credential files)"});
  const std::string creds = (dir.path() / "creds").string();
  r = config::load_with_secrets(main, s,
                                with_env({{"QW_TEST_KEY", "k"}, {"CREDENTIALS_DIRECTORY", creds}}));
  EXPECT_FALSE(r.config);
  EXPECT_EQ(texts(r), names{main + ":9:13: state.url_file: cannot read \"" + creds +
                            "/pg_url\": No such file or directory"});
  dir.write("creds/pg_url", "postgresql://qoewatch:hunter2@db/qoewatch\n");
  r = config::load_with_secrets(main, s,
                                with_env({{"QW_TEST_KEY", "k"}, {"CREDENTIALS_DIRECTORY", creds}}));
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  EXPECT_EQ(s.state_url, "postgresql://qoewatch:hunter2@db/qoewatch");
}

TEST(ConfigState, SqliteReadsNoConnectionString) {
  config::load_result r = config::load_from_string(minimal, "c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  r.config->state.url_file = "/never/read";  // not loadable this way; must still not be read
  std::vector<std::string> asked;
  config::secret_source source = with_env({{"QW_TEST_KEY", "k"}});
  source.file = [&](const std::string& path, std::string& error) -> std::optional<std::string> {
    asked.push_back(path);
    error = "No such file or directory";
    return std::nullopt;
  };
  std::vector<config::diagnostic> errors;
  config::secrets s = config::read_secrets(*r.config, errors, source);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(asked, names{});
  EXPECT_EQ(s.state_url, "");
}

TEST(ConfigState, ChangingWhereTheStateIsWaitsForARestart) {
  auto load = [](const std::string& more) {
    config::load_result r = config::load_from_string(with(more), "c.yaml");
    for (const auto& d : r.errors) ADD_FAILURE() << d.to_string();
    return r.config ? *r.config : config::daemon_config{};
  };
  const auto sqlite = load("");
  const auto moved = load("state_dir: /srv/q\n");
  const auto postgres = load(pg);
  const auto postgres_moved_down = load("\n\n" + pg);
  const auto longer = load(pg + "  lease_ttl: 30s\n");
  const auto other_file = load("state: {backend: postgresql, url_file: /etc/q/pg2}\n");
  config::secrets url1;
  url1.state_url = "postgresql://app:hunter2@db/q";
  config::secrets url2;
  url2.state_url = "postgresql://app:hunter3@db/q";
  const std::string restart = "; it takes effect at the next restart";
  struct row {
    const config::daemon_config* before;
    const config::secrets* before_secrets;
    const config::daemon_config* after;
    const config::secrets* after_secrets;
    names warnings;
  };
  const config::secrets none;
  const row rows[] = {
      {&sqlite, &none, &moved, &none, {"state_dir changed to /srv/q" + restart}},
      {&sqlite,
       &none,
       &postgres,
       &url1,
       {"state changed to PostgreSQL (URL from /etc/q/pg_url; leases of 15s renewed every 5s)" +
        restart}},
      // From a state_dir of its own to PostgreSQL: one warning, not a second about state_dir.
      {&moved,
       &none,
       &postgres,
       &url1,
       {"state changed to PostgreSQL (URL from /etc/q/pg_url; leases of 15s renewed every 5s)" +
        restart}},
      {&postgres, &url1, &moved, &none, {"state changed to SQLite at /srv/q" + restart}},
      {&postgres,
       &url1,
       &longer,
       &url1,
       {"state changed to PostgreSQL (URL from /etc/q/pg_url; leases of 30s renewed every 5s)" +
        restart}},
      {&postgres,
       &url1,
       &other_file,
       &url1,
       {"state changed to PostgreSQL (URL from /etc/q/pg2; leases of 15s renewed every 5s)" +
        restart}},
      // The same file with another connection string in it (a reload reads secrets again).
      {&postgres,
       &url1,
       &postgres,
       &url2,
       {"the PostgreSQL connection string in /etc/q/pg_url changed" + restart}},
      // Written elsewhere in the file, the same settings: nothing to say.
      {&postgres, &url1, &postgres_moved_down, &url1, {}},
      {&sqlite, &none, &sqlite, &none, {}},
  };
  for (std::size_t i = 0; i < std::size(rows); ++i) {
    const row& r = rows[i];
    config::reload_plan plan =
        config::plan_reload(r.before, *r.before_secrets, *r.after, *r.after_secrets);
    EXPECT_EQ(plan.warnings, r.warnings) << "row " << i;
    for (const std::string& w : plan.warnings) {
      EXPECT_EQ(w.find("hunter"), std::string::npos) << w;
    }
  }
  // At the start nothing changes.
  EXPECT_EQ(config::plan_reload(nullptr, {}, postgres, url1).warnings, names{});
}

TEST(ConfigState, CheckConfigSaysWhereTheStateIsWithoutTheUrl) {
  config::load_result r = config::load_from_string(
      with("state: {backend: postgresql, url_file: $CREDENTIALS_DIRECTORY/pg_url, "
           "lease_ttl: 20s}\n"),
      "q.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  std::string report = cli::check_config_report(*r.config, std::chrono::system_clock::now());
  EXPECT_EQ(report.substr(0, report.find('\n', report.find('\n') + 1) + 1),
            "q.yaml: OK, 1 rule, 0 sinks\n"
            "state in PostgreSQL (URL from $CREDENTIALS_DIRECTORY/pg_url; leases of 20s renewed "
            "every 5s)\n");
}
