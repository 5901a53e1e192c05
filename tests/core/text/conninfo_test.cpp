// PostgreSQL connection strings as libpq reads them: which text is a URI, and how
// keyword=value settings split (quotes, escapes, spaces around '=').
#include "text/conninfo.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace qoewatch;

namespace {

// "keyword:setting as written" for each setting, or {"invalid"}.
std::vector<std::string> split(std::string_view s) {
  auto settings = text::parse_conninfo(s);
  if (!settings) return {"invalid"};
  std::vector<std::string> out;
  for (const text::conninfo_setting& c : *settings)
    out.push_back(std::string(c.keyword) + ":" + std::string(s.substr(c.begin, c.end - c.begin)));
  return out;
}

using list = std::vector<std::string>;

}  // namespace

TEST(Conninfo, UrisAreTheTwoPrefixesLibpqKnows) {
  EXPECT_TRUE(text::is_connection_uri("postgresql://db/q"));
  EXPECT_TRUE(text::is_connection_uri("postgres://db/q"));
  EXPECT_TRUE(text::is_connection_uri("postgresql://"));
  EXPECT_FALSE(text::is_connection_uri("postgresql:/db"));
  EXPECT_FALSE(text::is_connection_uri("PostgreSQL://db"));
  EXPECT_FALSE(text::is_connection_uri("jdbc:postgresql://db/q"));
  EXPECT_FALSE(text::is_connection_uri("host=db"));
}

TEST(Conninfo, SettingsSplitByLibpqsRules) {
  EXPECT_EQ(split("host=db port=5432"), (list{"host:host=db", "port:port=5432"}));
  EXPECT_EQ(split("  host = db\tport=\n5432  "), (list{"host:host = db", "port:port=\n5432"}));
  EXPECT_EQ(split("password='a b\\'c' user=x"),
            (list{"password:password='a b\\'c'", "user:user=x"}));
  EXPECT_EQ(split("password=a\\ b user=x"), (list{"password:password=a\\ b", "user:user=x"}));
  EXPECT_EQ(split("options=a=b"), (list{"options:options=a=b"}));
  EXPECT_EQ(split("ssl_min_protocol_version=TLSv1.3"),
            (list{"ssl_min_protocol_version:ssl_min_protocol_version=TLSv1.3"}));
  EXPECT_EQ(split("host= sslmode=x"), (list{"host:host= sslmode=x"}));
  EXPECT_EQ(split("host=''"), (list{"host:host=''"}));
  EXPECT_EQ(split(""), list{});
  EXPECT_EQ(split("   "), list{});
}

TEST(Conninfo, TextThatIsNotSettingsIsRefused) {
  EXPECT_EQ(split("host"), list{"invalid"});
  EXPECT_EQ(split("host db"), list{"invalid"});
  EXPECT_EQ(split("=db"), list{"invalid"});
  EXPECT_EQ(split("host=db port"), list{"invalid"});
  EXPECT_EQ(split("password='abc"), list{"invalid"});
  EXPECT_EQ(split("password='abc\\'"), list{"invalid"});
  EXPECT_EQ(split("postgresql://db/q"), list{"invalid"});
  // A keyword libpq could not know: uppercase, or a URL with an '=' in it.
  EXPECT_EQ(split("Host=db"), list{"invalid"});
  EXPECT_EQ(split("jdbc:postgresql://db/q?user=app"), list{"invalid"});
  EXPECT_EQ(split("host=db ssl-mode=require"), list{"invalid"});
}
