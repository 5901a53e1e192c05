// What the state database records, as plain values: the rows a poll of a rule produces
// (outbox notifications, notified pairs, the rule's incident) and the commit that writes
// them together. Produced by the pure rule step (evaluate/step.hpp), written by the store
// (io/state/store.hpp). No I/O here.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace qoewatch::state {

/// A notification waiting in the outbox.
struct outbox_row {
  std::string id;  // webhook-id: unique, the same on every attempt and after restarts
  std::string sink;
  std::string rule;
  std::string body;
  double created_at = 0;  // epoch seconds
  int attempts = 0;
  std::string last_error;  // of the last failed attempt, "" before any
  std::string sink_type;   // the type of sink the body was written for ("" before schema v2)
  bool operator==(const outbox_row&) const = default;
};

/// A silence as the state database stores it (silence/silence.hpp is the live form): its
/// matchers as the API's JSON array, read and checked again when loaded.
struct silence_row {
  std::string id;
  std::string matchers;        // [{"isEqual":..,"isRegex":..,"name":..,"value":..}, ...]
  std::int64_t starts_at = 0;  // ms since the epoch
  std::int64_t ends_at = 0;
  std::int64_t updated_at = 0;
  std::string created_by;
  std::string comment;
  bool operator==(const silence_row&) const = default;
};

struct dead_letter {
  std::string id;
  std::string sink;
  std::string rule;
  std::string body;
  double created_at = 0;
  double dead_at = 0;
  int attempts = 0;
  std::string reason;  // e.g. "HTTP 400: bad payload", "undelivered after 24h (last: HTTP 503)"
  bool operator==(const dead_letter&) const = default;
};

/// A rule's incident while it fires (no row when it does not); for a population rule, one
/// firing group's.
struct incident_row {
  std::string rule;
  std::string key;
  double started_at = 0;
  int polls_below = 0;
  std::vector<std::string> sinks;  // the rule's sinks when it was last recorded
  // A population rule's firing group: each group_by dimension with its value, in order.
  std::vector<std::pair<std::string, std::string>> group;
  bool operator==(const incident_row&) const = default;
};

struct notified_row {
  std::string rule;
  std::string sessionid;
  std::int64_t ended_at = 0;  // when the session ended, epoch seconds rounded up
  bool operator==(const notified_row&) const = default;
};

/// Everything a state holds, as --migrate-state copies it from one store into another.
struct snapshot {
  std::map<std::string, std::int64_t> checkpoints;  // rule: end of its last processed window
  std::vector<notified_row> notified;               // by rule, then session
  std::vector<incident_row> incidents;              // firing incidents, per-session rules
  std::vector<incident_row> group_incidents;        // firing groups, population rules
  std::vector<outbox_row> outbox;                   // pending, in insertion order
  std::vector<dead_letter> dead_letters;            // oldest first
  std::vector<silence_row> silences;                // expired ones too, in id order
  bool operator==(const snapshot&) const = default;
};

/// Everything one successful poll of one rule decided, written atomically.
struct poll_commit {
  std::string rule;
  std::optional<std::int64_t> checkpoint;  // new end of the last fully processed window
  std::vector<notified_row> notified;      // pairs to record (rule field as given)
  std::vector<outbox_row> outbox;          // notifications to queue (attempts 0)
  // The incident after the poll: a row replaces the rule's incident; std::nullopt with
  // clear_incident deletes it; std::nullopt without clear_incident leaves it as is.
  std::optional<incident_row> incident;
  bool clear_incident = false;
  // A population rule's firing groups after the poll: when set, they replace all of the
  // rule's group incidents (an empty list clears them).
  std::optional<std::vector<incident_row>> groups;
  // The epoch of the rule's lease this poll was decided under (replicas on PostgreSQL): the
  // commit is written only while this replica still holds that lease. 0: not fenced (SQLite,
  // and writes about rules no replica polls).
  std::int64_t epoch = 0;
};

/// What a commit did besides writing everything it was given.
struct commit_result {
  // Outbox rows whose id the outbox already held: the row there (the first body) is kept and
  // these are not queued again. Replicas, or one window judged twice, make the same id.
  std::vector<std::string> duplicate_ids;
  // Rules whose commits were refused because this replica no longer holds their lease at
  // the commit's epoch (another replica took the rule over): nothing of those commits was
  // written, the rest of the batch was.
  std::vector<std::string> refused_rules;
};

}  // namespace qoewatch::state
