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
