#include <initializer_list>
#include <string_view>

#include "config/common.hpp"
#include "config/sections.hpp"

namespace qoewatch::config::sections {

namespace {

// A key that looks like the connection string itself: say where it belongs instead of
// "unknown key". Never repeat its value: it may hold the password.
std::optional<std::string> literal_url(const std::string& key) {
  if (key == "url" || key == "uri" || key == "dsn" || key == "conninfo")
    return "the connection URL does not belong in the config file (it holds the database "
           "password; put it in a file named by url_file)";
  if (key == "password")
    return "a password does not belong in the config file (put the whole connection URL, "
           "password included, in a file named by url_file)";
  return std::nullopt;
}

// The backend from state_backends; std::nullopt when it is not one (reported).
std::optional<state_backend> read_backend(const yaml::node& v) {
  std::optional<std::string> name = v.text();
  if (!name) return std::nullopt;
  if (std::optional<state_backend> known = from_name(state_backends, *name)) return known;
  std::string near = nearest(*name, names_of(state_backends));
  v.error("unknown state backend " + in_quotes(*name) + " (" +
          (near.empty() ? std::string{} : "did you mean " + in_quotes(near) + "? ") +
          "supported: " + join_list(names_of(state_backends)) + ")");
  return std::nullopt;
}

// The duration at `v`, if it is at least `least`; std::nullopt when it is not a duration or
// shorter (reported, with `why` it must not be).
std::optional<duration> at_least(const yaml::node& v, duration least, std::string_view why) {
  std::optional<duration> d = v.duration_value(false);
  if (!d || *d >= least) return d;
  v.error(format_duration(*d) + " is too short (write at least " + format_duration(least) + ": " +
          std::string(why) + ")");
  return std::nullopt;
}

// lease_ttl and lease_renew of a postgresql backend. A replica renews at least twice per
// lease, so that one renewal lost to a slow round trip does not hand its rules to another.
void leases(const yaml::node& n, state_config& out) {
  yaml::node ttl = n["lease_ttl"];
  yaml::node renew = n["lease_renew"];
  bool ok = true;
  if (ttl) {
    if (auto d = at_least(ttl, 1s, "a lease must outlast a few round trips to the database"))
      out.lease_ttl = *d;
    else
      ok = false;
  }
  if (renew) {
    if (auto d = at_least(renew, 100ms, "each renewal is a round trip to the database"))
      out.lease_renew = *d;
    else
      ok = false;
  }
  if (!ok || out.lease_renew * 2 <= out.lease_ttl) return;
  const std::string why = ", so that one lost renewal does not lose the lease)";
  if (renew)
    renew.error(format_duration(out.lease_renew) + " is more than half of lease_ttl " +
                format_duration(out.lease_ttl) + " (write at most " +
                format_duration(out.lease_ttl / 2) + why);
  else
    ttl.error(format_duration(out.lease_ttl) + " is less than twice lease_renew " +
              format_duration(out.lease_renew) +
              ", the default (write lease_ttl: " + format_duration(out.lease_renew * 2) +
              " or more, or lease_renew: " + format_duration(out.lease_ttl / 2) + " or less" + why);
}

}  // namespace

void state(const yaml::node& n, const yaml::node& state_dir, state_config& out) {
  if (!n.check_map({"backend", "url_file", "lease_ttl", "lease_renew", "silence_retention"},
                   "backend: sqlite or postgresql, url_file, lease_ttl, lease_renew, "
                   "silence_retention",
                   literal_url))
    return;
  out.where = n.where();
  // Silences are kept alike in either backend: read before the backend decides the rest.
  if (yaml::node v = n["silence_retention"])
    if (std::optional<duration> d = v.duration_value(false)) out.silence_retention = *d;
  if (yaml::node v = n["backend"]) {
    // Which keys belong depends on the backend: without one, judging them would only guess.
    std::optional<state_backend> b = read_backend(v);
    if (!b) return;
    out.backend = *b;
  }
  if (out.backend == state_backend::sqlite) {
    // Settings SQLite ignores would let an operator believe in replicas that do not exist.
    if (yaml::node v = n["url_file"])
      v.error(
          "not used with backend sqlite, which keeps the state in state_dir (write backend: "
          "postgresql to keep it in PostgreSQL, or remove url_file)");
    for (const char* key : {"lease_ttl", "lease_renew"})
      if (yaml::node v = n[key])
        v.error(
            "not used with backend sqlite: leases share rules between replicas on PostgreSQL "
            "(write backend: postgresql, or remove " +
            std::string(key) + ")");
    return;
  }
  if (yaml::node v = n["url_file"]) {
    if (std::optional<std::string> p = v.secret_path()) {
      out.url_file = *p;
      out.where = v.where();
    }
  } else {
    n.missing("url_file",
              "missing (required with backend postgresql: a file holding the libpq connection "
              "URL, e.g. $CREDENTIALS_DIRECTORY/pg_url)");
  }
  leases(n, out);
  if (state_dir)
    state_dir.error(
        "not used with state.backend postgresql, which keeps the state in the database (remove "
        "state_dir, or write backend: sqlite)");
}

}  // namespace qoewatch::config::sections
