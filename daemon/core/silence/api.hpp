// The JSON of Alertmanager's API v2 for silences and alerts, as amtool 0.25 sends and reads
// it: a postable silence decoded with Alertmanager's statuses and words for each problem (400
// with a JSON string for what amtool prints, 422 with {"code","message"} for what its schema
// layer refuses), and the gettable silence, alert and status objects with every field amtool
// reads (a missing one makes it crash). Times are written in UTC with milliseconds. Pure code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "silence/silence.hpp"
#include "state/records.hpp"

namespace qoewatch::silence {

/// An answer's status and body (JSON text, "" for none).
struct api_answer {
  unsigned status = 200;
  std::string body;
};

/// A JSON string body (what amtool prints after the status).
api_answer api_error(unsigned status, std::string_view message);

struct decoded_postable {
  std::optional<postable> ok;
  api_answer error;  // when !ok
};

/// POST /api/v2/silences' body.
decoded_postable decode_postable(std::string_view body);

/// The filter matchers of a query (each `filter=` value, decoded), or the 400 answer for the
/// first bad one.
struct decoded_filter {
  std::vector<matcher> matchers;
  std::optional<api_answer> error;
};
decoded_filter decode_filter(const std::vector<std::string>& values);

/// One silence as GET /api/v2/silence/{id} answers it.
std::string encode_silence(const silence& s, std::int64_t now);

/// The silences as GET /api/v2/silences answers them, in the order given.
std::string encode_silences(const std::vector<silence>& list, std::int64_t now);

/// `{"silenceID": id}`.
std::string encode_silence_id(std::string_view id);

/// An alert as GET /api/v2/alerts lists it.
struct alert {
  label_set labels;
  label_set annotations;
  std::int64_t starts_at = 0;  // ms
  std::int64_t ends_at = 0;
  std::int64_t updated_at = 0;
  std::string fingerprint;             // of the labels: notify::fingerprint, as sinks get it
  std::string generator_url;           // omitted when empty
  std::vector<std::string> receivers;  // the rule's sinks
  std::vector<std::string> silenced_by;
  bool muted = false;  // by a time interval of the rule: suppressed with no silence
};

/// The alerts sorted by their fingerprint; each "suppressed" when silenced or muted, else "active".
std::string encode_alerts(const std::vector<alert>& alerts);

/// GET /api/v2/status: `version` is the API level amtool compares with its own, so that it
/// does not warn; qoewatch's own version goes in `revision`.
std::string encode_status(std::string_view qoewatch_version, std::int64_t started_at);

/// A silence as the state database stores it.
qoewatch::state::silence_row to_row(const silence& s);

/// A stored silence back in its live form, its matchers checked again (a row written by
/// another version, or edited by hand): the error names the silence and what is wrong.
struct loaded_silence {
  std::optional<silence> ok;
  std::string error;
};
loaded_silence from_row(const qoewatch::state::silence_row& row);

}  // namespace qoewatch::silence
