// Reading the secrets a config names: the API key, sink secrets, URLs kept in files, the web
// TLS files; from $CREDENTIALS_DIRECTORY too. The exact error texts, and that none of them
// ever shows secret text. The environment is always a fake passed in, never the process's.
#include "config/secrets.hpp"

#include <gtest/gtest.h>

#include "config/load.hpp"
#include "config_fixtures.hpp"

using namespace qoewatch;
using namespace qoewatch::testing_config;

TEST(Config, ApiKeyIsReadTrimmedAndNeverEchoed) {
  temp_dir dir;
  config::smartsight_config api;
  api.api_key_file = dir.write("key", "  s3cr3t-key\n");
  config::diagnostic err;
  EXPECT_EQ(config::read_api_key(api, err), "s3cr3t-key");

  api.api_key_file = dir.write("bad", "s3cr3t key\n");
  EXPECT_FALSE(config::read_api_key(api, err));
  EXPECT_EQ(err.message, "the API key in \"" + api.api_key_file +
                             "\" contains spaces or control characters (expected one token on "
                             "one line)");
  EXPECT_EQ(err.to_string().find("s3cr3t"), std::string::npos);

  api.api_key_file = (dir.path() / "absent").string();
  EXPECT_FALSE(config::read_api_key(api, err));
  EXPECT_EQ(err.message, "cannot read \"" + api.api_key_file + "\": No such file or directory");

  api.api_key_file.clear();
  api.api_key_env = "QW_TEST_UNSET_VARIABLE";
  EXPECT_FALSE(config::read_api_key(api, err, with_env({})));
  EXPECT_EQ(err.to_string(),
            "smartsight.api_key_env: environment variable "
            "QW_TEST_UNSET_VARIABLE is not set");
  EXPECT_EQ(config::read_api_key(api, err, with_env({{"QW_TEST_UNSET_VARIABLE", "k3y"}})), "k3y");
}

TEST(Config, UnreadableSinkSecretsAreErrorsThatNeverEchoTheSecret) {
  temp_dir dir;
  dir.write("bad.secret", "whsec_!!not-base64-hunter2\n");
  dir.write("bad.url", "ftp://hooks.example/hunter2\n");
  dir.write("relative.url", "/services/hunter2\n");
  std::string path = dir.write("c.yaml", R"(smartsight: {customer_id: 1, api_key_env: QW_SINK_KEY2}
sinks:
  - {name: hook, type: webhook, url: "http://h/", secret_file: bad.secret}
  - {name: pd, type: pagerduty, routing_key_file: missing.key}
  - {name: chat, type: slack, url_file: bad.url}
  - {name: chat2, type: slack, url_file: relative.url}
rules: [{name: r, qoefilter: latency > 5}]
)");
  config::secrets secrets;
  config::load_result r =
      config::load_with_secrets(path, secrets, with_env({{"QW_SINK_KEY2", "k"}}));
  EXPECT_FALSE(r.config);
  std::vector<std::string> got = texts(r);
  ASSERT_EQ(got.size(), 4u) << testing::PrintToString(got);
  EXPECT_NE(got[0].find("sinks[0].secret_file: the secret in"), std::string::npos) << got[0];
  EXPECT_NE(got[1].find("sinks[1].routing_key_file: cannot read \""), std::string::npos) << got[1];
  EXPECT_NE(got[2].find("sinks[2].url_file: scheme \"ftp\" is not supported"), std::string::npos)
      << got[2];
  EXPECT_NE(got[3].find("sinks[3].url_file: the URL in \""), std::string::npos) << got[3];
  EXPECT_NE(got[3].find("relative.url\" is not a URL"), std::string::npos) << got[3];
  for (const std::string& e : got) EXPECT_EQ(e.find("hunter2"), std::string::npos) << e;
}

TEST(Config, SecretFilesMayLiveInTheServiceCredentialsDirectory) {
  temp_dir dir;
  dir.write("creds/smartsight_api_key", "k3y-from-systemd\n");
  dir.write("creds/pd", "R0UTE\n");
  std::string path = dir.write("c.yaml", R"(smartsight:
  customer_id: 1
  api_key_file: $CREDENTIALS_DIRECTORY/smartsight_api_key
sinks:
  - {name: pd, type: pagerduty, routing_key_file: $CREDENTIALS_DIRECTORY/pd}
rules: [{name: r, qoefilter: latency > 5}]
)");
  config::secrets secrets;
  config::load_result r = config::load_with_secrets(
      path, secrets, with_env({{"CREDENTIALS_DIRECTORY", (dir.path() / "creds").string()}}));
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  EXPECT_EQ(r.config->smartsight.api_key_file, "$CREDENTIALS_DIRECTORY/smartsight_api_key");
  EXPECT_EQ(secrets.api_key, "k3y-from-systemd");
  EXPECT_EQ(secrets.routing_keys.at("pd"), "R0UTE");

  // Outside systemd, unset: a clear error, not a file named "$CREDENTIALS_DIRECTORY".
  config::load_result outside = config::load_with_secrets(path, secrets, with_env({}));
  std::vector<std::string> got = texts(outside);
  ASSERT_EQ(got.size(), 2u) << testing::PrintToString(got);
  EXPECT_NE(got[0].find("smartsight.api_key_file: cannot read "
                        "\"$CREDENTIALS_DIRECTORY/smartsight_api_key\": CREDENTIALS_DIRECTORY is "
                        "not set (systemd sets it for a service with LoadCredential="),
            std::string::npos)
      << got[0];
}

TEST(Config, WebTlsFilesAreReadWithTheSecrets) {
  temp_dir dir;
  std::string cert = dir.write("cert.pem",
                               "-----BEGIN CERTIFICATE-----\nMIIB\n-----END "
                               "CERTIFICATE-----\n");
  std::string key = dir.write("key.pem", "not a key\n");
  std::string main =
      dir.write("q.yaml", std::string(minimal) +
                              "web:\n  tls_cert_file: cert.pem\n  tls_key_file: key.pem\n");
  const config::secret_source env = with_env({{"QW_TEST_KEY", "k"}});
  config::secrets s;
  config::load_result r = config::load_with_secrets(main, s, env);
  ASSERT_FALSE(r.config);
  EXPECT_EQ(texts(r), std::vector<std::string>{main + ":8:18: web.tls_key_file: \"" + key +
                                               "\" holds no PEM private key (no -----BEGIN line)"});
  dir.write("key.pem", "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n");
  r = config::load_with_secrets(main, s, env);
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  EXPECT_EQ(s.tls_cert_pem.substr(0, 27), "-----BEGIN CERTIFICATE-----");
  EXPECT_EQ(s.tls_key_pem.substr(0, 27), "-----BEGIN PRIVATE KEY-----");
}

TEST(Config, SecretsAreReadOnlyThroughTheSourceGiven) {
  config::load_result r = config::load_from_string(R"(smartsight:
  customer_id: 1
  api_key_file: $CREDENTIALS_DIRECTORY/api
sinks:
  - {name: hook, type: webhook, url: "http://h/", secret_file: /etc/q/hook.secret}
  - {name: pd, type: pagerduty, routing_key_file: /etc/q/absent}
rules: [{name: r, qoefilter: latency > 5}]
)",
                                                   "/etc/q/c.yaml");
  ASSERT_TRUE(r.config) << testing::PrintToString(texts(r));
  std::map<std::string, std::string> files = {{"/run/creds/api", " k3y\n"},
                                              {"/etc/q/hook.secret", "whsec_aGVsbG8="}};
  std::vector<std::string> asked;
  config::secret_source source;
  source.env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "CREDENTIALS_DIRECTORY") return "/run/creds";
    return std::nullopt;
  };
  source.file = [&](const std::string& path, std::string& error) -> std::optional<std::string> {
    asked.push_back(path);
    auto it = files.find(path);
    if (it == files.end()) {
      error = "No such file or directory";
      return std::nullopt;
    }
    return it->second;
  };
  std::vector<config::diagnostic> errors;
  config::secrets s = config::read_secrets(*r.config, errors, source);
  EXPECT_EQ(s.api_key, "k3y");
  EXPECT_EQ(s.signing_keys.at("hook"), "hello");
  EXPECT_EQ(asked, (std::vector<std::string>{"/run/creds/api", "/etc/q/hook.secret",
                                             "/etc/q/absent"}));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].to_string(),
            "/etc/q/c.yaml:6:5: sinks[1].routing_key_file: cannot read \"/etc/q/absent\": No such "
            "file or directory");
}
