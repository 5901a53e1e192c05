#include "config/load.hpp"

#include <glob.h>

#include <yaml-cpp/yaml.h>
#include <algorithm>
#include <boost/url/parse.hpp>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include "config/common.hpp"
#include "rules/identifier.hpp"
#include "rules/metric_dictionary.hpp"
#include "text/base64.hpp"
#include "text/template.hpp"

namespace qoewatch::config {

namespace {

namespace fs = std::filesystem;

using rules::is_identifier;

// "$2b$10$" + 22 characters of salt + 31 of hash, in bcrypt's base64 alphabet; $2a$ and $2y$
// (htpasswd's) are the same algorithm. Costs 04 to 31.
bool is_bcrypt_hash(std::string_view h) {
  if (h.size() != 60 || h[0] != '$' || h[1] != '2' || h[3] != '$' || h[6] != '$') return false;
  if (h[2] != 'a' && h[2] != 'b' && h[2] != 'y') return false;
  if (h[4] < '0' || h[4] > '3' || h[5] < '0' || h[5] > '9') return false;
  int cost = (h[4] - '0') * 10 + (h[5] - '0');
  if (cost < 4 || cost > 31) return false;
  return std::all_of(h.begin() + 7, h.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '/';
  });
}

class loader {
 public:
  std::vector<diagnostic> errors;

  void error(const std::string& file, const YAML::Mark& m, std::string path, std::string message) {
    diagnostic d;
    d.file = file;
    if (!m.is_null()) {
      d.line = m.line + 1;
      d.column = m.column + 1;
    }
    d.path = std::move(path);
    d.message = std::move(message);
    errors.push_back(std::move(d));
  }

  // Position of character `offset` of a single-line scalar's text.
  static YAML::Mark inside(const YAML::Node& scalar, std::size_t offset) {
    YAML::Mark m = scalar.Mark();
    if (m.is_null()) return m;
    // yaml-cpp tags quoted scalars "!": skip the opening quote.
    int quote = scalar.Tag() == "!" ? 1 : 0;
    m.column += quote + static_cast<int>(offset);
    return m;
  }

  // Reports keys of `map` not in `known`. Returns false when `map` is not a map.
  bool check_map(const std::string& file, const YAML::Node& map, const std::string& path,
                 const std::vector<std::string_view>& known, std::string_view what) {
    if (!map.IsMap()) {
      error(file, map.Mark(), path, "must be a mapping (" + std::string(what) + ")");
      return false;
    }
    for (auto it = map.begin(); it != map.end(); ++it) {
      std::string key = it->first.Scalar();
      if (std::find(known.begin(), known.end(), key) != known.end()) continue;
      if (path == "smartsight" && (key == "api_key" || key == "apikey" || key == "key")) {
        error(file, it->first.Mark(), key_path(path, key),
              "a literal API key does not belong in the config file (put it in a file named by "
              "api_key_file, or an environment variable named by api_key_env)");
        continue;
      }
      std::string near = nearest(key, known);
      error(file, it->first.Mark(), key_path(path, key),
            "unknown key" + (near.empty() ? " (valid keys: " + join_list(known) + ")"
                                          : " (did you mean " + in_quotes(near) + "?)"));
    }
    return true;
  }

  std::optional<std::string> text(const std::string& file, const YAML::Node& n,
                                  const std::string& path, bool allow_empty = false) {
    if (!n.IsScalar()) {
      error(file, n.Mark(), path, n.IsNull() ? "has no value" : "must be a string");
      return std::nullopt;
    }
    if (!allow_empty && n.Scalar().empty()) {
      error(file, n.Mark(), path, "must not be empty");
      return std::nullopt;
    }
    return n.Scalar();
  }

  std::optional<duration> get_duration(const std::string& file, const YAML::Node& n,
                                       const std::string& path, bool allow_zero) {
    if (!n.IsScalar()) {
      error(file, n.Mark(), path, "must be a duration (use 30s, 5m, 1h)");
      return std::nullopt;
    }
    std::optional<duration> d = parse_duration(n.Scalar());
    if (!d) {
      error(file, n.Mark(), path, in_quotes(n.Scalar()) + " is not a duration (use 30s, 5m, 1h)");
      return std::nullopt;
    }
    if (!allow_zero && d->count() == 0) {
      error(file, n.Mark(), path, "must be longer than 0s");
      return std::nullopt;
    }
    return d;
  }

  std::optional<std::int64_t> get_int(const std::string& file, const YAML::Node& n,
                                      const std::string& path, std::int64_t lo, std::int64_t hi,
                                      std::string_view what) {
    std::string hint =
        "(" + std::string(what) + ", " + std::to_string(lo) + " to " + std::to_string(hi) + ")";
    if (!n.IsScalar()) {
      error(file, n.Mark(), path, "must be a whole number " + hint);
      return std::nullopt;
    }
    const std::string& s = n.Scalar();
    std::int64_t v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc{} || ptr != s.data() + s.size()) {
      error(file, n.Mark(), path, in_quotes(s) + " is not a whole number " + hint);
      return std::nullopt;
    }
    if (v < lo || v > hi) {
      error(file, n.Mark(), path, std::to_string(v) + " is out of range " + hint);
      return std::nullopt;
    }
    return v;
  }

  // A byte count: 1048576, 512KiB, 64MiB, 1GiB.
  std::optional<std::uint64_t> get_size(const std::string& file, const YAML::Node& n,
                                        const std::string& path) {
    const std::string hint = " (use 67108864, 512KiB, 64MiB or 1GiB)";
    if (!n.IsScalar()) {
      error(file, n.Mark(), path, "must be a size" + hint);
      return std::nullopt;
    }
    const std::string& s = n.Scalar();
    std::uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    std::string_view unit(ptr, static_cast<std::size_t>(s.data() + s.size() - ptr));
    std::uint64_t scale = unit.empty()    ? 1
                          : unit == "KiB" ? 1ull << 10
                          : unit == "MiB" ? 1ull << 20
                          : unit == "GiB" ? 1ull << 30
                                          : 0;
    if (s.empty() || ec != std::errc{} || scale == 0 || v == 0 || v > (1ull << 40) / scale) {
      error(file, n.Mark(), path, in_quotes(s) + " is not a size" + hint);
      return std::nullopt;
    }
    return v * scale;
  }

  std::optional<std::vector<std::pair<std::string, YAML::Node>>> string_list(
      const std::string& file, const YAML::Node& n, const std::string& path,
      std::string_view example) {
    if (!n.IsSequence()) {
      error(file, n.Mark(), path, "must be a list (write " + std::string(example) + ")");
      return std::nullopt;
    }
    std::vector<std::pair<std::string, YAML::Node>> out;
    bool ok = true;
    for (std::size_t i = 0; i < n.size(); ++i) {
      std::optional<std::string> s = text(file, n[i], index_path(path, i));
      if (s)
        out.emplace_back(*s, n[i]);
      else
        ok = false;
    }
    if (!ok) return std::nullopt;
    return out;
  }

  // ---- parts of the main file ----

  std::optional<std::string> http_url(const std::string& file, const YAML::Node& n,
                                      const std::string& path) {
    std::optional<std::string> s = text(file, n, path);
    if (!s) return std::nullopt;
    if (std::optional<std::string> problem = url_problem(*s, in_quotes(*s))) {
      error(file, n.Mark(), path, *problem);
      return std::nullopt;
    }
    return s;
  }

  void smartsight(const std::string& file, const fs::path& dir, const YAML::Node& n,
                  smartsight_config& out) {
    const std::string path = "smartsight";
    if (!check_map(
            file, n, path,
            {"base_url", "customer_id", "api_key_file", "api_key_env", "timeout", "page_size",
             "extra_metrics", "ca_file", "max_response_bytes", "max_pages", "max_concurrency"},
            "base_url, customer_id, api_key_file or api_key_env, ..."))
      return;
    if (YAML::Node v = n["base_url"]) {
      if (auto s = http_url(file, v, key_path(path, "base_url"))) {
        std::string url = *s;
        while (!url.empty() && url.back() == '/') url.pop_back();
        if (url.find('?') != std::string::npos)
          error(file, v.Mark(), key_path(path, "base_url"),
                "must not have a query string (qoewatch builds the query)");
        out.base_url = url;
      }
    }
    if (YAML::Node v = n["customer_id"]) {
      if (auto id = get_int(file, v, key_path(path, "customer_id"), 1,
                            std::numeric_limits<std::int64_t>::max(), "the numeric customer id"))
        out.customer_id = static_cast<std::uint64_t>(*id);
    } else {
      error(file, n.Mark(), key_path(path, "customer_id"),
            "missing (required: the numeric SmartSight customer id)");
    }
    YAML::Node key_file = n["api_key_file"];
    YAML::Node key_env = n["api_key_env"];
    if (key_file && key_env) {
      error(file, key_env.Mark(), key_path(path, "api_key_env"),
            "api_key_file and api_key_env are both set (keep one)");
    } else if (key_file) {
      if (auto s = secret_path(dir, text(file, key_file, key_path(path, "api_key_file")))) {
        out.api_key_file = *s;
        out.api_key_where = {file, key_file.Mark().line + 1, key_file.Mark().column + 1};
      }
    } else if (key_env) {
      if (auto s = text(file, key_env, key_path(path, "api_key_env"))) {
        if (!is_identifier(*s)) {
          error(file, key_env.Mark(), key_path(path, "api_key_env"),
                in_quotes(*s) + " is not an environment variable name (letters, digits, _)");
        } else {
          out.api_key_env = *s;
          out.api_key_where = {file, key_env.Mark().line + 1, key_env.Mark().column + 1};
        }
      }
    } else {
      error(file, n.Mark(), key_path(path, "api_key_file"),
            "missing (set api_key_file: PATH or api_key_env: NAME to say where the API key is)");
    }
    if (YAML::Node v = n["timeout"])
      if (auto d = get_duration(file, v, key_path(path, "timeout"), false)) out.timeout = *d;
    if (YAML::Node v = n["page_size"])
      if (auto i = get_int(file, v, key_path(path, "page_size"), 1, 100000, "rows per request"))
        out.page_size = static_cast<int>(*i);
    if (YAML::Node v = n["ca_file"]) {
      if (auto f = text(file, v, key_path(path, "ca_file"))) {
        fs::path p(*f);
        out.ca_file = p.is_absolute() ? p.string() : (dir / p).lexically_normal().string();
      }
    }
    if (YAML::Node v = n["max_response_bytes"])
      if (auto b = get_size(file, v, key_path(path, "max_response_bytes")))
        out.max_response_bytes = *b;
    if (YAML::Node v = n["max_pages"])
      if (auto i = get_int(file, v, key_path(path, "max_pages"), 1, 1000000, "pages per poll"))
        out.max_pages = static_cast<int>(*i);
    if (YAML::Node v = n["max_concurrency"])
      if (auto i = get_int(file, v, key_path(path, "max_concurrency"), 1, 64,
                           "requests in flight across all rules"))
        out.max_concurrency = static_cast<int>(*i);
    if (YAML::Node v = n["extra_metrics"]) {
      if (auto list = string_list(file, v, key_path(path, "extra_metrics"), "[mymetric, ...]")) {
        for (std::size_t i = 0; i < list->size(); ++i) {
          const auto& [name, node] = (*list)[i];
          if (!is_identifier(name))
            error(file, node.Mark(), index_path(key_path(path, "extra_metrics"), i),
                  in_quotes(name) + " is not a metric name (letters, digits, _)");
          else
            out.extra_metrics.push_back(name);
        }
      }
    }
  }

  void listen(const std::string& file, const YAML::Node& n, std::string& out) {
    std::optional<std::string> s = text(file, n, "listen");
    if (!s) return;
    std::size_t colon = s->rfind(':');
    std::string host = colon == std::string::npos ? "" : s->substr(0, colon);
    std::string port = colon == std::string::npos ? "" : s->substr(colon + 1);
    int p = -1;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    bool port_ok = !port.empty() && ec == std::errc{} && ptr == port.data() + port.size() &&
                   p >= 0 && p <= 65535;
    if (host.empty() || !port_ok) {
      error(file, n.Mark(), "listen",
            in_quotes(*s) + " is not HOST:PORT (write 0.0.0.0:9786, 127.0.0.1:9786 or [::]:9786)");
      return;
    }
    out = *s;
  }

  void web(const std::string& file, const fs::path& dir, const YAML::Node& n, web_config& out) {
    const std::string path = "web";
    if (!check_map(file, n, path, {"tls_cert_file", "tls_key_file", "basic_auth_users"},
                   "tls_cert_file and tls_key_file, basic_auth_users"))
      return;
    YAML::Node cert = n["tls_cert_file"];
    YAML::Node key = n["tls_key_file"];
    if (cert && !key) {
      error(file, cert.Mark(), key_path(path, "tls_key_file"),
            "missing (tls_cert_file needs the private key that goes with it)");
    } else if (key && !cert) {
      error(file, key.Mark(), key_path(path, "tls_cert_file"),
            "missing (tls_key_file needs the certificate that goes with it)");
    } else if (cert && key) {
      auto c = secret_path(dir, text(file, cert, key_path(path, "tls_cert_file")));
      auto k = secret_path(dir, text(file, key, key_path(path, "tls_key_file")));
      if (c && k) {
        out.tls_cert_file = *c;
        out.tls_key_file = *k;
        out.tls_where = {file, cert.Mark().line + 1, cert.Mark().column + 1};
      }
    }
    YAML::Node users = n["basic_auth_users"];
    if (!users) return;
    const std::string users_path = key_path(path, "basic_auth_users");
    if (!users.IsMap() || users.size() == 0) {
      error(file, users.Mark(), users_path,
            "must map user names to bcrypt hashes ({prometheus: $2b$10$...})");
      return;
    }
    for (auto it = users.begin(); it != users.end(); ++it) {
      const std::string user = it->first.IsScalar() ? it->first.Scalar() : std::string{};
      const std::string user_path = users_path + "." + user;
      if (user.empty() || user.find(':') != std::string::npos ||
          std::any_of(user.begin(), user.end(),
                      [](char ch) { return static_cast<unsigned char>(ch) < 0x20; })) {
        error(file, it->first.Mark(), users_path,
              "a user name must be non-empty text without ':' or control characters");
        continue;
      }
      std::optional<std::string> hash = text(file, it->second, user_path);
      if (!hash) continue;
      if (!is_bcrypt_hash(*hash)) {
        // The value may be a password written by mistake: never repeat it.
        error(file, it->second.Mark(), user_path,
              "is not a bcrypt hash ($2b$, two-digit cost, 53 characters; make one with "
              "htpasswd -nBC 10 USER, and keep what follows the colon)");
        continue;
      }
      out.basic_auth_users[user] = *hash;
    }
  }

  void defaults(const std::string& file, const YAML::Node& n, rule_defaults& out) {
    if (!check_map(file, n, "defaults", {"interval", "window", "delay"}, "interval, window, delay"))
      return;
    if (YAML::Node v = n["interval"])
      if (auto d = get_duration(file, v, "defaults.interval", false)) out.interval = *d;
    if (YAML::Node v = n["window"])
      if (auto d = get_duration(file, v, "defaults.window", false)) out.window = *d;
    if (YAML::Node v = n["delay"])
      if (auto d = get_duration(file, v, "defaults.delay", true)) out.delay = *d;
  }

  // A file path, relative to the config file's folder.
  std::optional<std::string> file_path(const std::string& file, const fs::path& dir,
                                       const YAML::Node& n, const std::string& path) {
    return secret_path(dir, text(file, n, path));
  }

  // A path as written: absolute, relative to the config file's folder, or (for the files
  // secrets are read from) under $CREDENTIALS_DIRECTORY, kept as written: systemd sets that
  // variable for the service alone, so it is expanded when the secrets are read.
  static std::optional<std::string> secret_path(const fs::path& dir, std::optional<std::string> s) {
    if (!s) return std::nullopt;
    if (s->starts_with(credentials_prefix)) return s;
    fs::path p(*s);
    return p.is_absolute() ? p.string() : (dir / p).lexically_normal().string();
  }

  std::optional<double> get_number(const std::string& file, const YAML::Node& n,
                                   const std::string& path, double lo, double hi,
                                   std::string_view what) {
    std::string hint = "(" + std::string(what) + ", " + rules::format_number(lo) + " to " +
                       rules::format_number(hi) + ")";
    double v = 0;
    const std::string& s = n.IsScalar() ? n.Scalar() : std::string{};
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (!n.IsScalar() || s.empty() || ec != std::errc{} || ptr != s.data() + s.size() ||
        !std::isfinite(v)) {
      error(file, n.Mark(), path,
            (s.empty() ? std::string("must be a number ") : in_quotes(s) + " is not a number ") +
                hint);
      return std::nullopt;
    }
    if (v < lo || v > hi) {
      error(file, n.Mark(), path, rules::format_number(v) + " is out of range " + hint);
      return std::nullopt;
    }
    return v;
  }

  // Everything of a sink after its name and type; false when something is wrong.
  bool sink_settings(const std::string& file, const fs::path& dir, const YAML::Node& s,
                     const std::string& path, sink_config& sink) {
    std::size_t errors_before = errors.size();
    const sink_type t = sink.type;
    const std::string type_name(to_string(t));
    // Keys that only some types take.
    auto only_for = [&](const char* key, std::initializer_list<sink_type> types,
                        const char* instead) {
      YAML::Node v = s[key];
      if (!v || std::find(types.begin(), types.end(), t) != types.end()) return;
      error(file, v.Mark(), key_path(path, key),
            "not used by " + type_name + " sinks" + std::string(instead));
    };
    only_for("urls", {sink_type::alertmanager},
             t == sink_type::alertmanager ? "" : " (write url: for one address)");
    only_for("url", {sink_type::webhook, sink_type::slack, sink_type::pagerduty},
             " (an alertmanager sink takes urls: with every peer of the cluster)");
    only_for("url_file", {sink_type::webhook, sink_type::slack}, "");
    only_for("secret_file", {sink_type::webhook}, "");
    only_for("headers", {sink_type::webhook, sink_type::alertmanager}, "");
    only_for("routing_key_file", {sink_type::pagerduty}, "");

    const bool takes_url_file = t == sink_type::webhook || t == sink_type::slack;
    if (YAML::Node v = s["url"]) {
      if (YAML::Node f = s["url_file"]; f && takes_url_file)
        error(file, f.Mark(), key_path(path, "url_file"),
              "write url or url_file, not both (url_file keeps a URL that is a secret, like "
              "Slack's, out of the config)");
      if (auto u = http_url(file, v, key_path(path, "url"))) sink.url = *u;
    } else if (YAML::Node f = s["url_file"]; f && takes_url_file) {
      if (auto p = file_path(file, dir, f, key_path(path, "url_file"))) sink.url_file = *p;
    } else if (takes_url_file) {
      error(file, s.Mark(), key_path(path, "url"),
            t == sink_type::slack
                ? "missing (required: the Slack incoming webhook URL, or url_file: a file "
                  "holding it)"
                : "missing (required: where to POST alerts)");
    } else if (t == sink_type::pagerduty) {
      sink.url = std::string(pagerduty_events_url);
    }
    if (YAML::Node v = s["urls"]) {
      if (auto list = string_list(file, v, key_path(path, "urls"), "[http://am1:9093]")) {
        for (std::size_t i = 0; i < list->size(); ++i) {
          std::string p = index_path(key_path(path, "urls"), i);
          if (auto u = http_url(file, (*list)[i].second, p)) {
            std::string url = *u;
            while (!url.empty() && url.back() == '/') url.pop_back();
            if (std::find(sink.urls.begin(), sink.urls.end(), url) != sink.urls.end())
              error(file, (*list)[i].second.Mark(), p, in_quotes(url) + " is listed twice");
            else
              sink.urls.push_back(url);
          }
        }
        if (list->empty())
          error(file, v.Mark(), key_path(path, "urls"),
                "must list at least one Alertmanager (every peer of the cluster)");
      }
    } else if (t == sink_type::alertmanager) {
      error(file, s.Mark(), key_path(path, "urls"),
            "missing (required: the base URL of every Alertmanager of the cluster, e.g. "
            "[http://am1:9093, http://am2:9093])");
    }
    if (YAML::Node v = s["headers"]) {
      const std::string hpath = key_path(path, "headers");
      if (!v.IsMap()) {
        error(file, v.Mark(), hpath, "must be a mapping (write {X-Team: video})");
      } else {
        for (auto it = v.begin(); it != v.end(); ++it) {
          std::string name = it->first.Scalar();
          std::string p = key_path(hpath, name);
          std::string lower = name;
          for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          bool token = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) ||
                   std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
          });
          if (!token) {
            error(file, it->first.Mark(), p, in_quotes(name) + " is not a header name");
          } else if (lower == "content-type" || lower == "content-length" || lower == "host" ||
                     lower.rfind("webhook-", 0) == 0) {
            error(file, it->first.Mark(), p, in_quotes(name) + " is set by qoewatch itself");
          } else if (auto value = text(file, it->second, p, true)) {
            // Never echo the value: headers are where tokens go.
            if (value->find_first_of("\r\n") != std::string::npos)
              error(file, it->second.Mark(), p, "the value must be one line");
            else
              sink.headers[name] = *value;
          }
        }
      }
    }
    if (YAML::Node v = s["secret_file"])
      if (auto f = file_path(file, dir, v, key_path(path, "secret_file"))) sink.secret_file = *f;
    if (YAML::Node v = s["routing_key_file"]) {
      if (auto f = file_path(file, dir, v, key_path(path, "routing_key_file")))
        sink.routing_key_file = *f;
    } else if (t == sink_type::pagerduty) {
      error(file, s.Mark(), key_path(path, "routing_key_file"),
            "missing (required: a file holding the PagerDuty integration's routing key)");
    }
    if (YAML::Node v = s["summary"]) {
      if (auto tmpl = text(file, v, key_path(path, "summary"))) {
        if (std::string why = text::check_template(*tmpl); !why.empty())
          error(file, v.Mark(), key_path(path, "summary"), why);
        else
          sink.summary = *tmpl;
      }
    }
    if (YAML::Node v = s["max_sessions_per_notification"])
      if (auto m = get_int(file, v, key_path(path, "max_sessions_per_notification"), 1, 10000,
                           "alerts per POST"))
        sink.max_sessions_per_notification = static_cast<std::size_t>(*m);
    if (YAML::Node v = s["max_age"])
      if (auto d = get_duration(file, v, key_path(path, "max_age"), false)) sink.max_age = *d;
    if (YAML::Node v = s["rate_limit"])
      // Slack accepts one message a second per incoming webhook and drops the excess.
      if (auto r = get_number(file, v, key_path(path, "rate_limit"), 0.001,
                              t == sink_type::slack ? 1 : 10000, "POSTs per second"))
        sink.rate_limit = *r;
    if (YAML::Node v = s["burst"])
      if (auto b = get_int(file, v, key_path(path, "burst"), 1, 10000, "POSTs at once"))
        sink.burst = static_cast<int>(*b);
    return errors.size() == errors_before;
  }

  void sinks(const std::string& file, const fs::path& dir, const YAML::Node& n,
             std::vector<sink_config>& out) {
    if (!n.IsSequence()) {
      error(file, n.Mark(), "sinks", "must be a list (write - name: oncall ...)");
      return;
    }
    for (std::size_t i = 0; i < n.size(); ++i) {
      const YAML::Node s = n[i];
      const std::string path = index_path("sinks", i);
      if (!check_map(file, s, path,
                     {"name", "type", "url", "url_file", "urls", "headers", "secret_file",
                      "routing_key_file", "summary", "max_sessions_per_notification", "max_age",
                      "rate_limit", "burst"},
                     "name, type, url"))
        continue;
      sink_config sink;
      sink.where = {file, s.Mark().line + 1, s.Mark().column + 1};
      bool ok = true;
      if (YAML::Node v = s["name"]) {
        auto name = text(file, v, key_path(path, "name"));
        if (name && !is_identifier(*name)) {
          error(file, v.Mark(), key_path(path, "name"),
                in_quotes(*name) +
                    " is not a valid name (letters, digits, _; not starting with a digit)");
          ok = false;
        } else if (name) {
          for (const auto& [other, line] : sink_names_)
            if (other == *name) {
              error(file, v.Mark(), key_path(path, "name"),
                    in_quotes(*name) + " is already the name of the sink at line " +
                        std::to_string(line) + " (sink names must be unique)");
              ok = false;
            }
          sink_names_.emplace_back(*name, sink.where.line);
          sink.name = *name;
        } else {
          ok = false;
        }
      } else {
        error(file, s.Mark(), key_path(path, "name"), "missing (required: a name rules refer to)");
        ok = false;
      }
      if (YAML::Node v = s["type"]) {
        if (auto t = text(file, v, key_path(path, "type"))) {
          if (std::optional<sink_type> type = from_name(sink_types, *t)) {
            sink.type = *type;
          } else {
            std::string near = nearest(*t, names_of(sink_types));
            error(file, v.Mark(), key_path(path, "type"),
                  "unknown sink type " + in_quotes(*t) + " (" +
                      (near.empty() ? std::string{} : "did you mean " + in_quotes(near) + "? ") +
                      "supported: " + join_list(names_of(sink_types)) + ")");
            ok = false;
          }
        } else {
          ok = false;
        }
      } else {
        error(file, s.Mark(), key_path(path, "type"),
              "missing (required: " + join_or(names_of(sink_types)) + ")");
        ok = false;
      }
      if (!ok) continue;
      ok = sink_settings(file, dir, s, path, sink) && ok;
      if (ok) out.push_back(std::move(sink));
    }
  }

  // ---- rules ----

  struct rule_context {
    const rule_defaults* defaults;
    std::vector<std::string_view> metrics;  // the dictionary plus extra_metrics
    const std::vector<sink_config>* sinks;
  };

  void rule_list(const std::string& file, const YAML::Node& n, const rule_context& ctx,
                 std::vector<rule_config>& out) {
    if (!n.IsSequence()) {
      error(file, n.Mark(), "rules", "must be a list (write - name: ... qoefilter: ...)");
      return;
    }
    for (std::size_t i = 0; i < n.size(); ++i) rule(file, n[i], index_path("rules", i), ctx, out);
  }

  void rule(const std::string& file, const YAML::Node& n, const std::string& path,
            const rule_context& ctx, std::vector<rule_config>& out) {
    if (!check_map(file, n, path,
                   {"name", "description", "filter", "qoefilter", "fields", "interval", "window",
                    "delay", "severity", "labels", "sinks", "min_sessions", "resolve_after"},
                   "name, qoefilter, ..."))
      return;
    rule_config r;
    r.where = {file, n.Mark().line + 1, n.Mark().column + 1};
    r.interval = ctx.defaults->interval;
    r.window = ctx.defaults->window;
    r.delay = ctx.defaults->delay;
    std::size_t errors_before = errors.size();

    if (YAML::Node v = n["name"]) {
      if (auto name = text(file, v, key_path(path, "name"))) {
        if (!is_identifier(*name))
          error(file, v.Mark(), key_path(path, "name"),
                in_quotes(*name) +
                    " is not a valid rule name (letters, digits, _; not starting with a digit)");
        r.name = *name;
      }
    } else {
      error(file, n.Mark(), key_path(path, "name"), "missing (required: a unique rule name)");
    }
    if (YAML::Node v = n["description"])
      if (auto d = text(file, v, key_path(path, "description"), true)) r.description = *d;

    if (YAML::Node v = n["filter"]) {
      if (auto f = text(file, v, key_path(path, "filter"), true)) {
        rules::dimension_filter_result parsed = rules::parse_dimension_filter(*f);
        if (!parsed)
          error(file, inside(v, parsed.column - 1), key_path(path, "filter"), parsed.message);
        else
          r.filter = std::move(*parsed.value);
        r.filter_text = *f;
      }
    }

    if (YAML::Node v = n["qoefilter"]) {
      if (auto q = text(file, v, key_path(path, "qoefilter"))) {
        r.qoefilter_text = *q;
        rules::parse_result parsed = rules::parse(*q);
        if (!parsed) {
          error(file, inside(v, parsed.error.column - 1), key_path(path, "qoefilter"),
                parsed.error.message);
        } else {
          for (const std::string& m : rules::metrics_of(*parsed.value)) {
            if (std::find(ctx.metrics.begin(), ctx.metrics.end(), m) != ctx.metrics.end()) continue;
            std::string near = nearest(m, ctx.metrics);
            error(file, inside(v, find_word(*q, m)), key_path(path, "qoefilter"),
                  "unknown metric " + in_quotes(m) + " (" +
                      (near.empty() ? std::string{} : "did you mean " + in_quotes(near) + "? ") +
                      "known: " + join_list(ctx.metrics) +
                      "; declare others in smartsight.extra_metrics)");
          }
          r.condition = std::move(*parsed.value);
        }
      }
    } else {
      error(file, n.Mark(), key_path(path, "qoefilter"),
            "missing (required: the condition, e.g. \"latency > 5\")");
    }

    if (YAML::Node v = n["fields"]) {
      if (auto list = string_list(file, v, key_path(path, "fields"), "[assetname, cdn]")) {
        for (std::size_t i = 0; i < list->size(); ++i) {
          const auto& [field, node] = (*list)[i];
          std::string p = index_path(key_path(path, "fields"), i);
          if (!is_identifier(field))
            error(file, node.Mark(), p,
                  in_quotes(field) + " is not a field name (letters, digits, _)");
          else if (std::find(r.fields.begin(), r.fields.end(), field) != r.fields.end())
            error(file, node.Mark(), p, in_quotes(field) + " is listed twice");
          else
            r.fields.push_back(field);
        }
      }
    }

    YAML::Node interval = n["interval"], window = n["window"], delay = n["delay"];
    if (interval)
      if (auto d = get_duration(file, interval, key_path(path, "interval"), false)) r.interval = *d;
    if (window)
      if (auto d = get_duration(file, window, key_path(path, "window"), false)) r.window = *d;
    if (delay)
      if (auto d = get_duration(file, delay, key_path(path, "delay"), true)) r.delay = *d;
    if (r.window < r.interval) {
      // Consecutive windows would leave gaps: sessions ending between them are never seen.
      YAML::Node at = window ? window : interval ? interval : n;
      error(file, at.Mark(), key_path(path, "window"),
            "window " + format_duration(r.window) + " is shorter than interval " +
                format_duration(r.interval) +
                ", so sessions ending between polls would never be checked (make window at "
                "least the interval)");
    }

    if (YAML::Node v = n["min_sessions"])
      if (auto m = get_int(file, v, key_path(path, "min_sessions"), 1, 1000000,
                           "offending sessions in a window that fire the rule"))
        r.min_sessions = static_cast<int>(*m);
    if (YAML::Node v = n["resolve_after"])
      if (auto m = get_int(file, v, key_path(path, "resolve_after"), 1, 1000,
                           "quiet polls in a row that resolve an incident"))
        r.resolve_after = static_cast<int>(*m);

    if (YAML::Node v = n["severity"]) {
      if (auto s = text(file, v, key_path(path, "severity"))) {
        if (std::optional<severity> level = from_name(severities, *s)) {
          r.severity = *level;
        } else {
          std::string near = nearest(*s, names_of(severities));
          error(file, v.Mark(), key_path(path, "severity"),
                in_quotes(*s) + " is not a severity (" +
                    (near.empty() ? std::string{} : "did you mean " + in_quotes(near) + "? ") +
                    "use " + join_or(names_of(severities)) + ")");
        }
      }
    }

    if (YAML::Node v = n["labels"]) {
      const std::string lpath = key_path(path, "labels");
      if (!v.IsMap()) {
        error(file, v.Mark(), lpath, "must be a mapping (write {team: player})");
      } else {
        for (auto it = v.begin(); it != v.end(); ++it) {
          std::string name = it->first.Scalar();
          std::string p = key_path(lpath, name);
          if (!is_identifier(name) || name.rfind("__", 0) == 0) {
            error(file, it->first.Mark(), p,
                  in_quotes(name) +
                      " is not a valid label name (letters, digits, _; not "
                      "starting with a digit or __)");
          } else if (name == "alertname" || name == "severity" || name == "sessionid" ||
                     name == "rule" || name == "incident") {
            error(file, it->first.Mark(), p,
                  in_quotes(name) + " is set by qoewatch itself (choose another label name)");
          } else if (auto value = text(file, it->second, p, true)) {
            r.labels[name] = *value;
          }
        }
      }
    }

    if (YAML::Node v = n["sinks"]) {
      if (auto list = string_list(file, v, key_path(path, "sinks"), "[oncall]")) {
        for (std::size_t i = 0; i < list->size(); ++i) {
          // (Not a structured binding: clang 14, which builds the fuzz targets, cannot capture
          // one in the lambda below.)
          const std::string& name = (*list)[i].first;
          const YAML::Node& node = (*list)[i].second;
          if (std::find(r.sinks.begin(), r.sinks.end(), name) != r.sinks.end()) {
            error(file, node.Mark(), index_path(key_path(path, "sinks"), i),
                  in_quotes(name) + " is listed twice");
            continue;
          }
          std::string p = index_path(key_path(path, "sinks"), i);
          // Sinks that are declared but invalid count as existing: their own error suffices.
          bool exists = std::any_of(sink_names_.begin(), sink_names_.end(),
                                    [&](const auto& s) { return s.first == name; });
          if (!exists) {
            std::vector<std::string_view> names;
            for (const auto& s : sink_names_) names.push_back(s.first);
            std::string near = nearest(name, names);
            error(file, node.Mark(), p,
                  "no sink named " + in_quotes(name) + " (" +
                      (near.empty() ? (names.empty() ? std::string("define it under sinks:")
                                                     : "defined sinks: " + join_list(names))
                                    : "did you mean " + in_quotes(near) + "?") +
                      ")");
            continue;
          }
          r.sinks.push_back(name);
        }
      }
    } else {
      // No sinks key: the rule notifies every sink. `sinks: []` means metrics only.
      for (const sink_config& s : *ctx.sinks) r.sinks.push_back(s.name);
    }

    if (errors.size() == errors_before) out.push_back(std::move(r));
  }

  std::vector<std::pair<std::string, int>> sink_names_;  // every sink name seen, with its line

  static std::size_t find_word(std::string_view text, std::string_view word) {
    auto ident = [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    };
    for (std::size_t pos = text.find(word); pos != std::string_view::npos;
         pos = text.find(word, pos + 1)) {
      bool left = pos == 0 || !ident(text[pos - 1]);
      bool right = pos + word.size() >= text.size() || !ident(text[pos + word.size()]);
      if (left && right) return pos;
    }
    return 0;
  }
};

std::optional<YAML::Node> parse_yaml(std::string_view yaml, const std::string& file,
                                     std::vector<diagnostic>& errors) {
  try {
    return YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    diagnostic d;
    d.file = file;
    if (!e.mark.is_null()) {
      d.line = e.mark.line + 1;
      d.column = e.mark.column + 1;
    }
    d.message = "not valid YAML: " + e.msg;
    errors.push_back(std::move(d));
    return std::nullopt;
  }
}

diagnostic file_error(const std::string& file, std::string message) {
  diagnostic d;
  d.file = file;
  d.message = std::move(message);
  return d;
}

bool has_glob_chars(std::string_view s) {
  return s.find_first_of("*?[") != std::string_view::npos;
}

// Expands one rule_files pattern relative to `dir`; sorted, as glob(3) returns them.
std::vector<std::string> expand(const fs::path& dir, const std::string& pattern) {
  fs::path p(pattern);
  std::string full = p.is_absolute() ? p.string() : (dir / p).string();
  std::vector<std::string> out;
  glob_t g{};
  if (::glob(full.c_str(), GLOB_ERR, nullptr, &g) == 0)
    for (std::size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  ::globfree(&g);
  return out;
}

}  // namespace

load_result load_from_string(std::string_view yaml, const std::string& file) {
  load_result result;
  loader l;
  std::optional<YAML::Node> root = parse_yaml(yaml, file, l.errors);
  if (!root) {
    result.errors = std::move(l.errors);
    return result;
  }
  if (!root->IsDefined() || root->IsNull()) {
    l.errors.push_back(
        file_error(file, "the file is empty (it needs at least smartsight: and rules)"));
    result.errors = std::move(l.errors);
    return result;
  }
  daemon_config cfg;
  cfg.file = file;
  const fs::path dir = fs::path(file).parent_path();
  if (!l.check_map(file, *root, "",
                   {"smartsight", "listen", "web", "state_dir", "max_catchup", "rule_files",
                    "defaults", "sinks", "rules"},
                   "smartsight:, rules: or rule_files:, ...")) {
    result.errors = std::move(l.errors);
    return result;
  }
  const YAML::Node& n = *root;
  if (YAML::Node v = n["smartsight"])
    l.smartsight(file, dir, v, cfg.smartsight);
  else
    l.error(file, n.Mark(), "smartsight",
            "missing (required: base_url, customer_id and api_key_file or api_key_env)");
  if (YAML::Node v = n["listen"]) l.listen(file, v, cfg.listen);
  if (YAML::Node v = n["web"]) l.web(file, dir, v, cfg.web);
  if (YAML::Node v = n["state_dir"]) {
    if (auto s = l.text(file, v, "state_dir")) {
      fs::path p(*s);
      cfg.state_dir = p.is_absolute() ? p.string() : (dir / p).lexically_normal().string();
    }
  }
  if (YAML::Node v = n["max_catchup"])
    if (auto d = l.get_duration(file, v, "max_catchup", true)) cfg.max_catchup = *d;
  if (YAML::Node v = n["defaults"]) l.defaults(file, v, cfg.defaults);
  if (YAML::Node v = n["sinks"]) l.sinks(file, dir, v, cfg.sinks);

  loader::rule_context ctx;
  ctx.defaults = &cfg.defaults;
  ctx.sinks = &cfg.sinks;
  for (const rules::metric_info& m : rules::known_metrics()) ctx.metrics.push_back(m.name);
  for (const std::string& m : cfg.smartsight.extra_metrics) ctx.metrics.push_back(m);

  if (YAML::Node v = n["rules"]) l.rule_list(file, v, ctx, cfg.rules);

  if (YAML::Node v = n["rule_files"]) {
    if (auto patterns = l.string_list(file, v, "rule_files", "[rules/*.yaml]")) {
      std::set<std::string> seen;
      for (std::size_t i = 0; i < patterns->size(); ++i) {
        const auto& [pattern, node] = (*patterns)[i];
        cfg.rule_files.push_back(pattern);
        std::vector<std::string> files = expand(dir, pattern);
        if (files.empty() && !has_glob_chars(pattern)) {
          l.error(file, node.Mark(), index_path("rule_files", i),
                  in_quotes(pattern) + " does not exist (paths are relative to the folder of " +
                      file + ")");
          continue;
        }
        for (const std::string& rule_file : files) {
          std::error_code ec;
          fs::path canonical = fs::weakly_canonical(rule_file, ec);
          if (!seen.insert(ec ? rule_file : canonical.string()).second) continue;
          std::string err;
          std::optional<std::string> text = read_file(rule_file, err);
          if (!text) {
            l.errors.push_back(file_error(rule_file, "cannot read: " + err));
            continue;
          }
          std::optional<YAML::Node> doc = parse_yaml(*text, rule_file, l.errors);
          if (!doc) continue;
          if (!doc->IsDefined() || doc->IsNull()) continue;  // an empty rule file holds no rules
          if (!l.check_map(rule_file, *doc, "", {"rules"}, "a rule file holds rules: [...]"))
            continue;
          if (YAML::Node rules = (*doc)["rules"]) l.rule_list(rule_file, rules, ctx, cfg.rules);
        }
      }
    }
  }

  // Names are unique across the main file and every rule file.
  for (std::size_t i = 0; i < cfg.rules.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (cfg.rules[i].name != cfg.rules[j].name) continue;
      const source_location& w = cfg.rules[i].where;
      const source_location& first = cfg.rules[j].where;
      diagnostic d;
      d.file = w.file;
      d.line = w.line;
      d.column = w.column;
      d.path = "rules";
      d.message = "rule name " + in_quotes(cfg.rules[i].name) + " is already used at " +
                  first.file + ":" + std::to_string(first.line) + ":" +
                  std::to_string(first.column) + " (rule names must be unique)";
      l.errors.push_back(std::move(d));
      break;
    }
  }
  if (cfg.rules.empty() && l.errors.empty())
    l.errors.push_back(
        file_error(file,
                   "no rules are defined (add rules: here or rule files matching rule_files:; a "
                   "daemon without rules would watch nothing)"));

  // Report file by file (in the order files were read), top to bottom within each.
  std::vector<std::string> file_order{file};
  for (const diagnostic& d : l.errors)
    if (std::find(file_order.begin(), file_order.end(), d.file) == file_order.end())
      file_order.push_back(d.file);
  auto rank = [&](const diagnostic& d) {
    return std::tuple(std::find(file_order.begin(), file_order.end(), d.file) - file_order.begin(),
                      d.line, d.column);
  };
  std::stable_sort(l.errors.begin(), l.errors.end(),
                   [&](const diagnostic& a, const diagnostic& b) { return rank(a) < rank(b); });
  result.errors = std::move(l.errors);
  if (result.errors.empty()) result.config = std::move(cfg);
  return result;
}

load_result load(const std::string& path) {
  std::string err;
  std::optional<std::string> text = read_file(path, err);
  if (!text) {
    load_result r;
    r.errors.push_back(file_error(path, "cannot read the config file: " + err));
    return r;
  }
  return load_from_string(*text, path);
}

load_result load_with_secrets(const std::string& path, secrets& out, const secret_source& source) {
  load_result r = load(path);
  if (!r.config) return r;
  secrets read = read_secrets(*r.config, r.errors, source);
  if (!r.errors.empty()) {
    r.config.reset();
    return r;
  }
  out = std::move(read);
  return r;
}

load_result load_with_secrets(const std::string& path, secrets& out) {
  return load_with_secrets(path, out, secret_source::system());
}

}  // namespace qoewatch::config
