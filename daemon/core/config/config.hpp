// The configuration as plain structs: what the loader produces and everything after it reads.
// Defaults are member initialisers. No YAML types travel past the loader.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/time_interval.hpp"
#include "duration.hpp"
#include "rules/aggregate.hpp"
#include "rules/dimension_filter.hpp"
#include "rules/expr.hpp"

namespace qoewatch::config {

using namespace std::chrono_literals;

/// Where a value came from, for messages that point at it (1-based line and column).
struct source_location {
  std::string file;
  int line = 0;
  int column = 0;
  bool operator==(const source_location&) const = default;
};

struct smartsight_config {
  std::string base_url = "https://smartsight3.mediamelon.com";  // scheme://host[:port][/prefix]
  std::uint64_t customer_id = 0;
  // Exactly one of these names where the API key is; the key itself is never in the config.
  std::string api_key_file;
  std::string api_key_env;
  source_location api_key_where;  // the api_key_file / api_key_env entry, for messages
  duration timeout = 15s;
  int page_size = 1000;
  std::vector<std::string> extra_metrics;  // metric names beyond SmartSight's dictionary
  std::string ca_file;                     // HTTPS: trust these CAs instead of the system store
  std::uint64_t max_response_bytes = 64ull << 20;  // body cap per response
  int max_pages = 100;                             // pages per poll before the poll fails
  int max_concurrency = 4;                         // requests in flight across all rules
  bool operator==(const smartsight_config&) const = default;
};

struct rule_defaults {
  duration interval = 60s;
  duration window = 10min;
  duration delay = 2min;
};

enum class sink_type { webhook, alertmanager, slack, pagerduty };
/// Every sink type with its name in the config, in the order messages list them. Parsing,
/// to_string and the "supported: ..." hints all read this table.
inline constexpr std::array<std::pair<sink_type, std::string_view>, 4> sink_types{{
    {sink_type::webhook, "webhook"},
    {sink_type::alertmanager, "alertmanager"},
    {sink_type::slack, "slack"},
    {sink_type::pagerduty, "pagerduty"},
}};
std::string_view to_string(sink_type t);

inline constexpr std::string_view pagerduty_events_url = "https://events.pagerduty.com/v2/enqueue";

struct sink_config {
  std::string name;
  sink_type type = sink_type::webhook;
  // webhook and slack: where to POST; pagerduty: the Events API v2 endpoint (defaults to
  // pagerduty_events_url); alertmanager: unused (see urls).
  std::string url;
  // webhook and slack, instead of url: a file holding the URL, for URLs that are secrets
  // (Slack's incoming webhook URLs are). Read with the other secrets; see config::secrets.
  std::string url_file;
  // alertmanager: the base URL of every peer of the cluster, e.g. "http://am1:9093"; alerts are
  // POSTed to <url>/api/v2/alerts on each.
  std::vector<std::string> urls;
  std::map<std::string, std::string> headers;  // extra request headers (webhook)
  std::string secret_file;                     // webhook: Standard Webhooks signing secret
  std::string routing_key_file;                // pagerduty: the integration's routing key
  std::string summary;  // template for the human summary; empty means built in
  std::size_t max_sessions_per_notification = 100;  // alerts per POST; the rest follow
  duration max_age = 24h;                           // undelivered longer than this: dead letter
  double rate_limit = 0;                            // POSTs per second; 0 means the type's default
  int burst = 0;                                    // token bucket size; 0 means the type's default
  source_location where;
  bool operator==(const sink_config&) const = default;
};

/// The sink's rate limit and burst with the type's defaults filled in (slack: 1/s, burst 1,
/// as Slack asks of incoming webhooks; others: 10/s, burst 20).
double effective_rate_limit(const sink_config& s);
int effective_burst(const sink_config& s);

enum class severity { critical, error, warning, info };
/// Every severity with its name in the config (and in alert labels), most severe first.
inline constexpr std::array<std::pair<severity, std::string_view>, 4> severities{{
    {severity::critical, "critical"},
    {severity::error, "error"},
    {severity::warning, "warning"},
    {severity::info, "info"},
}};
std::string_view to_string(severity s);

/// The value a name stands for in one of the tables above; std::nullopt for any other name.
template <class Enum, std::size_t N>
constexpr std::optional<Enum> from_name(
    const std::array<std::pair<Enum, std::string_view>, N>& table, std::string_view name) {
  for (const auto& [value, spelled] : table)
    if (spelled == name) return value;
  return std::nullopt;
}

struct rule_config {
  std::string name;
  std::string description;
  std::string filter_text;          // sent as is
  rules::dimension_filter filter;   // parsed form of filter_text
  std::string qoefilter_text;       // as written; "" only in a population rule without one
  rules::expr condition;            // parsed qoefilter, evaluated locally on every row
  std::vector<std::string> fields;  // extra session fields to fetch and report
  duration interval = 60s;
  duration window = 10min;
  duration delay = 2min;
  config::severity severity = severity::warning;
  std::map<std::string, std::string> labels;
  std::vector<std::string> sinks;  // names of sink_config entries
  int min_sessions = 1;   // offending sessions in a window that make the rule's incident fire
  int resolve_after = 2;  // consecutive successful polls below min_sessions that resolve it
  source_location where;  // the rule's own entry

  // A population rule (one with `when`) judges groups of sessions instead of sessions: every
  // row of the window is fetched (the qoefilter stays here, it only tells which offend), the
  // rows are grouped by the group_by fields, and a group fires when `when` holds over its
  // aggregates. See docs/rules.md.
  std::vector<std::string> group_by;  // session fields; none: the whole window is one group
  std::string when_text;              // as written; "" in a per-session rule
  rules::expr when;
  std::string resolve_when_text;            // as written; "": NOT (when)
  std::optional<rules::expr> resolve_when;  // parsed resolve_when_text
  // The metric aggregates when and resolve_when read (p95(latency), ...), each once, in
  // order of appearance; sessions, offending and ratio are always computed.
  std::vector<rules::aggregate> aggregates;
  int min_sample = 20;  // sessions a group needs in the window to be judged
  int for_polls = 1;    // `for`: successful polls in a row `when` must hold to fire
  int evidence = 10;    // offending sessions sent with a firing group
  int max_groups = 100;  // groups exported as metrics (largest first; firing ones always)

  // Maintenance windows, by name in daemon_config::time_intervals: while any mute interval
  // holds, or (when active ones are named) while none of them does, the rule is evaluated
  // and exported but its notifications are held as under a silence.
  std::vector<std::string> mute_time_intervals;
  std::vector<std::string> active_time_intervals;
  bool population() const { return !when_text.empty(); }
  bool has_qoefilter() const { return !qoefilter_text.empty(); }

  bool operator==(const rule_config&) const = default;
};

// Who may read the daemon's own endpoints, and how (the `web:` section). Both TLS files or
// neither; with basic_auth_users, /metrics and /readyz need one of the users (/healthz stays
// open for liveness probes: it tells nothing but "ok").
struct web_config {
  std::string tls_cert_file;  // PEM chain; as written, or under $CREDENTIALS_DIRECTORY
  std::string tls_key_file;   // PEM private key: a secret, read like the other secrets
  std::map<std::string, std::string> basic_auth_users;  // user name: bcrypt hash ($2a/b/y$)
  source_location tls_where;                            // tls_cert_file's entry
  // Without basic_auth_users the Alertmanager API (/api/v2/) answers only on a loopback
  // listen, so no one on the network can silence the pager; true lifts that.
  bool allow_unauthenticated_writes = false;
  bool tls() const { return !tls_cert_file.empty(); }
  bool operator==(const web_config&) const = default;
};

enum class state_backend { sqlite, postgresql };
/// Every state backend with its name in the config, in the order messages list them.
inline constexpr std::array<std::pair<state_backend, std::string_view>, 2> state_backends{{
    {state_backend::sqlite, "sqlite"},
    {state_backend::postgresql, "postgresql"},
}};
std::string_view to_string(state_backend b);

// Where the daemon keeps its state (the `state:` section): SQLite in state_dir (the default:
// one daemon), or PostgreSQL, shared by replicas that divide the rules between them by leases.
struct state_config {
  state_backend backend = state_backend::sqlite;
  // postgresql: a file holding the libpq connection URI or keyword=value settings, a secret
  // (it holds the password); as written, or under $CREDENTIALS_DIRECTORY. Read with the other
  // secrets (config::secrets::state_url).
  std::string url_file;
  duration lease_ttl = 15s;   // postgresql: how long a rule's lease lasts unless renewed
  duration lease_renew = 5s;  // postgresql: how often its owner renews it; at most lease_ttl / 2
  source_location where;      // the url_file entry (else the state: section), for messages
  // How long an expired silence is kept (and listed) before it is dropped: Alertmanager's
  // --data.retention default.
  duration silence_retention = std::chrono::hours(120);
  bool operator==(const state_config&) const = default;
};

struct daemon_config {
  std::string file;  // the main config file as given
  smartsight_config smartsight;
  std::string listen = "0.0.0.0:9786";
  web_config web;
  std::string state_dir = "/var/lib/qoewatch";  // SQLite's folder; unused with PostgreSQL
  state_config state;
  // After downtime, polls cover from the last processed window end, but never more than this
  // far back; what is older is skipped with a warning.
  duration max_catchup = 1h;
  std::vector<std::string> rule_files;  // patterns as written
  rule_defaults defaults;
  std::vector<sink_config> sinks;
  std::vector<rule_config> rules;  // inline rules first, then rule files in pattern/path order
  // `time_intervals:` as in Alertmanager's config: named maintenance windows the rules'
  // mute_time_intervals and active_time_intervals refer to.
  std::vector<named_time_interval> time_intervals;
};

/// Where the state lives, as --check-config, the start line and reload warnings say it:
/// "SQLite at /var/lib/qoewatch", or "PostgreSQL (URL from FILE; leases of 15s renewed every
/// 5s)". Names the URL's file, never the URL.
std::string describe_state(const daemon_config& cfg);

/// The rule or sink of `items` called `name`; nullptr when there is none.
template <class T>
const T* named(const std::vector<T>& items, std::string_view name) {
  for (const T& i : items)
    if (i.name == name) return &i;
  return nullptr;
}

}  // namespace qoewatch::config
