// What qoewatch writes down (logs, last errors, dead letters) never holds a secret.
#include "redact.hpp"

#include <gtest/gtest.h>


using qoewatch::redact;

TEST(Redact, EveryOccurrenceOfEverySecretIsReplaced) {
  EXPECT_EQ(redact(R"({"X-API-Key":"k3y-abcdef","again":"k3y-abcdef"})", {"k3y-abcdef"}),
            R"({"X-API-Key":"[redacted]","again":"[redacted]"})");
  EXPECT_EQ(redact("token=AAAAAAAA routing=BBBBBBBB", {"AAAAAAAA", "BBBBBBBB"}),
            "token=[redacted] routing=[redacted]");
  EXPECT_EQ(redact("nothing secret here", {"AAAAAAAA"}), "nothing secret here");
}

TEST(Redact, ALongerSecretGoesWholeEvenWhenAShorterOneIsInsideIt) {
  // A Slack URL and its path are both secrets: the URL must not leave its host behind
  // around a redacted path.
  const std::string url = "https://hooks.slack.com/services/T0/B0/XYZXYZ";
  EXPECT_EQ(redact("POST " + url + " failed", {"/services/T0/B0/XYZXYZ", url}),
            "POST [redacted] failed");
}

TEST(Redact, ShortOrEmptySecretsAreLeftAlone) {
  // An empty header value, or "1", must not blank out the whole text.
  EXPECT_EQ(redact("HTTP 400 (bad request)", {"", "1", "400", "bad"}), "HTTP 400 (bad request)");
  EXPECT_EQ(redact("abcdef and abcde", {"abcdef", "abcde"}), "[redacted] and abcde");
}

TEST(Redact, OverlappingAndAdjacentOccurrences) {
  EXPECT_EQ(redact("secretsecret", {"secret"}), "[redacted][redacted]");
  EXPECT_EQ(redact("aaaaaaaaaaaa", {"aaaaaa"}), "[redacted][redacted]");
}

TEST(RedactUrl, APostgresqlUriKeepsWhereItConnectsAndLosesItsPassword) {
  struct row {
    const char* url;
    const char* shown;
  };
  const row rows[] = {
      {"postgresql://qoewatch:hunter2@db.example:5432/qoewatch",
       "postgresql://qoewatch@db.example:5432/qoewatch"},
      {"postgres://qoewatch:hunter2@db/q", "postgres://qoewatch@db/q"},
      // No password: nothing to take out.
      {"postgresql://qoewatch@db/q", "postgresql://qoewatch@db/q"},
      {"postgresql://db.example/q?sslmode=require", "postgresql://db.example/q?sslmode=require"},
      {"postgresql://", "postgresql://"},
      // A password and no user name.
      {"postgresql://:hunter2@db/q", "postgresql://db/q"},
      // Percent-encoded characters in the password (an '@' and a '/') go with it.
      {"postgresql://app:hun%40ter%2F2@db/q", "postgresql://app@db/q"},
      // Characters libpq takes raw inside a password: ':', '?', '#', and an '@' (libpq would
      // end the password at it; the rest must not be shown as a host).
      {"postgresql://app:hu:n?t#er@2@db/q", "postgresql://app@db/q"},
      // Passwords in the query, wherever they are; percent-encoded parameter names too.
      {"postgresql://db/q?password=hunter2", "postgresql://db/q"},
      {"postgresql://app@db/q?sslmode=require&password=hunter2&application_name=qw",
       "postgresql://app@db/q?sslmode=require&application_name=qw"},
      {"postgresql://db/q?pass%77ord=hunter2&sslpassword=hunter2", "postgresql://db/q"},
      {"postgresql://db?password", "postgresql://db"},
      // A parameter name that cannot be decoded might be "password": it goes.
      {"postgresql://db/q?pa%zzword=hunter2&port=5433", "postgresql://db/q?port=5433"},
      // A raw '/' in the password: libpq would read it otherwise, so nothing is shown.
      {"postgresql://u:pa/ss@h/db", "[redacted]"},
      {"postgresql://u:pa/ss@h/db?sslmode=require", "[redacted]"},
      // Several hosts, as libpq allows.
      {"postgresql://app:hunter2@h1:5432,h2:5433/q?target_session_attrs=read-write",
       "postgresql://app@h1:5432,h2:5433/q?target_session_attrs=read-write"},
  };
  for (const row& r : rows) {
    EXPECT_EQ(qoewatch::redact_url(r.url), r.shown) << r.url;
  }
}

TEST(RedactUrl, KeywordSettingsLoseTheirPasswordSettings) {
  struct row {
    const char* url;
    const char* shown;
  };
  const row rows[] = {
      {"host=db port=5432 dbname=q user=app password=hunter2",
       "host=db port=5432 dbname=q user=app"},
      {"password=hunter2 host=db", "host=db"},
      {"host=db password = hunter2 sslmode=require", "host=db sslmode=require"},
      // Quoted, with spaces and escaped quotes inside.
      {"host=db password='hun ter\\' 2' user=app", "host=db user=app"},
      {"host=db\tsslpassword=hunter2\nuser=app", "host=db user=app"},
      {"host=db user='app two'", "host=db user='app two'"},
      {"host=db", "host=db"},
      {"", ""},
      // Not libpq's syntax: the password may be anywhere, so nothing is shown.
      {"host=db password='hunter2", "[redacted]"},
      {"hunter2", "[redacted]"},
      {"host=db hunter2", "[redacted]"},
      {"=hunter2", "[redacted]"},
      // A URL that is not a libpq URI: its "keyword" would be most of it.
      {"jdbc:postgresql://db/q?user=app&password=hunter2", "[redacted]"},
      // libpq's URI prefixes are case-sensitive: this is not a URI, nor settings.
      {"POSTGRESQL://app:hunter2@db/q", "[redacted]"},
  };
  for (const row& r : rows) {
    EXPECT_EQ(qoewatch::redact_url(r.url), r.shown) << r.url;
  }
}
