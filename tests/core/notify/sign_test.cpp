// Signatures any Standard Webhooks library accepts, and the secrets they are made with.
#include "notify/sign.hpp"

#include <gtest/gtest.h>

using namespace qoewatch;

TEST(Signing, MatchesTheStandardWebhooksExample) {
  // The example of the Standard Webhooks specification.
  std::optional<std::string> key = notify::signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  ASSERT_TRUE(key);
  EXPECT_EQ(notify::signature(*key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                              R"({"test": 2432232314})"),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

TEST(Signing, AnyChangeChangesTheSignature) {
  std::string key = "secret";
  std::string s = notify::signature(key, "msg_1", 100, "{}");
  EXPECT_NE(notify::signature(key, "msg_2", 100, "{}"), s);
  EXPECT_NE(notify::signature(key, "msg_1", 101, "{}"), s);
  EXPECT_NE(notify::signature(key, "msg_1", 100, "{ }"), s);
  EXPECT_NE(notify::signature("secreT", "msg_1", 100, "{}"), s);
}

TEST(Signing, SecretsInEitherForm) {
  EXPECT_EQ(notify::signing_key("plain-text-secret"), "plain-text-secret");
  EXPECT_EQ(notify::signing_key("whsec_aGVsbG8="), "hello");
  EXPECT_FALSE(notify::signing_key("whsec_not base64!"));
  EXPECT_FALSE(notify::signing_key("whsec_"));
  EXPECT_FALSE(notify::signing_key(""));
}

TEST(Signing, Base64RoundTripsAndRejectsJunk) {
  for (const std::string& s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)})
    EXPECT_EQ(notify::base64_decode(notify::base64_encode(s)), s);
  EXPECT_EQ(notify::base64_encode("hello"), "aGVsbG8=");
  EXPECT_FALSE(notify::base64_decode("aGVsbG8"));   // not padded
  EXPECT_FALSE(notify::base64_decode("aGV=bG8="));  // padding inside
  EXPECT_FALSE(notify::base64_decode("aGVs*G8="));
}
