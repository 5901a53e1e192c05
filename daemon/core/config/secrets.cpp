#include "config/secrets.hpp"

#include <algorithm>
#include <cstdlib>
#include <string_view>

#include "config/common.hpp"
#include "text/base64.hpp"
#include "text/conninfo.hpp"

namespace qoewatch::config {

const secret_source& secret_source::system() {
  static const secret_source source{
      [](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        if (v == nullptr) return std::nullopt;
        return std::string(v);
      },
      [](const std::string& path, std::string& error) { return read_file(path, error); },
  };
  return source;
}

namespace {

// `s` without the white space around it (a file's trailing newline, say).
std::string trimmed(std::string s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.back())) s.pop_back();
  std::size_t first = 0;
  while (first < s.size() && space(s[first])) ++first;
  s.erase(0, first);
  return s;
}

// One token on one line, trimmed: what a key file, credential or variable holds. `what`
// names it ("API key") and `source` where it came from, for the error.
std::optional<std::string> clean_token(std::string key, std::string_view what,
                                       const std::string& source, std::string& error) {
  key = trimmed(std::move(key));
  if (key.empty()) {
    error = "the " + std::string(what) + " in " + source + " is empty";
    return std::nullopt;
  }
  // Keys go into HTTP headers and bodies: refuse anything that could break or inject one.
  for (char c : key) {
    if (c < 0x21 || c > 0x7e) {
      error = "the " + std::string(what) + " in " + source +
              " contains spaces or control characters (expected one token on one line)";
      return std::nullopt;
    }
  }
  return key;
}

// Reads the secret files of one configuration from one source.
class secret_reader {
 public:
  explicit secret_reader(const secret_source& source) : source_(source) {}

  // One token from a file (see clean_token); `what` names it for the error.
  std::optional<std::string> token(const std::string& written, std::string_view what,
                                   std::string& error) const {
    std::string path;
    std::optional<std::string> text = file(written, error, path);
    if (!text) return std::nullopt;
    return clean_token(std::move(*text), what, in_quotes(path), error);
  }

  // A PEM file: some text holding "-----BEGIN ". What is in it is for OpenSSL to judge.
  std::optional<std::string> pem(const std::string& written, std::string_view what,
                                 std::string& error) const {
    std::string path;
    std::optional<std::string> text = file(written, error, path);
    if (text && text->find("-----BEGIN ") == std::string::npos) {
      error = in_quotes(path) + " holds no PEM " + std::string(what) + " (no -----BEGIN line)";
      return std::nullopt;
    }
    return text;
  }

  // A PostgreSQL connection string from a file: one line (surrounding white space trimmed),
  // a postgresql:// URI or keyword=value settings. No message shows any of it.
  std::optional<std::string> connection_string(const std::string& written,
                                               std::string& error) const {
    std::string path;
    std::optional<std::string> text = file(written, error, path);
    if (!text) return std::nullopt;
    const std::string shown = " in " + in_quotes(path);
    std::string url = trimmed(std::move(*text));
    if (url.empty()) {
      error = "the PostgreSQL connection string" + shown + " is empty";
      return std::nullopt;
    }
    // Tabs may separate keyword=value settings; any other control character is a mistake.
    if (std::any_of(url.begin(), url.end(),
                    [](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; })) {
      error = "the PostgreSQL connection string" + shown +
              " holds more than one line or control characters (write it on one line)";
      return std::nullopt;
    }
    if (text::is_connection_uri(url)) {
      if (url.find_first_of(" \t") != std::string::npos) {
        error = "the PostgreSQL connection URI" + shown +
                " contains spaces (percent-encode them as %20)";
        return std::nullopt;
      }
      // libpq ends the password at the first '@' before the path: a second one means a raw
      // '@' that would cut the password short (and leave its tail where a host is read).
      std::string_view rest = std::string_view(url).substr(url.find("://") + 3);
      std::string_view authority = rest.substr(0, rest.find('/'));
      if (std::count(authority.begin(), authority.end(), '@') > 1) {
        error = "the PostgreSQL connection URI" + shown +
                " has more than one '@' before its path (percent-encode an '@' in the user "
                "name or password as %40)";
        return std::nullopt;
      }
      const std::size_t slash = rest.find('/');
      if (slash != std::string_view::npos &&
          rest.substr(slash, rest.find('?') - std::min(rest.find('?'), slash)).find('@') !=
              std::string_view::npos) {
        error = "the PostgreSQL connection URI" + shown +
                " has an '@' after a '/' (percent-encode a '/' in the user name or password "
                "as %2F)";
        return std::nullopt;
      }
      return url;
    }
    std::optional<std::vector<text::conninfo_setting>> settings = text::parse_conninfo(url);
    if (!settings || settings->empty()) {
      error = "the PostgreSQL connection string" + shown +
              " is neither a postgresql:// URI nor keyword=value settings (write "
              "postgresql://USER@HOST:5432/DATABASE, or host=HOST dbname=DATABASE user=USER)";
      return std::nullopt;
    }
    return url;
  }

  // One token from environment variable `name`.
  std::optional<std::string> env_token(const std::string& name, std::string_view what,
                                       std::string& error) const {
    std::optional<std::string> v = name.empty() ? std::nullopt : source_.env(name);
    if (!v) {
      error = "environment variable " + name + " is not set";
      return std::nullopt;
    }
    return clean_token(std::move(*v), what, "environment variable " + name, error);
  }

 private:
  // The text of a file a secret is read from: `written` is as in the config (absolute, or
  // under $CREDENTIALS_DIRECTORY), `path` is set to where it was looked for. On failure
  // `error` says which file and why.
  std::optional<std::string> file(const std::string& written, std::string& error,
                                  std::string& path) const {
    path = written;
    if (written.starts_with(credentials_prefix)) {
      std::optional<std::string> dir = source_.env("CREDENTIALS_DIRECTORY");
      if (!dir || dir->empty()) {
        error = "cannot read " + in_quotes(written) +
                ": CREDENTIALS_DIRECTORY is not set (systemd sets it for a service with "
                "LoadCredential=; elsewhere set it to the folder holding the credential files)";
        return std::nullopt;
      }
      path = *dir + "/" + written.substr(credentials_prefix.size());
    }
    std::string err;
    std::optional<std::string> text = source_.file(path, err);
    if (!text) error = "cannot read " + in_quotes(path) + ": " + err;
    return text;
  }

  const secret_source& source_;
};

}  // namespace

secrets read_secrets(const daemon_config& cfg, std::vector<diagnostic>& errors,
                     const secret_source& source) {
  const secret_reader read(source);
  secrets out;
  diagnostic key_error;
  if (std::optional<std::string> key = read_api_key(cfg.smartsight, key_error, source))
    out.api_key = std::move(*key);
  else
    errors.push_back(std::move(key_error));
  for (std::size_t i = 0; i < cfg.sinks.size(); ++i) {
    const sink_config& s = cfg.sinks[i];
    auto fail = [&](const std::string& key, std::string message) {
      errors.push_back({s.where.file, s.where.line, s.where.column,
                        index_path("sinks", i) + "." + key, std::move(message)});
    };
    std::string err;
    if (!s.secret_file.empty()) {
      if (auto text = read.token(s.secret_file, "signing secret", err)) {
        if (auto key = text::signing_key(*text))
          out.signing_keys[s.name] = std::move(*key);
        else
          fail("secret_file", "the secret in " + in_quotes(s.secret_file) +
                                  " starts with whsec_ but the rest is not base64 (write "
                                  "whsec_ followed by the base64 of at least one byte)");
      } else {
        fail("secret_file", err);
      }
    }
    if (!s.routing_key_file.empty()) {
      if (auto key = read.token(s.routing_key_file, "routing key", err))
        out.routing_keys[s.name] = std::move(*key);
      else
        fail("routing_key_file", err);
    }
    if (!s.url_file.empty()) {
      // The URL is the secret: no message may show it.
      const std::string shown = "the URL in " + in_quotes(s.url_file);
      if (auto url = read.token(s.url_file, "URL", err)) {
        if (std::optional<std::string> problem = url_problem(*url, shown))
          fail("url_file", *problem);
        else
          out.urls[s.name] = std::move(*url);
      } else {
        fail("url_file", err);
      }
    }
  }
  if (cfg.web.tls()) {
    auto fail = [&](const std::string& key, std::string message) {
      const source_location& w = cfg.web.tls_where;
      errors.push_back({w.file, w.line, w.column, "web." + key, std::move(message)});
    };
    std::string err;
    if (auto pem = read.pem(cfg.web.tls_cert_file, "certificate", err))
      out.tls_cert_pem = std::move(*pem);
    else
      fail("tls_cert_file", err);
    if (auto pem = read.pem(cfg.web.tls_key_file, "private key", err))
      out.tls_key_pem = std::move(*pem);
    else
      fail("tls_key_file", err);
  }
  if (cfg.state.backend == state_backend::postgresql && !cfg.state.url_file.empty()) {
    const source_location& w = cfg.state.where;
    std::string err;
    if (auto url = read.connection_string(cfg.state.url_file, err))
      out.state_url = std::move(*url);
    else
      errors.push_back({w.file, w.line, w.column, "state.url_file", std::move(err)});
  }
  return out;
}

secrets read_secrets(const daemon_config& cfg, std::vector<diagnostic>& errors) {
  return read_secrets(cfg, errors, secret_source::system());
}

std::optional<std::string> read_api_key(const smartsight_config& cfg, diagnostic& error,
                                        const secret_source& source) {
  const secret_reader read(source);
  error = diagnostic{};
  error.file = cfg.api_key_where.file;
  error.line = cfg.api_key_where.line;
  error.column = cfg.api_key_where.column;
  if (!cfg.api_key_file.empty()) {
    error.path = "smartsight.api_key_file";
    return read.token(cfg.api_key_file, "API key", error.message);
  }
  error.path = "smartsight.api_key_env";
  return read.env_token(cfg.api_key_env, "API key", error.message);
}

std::optional<std::string> read_api_key(const smartsight_config& cfg, diagnostic& error) {
  return read_api_key(cfg, error, secret_source::system());
}

}  // namespace qoewatch::config
