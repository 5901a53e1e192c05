// The session model: generated sessions (compact, deterministic from the seed) and
// control sessions (added by tests through POST /_sim/sessions, every key kept verbatim).
// A query reads both through `field`, one value per field name. Pure code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace qoewatch::sim {

/// ENDED: endtime <= now. RUNNING: starttime <= now < endtime. PENDING: not started yet
/// (never returned by a query).
enum class session_status { ended, running, pending };

/// The status of a session with these times at `now` (all epoch seconds).
session_status status_at(std::int64_t starttime, std::int64_t endtime, std::int64_t now);

/// "ENDED", "RUNNING" or "PENDING".
std::string_view to_string(session_status s);

/// One field of one session as a query sees it: missing, an integer, a number, text with
/// static or owned storage, or a control session's verbatim JSON value.
using field = std::variant<std::monostate, std::int64_t, double, std::string_view, std::string,
                           const boost::json::value*>;

/// The field as a number: integers and numbers as they are, text (or a JSON string) when the
/// whole text is a decimal number ("7.4"), otherwise std::nullopt (missing, non-numeric text,
/// bool, null, arrays, objects).
std::optional<double> number_of(const field& f);

/// The field as text for dimension matching: text as it is, integers in decimal, numbers in
/// their shortest round-trip form ("7.4"); std::nullopt for missing, bool, null, arrays,
/// objects. The result may view `f` (or its JSON value): keep `f` alive while using it.
std::optional<std::string_view> text_of(const field& f, std::string& scratch);

/// The field as the JSON value a response row carries. Precondition: not missing.
boost::json::value json_of(const field& f);

// ---- generated sessions ----

/// Generated metric values, already rounded as they are reported.
struct generated_metrics {
  double latency = 0;              // seconds
  double cirrbufferingratio = 0;   // percent of watch time rebuffering
  double bufferingratio = 0;       // percent of watch time buffering (>= cirrbufferingratio)
  double qualityofexperience = 0;  // 0..100
  double playdur = 0;              // minutes
  double cdn_change_rate = 0;      // CDN switches per minute of watch time
  std::int64_t errors = 0;
  std::int64_t fatalerrors = 0;
  std::int64_t watchtime = 0;  // seconds; starttime = endtime - watchtime
};

/// A generated session: about 120 bytes, dimensions as indexes into fixed tables.
struct generated_session {
  std::uint64_t id = 0;  // sessionid is its 16 lower-case hex digits
  std::int64_t starttime = 0;
  std::int64_t endtime = 0;
  generated_metrics m;
  std::uint8_t device_profile = 0;  // platform, device, player, brand, model
  std::uint8_t location = 0;        // country, city
  std::uint8_t cdn = 0;
  std::uint8_t sourcetype = 0;
  std::uint8_t asset = 0;  // assetname, assetid
  std::uint32_t subscriber = 0;
  std::uint64_t deviceid = 0;
};

/// The 16 lower-case hex digits of `id`.
std::string session_id_text(std::uint64_t id);

/// The named field of a generated session at `now` (status depends on it); missing for a
/// name the generator does not produce.
field get_field(const generated_session& s, std::string_view name, std::int64_t now);

// ---- control sessions ----

/// A session added through the control endpoint. `fields` holds every key as given
/// (including sessionid and endtime); the parsed times are used for selection.
struct control_session {
  std::string sessionid;
  std::int64_t starttime = 0;  // as given, or endtime - 60
  std::int64_t endtime = 0;
  boost::json::object fields;
};

/// The named field: the verbatim value when given; otherwise starttime (endtime - 60) and
/// status are computed; anything else is missing.
field get_field(const control_session& s, std::string_view name, std::int64_t now);

}  // namespace qoewatch::sim
