// Silences as Alertmanager keeps them, so that amtool manages qoewatch's like its own: a
// silence mutes every alert whose labels all its matchers match, from startsAt to endsAt.
// What a create, an update or an expiry does to the set is decided here, with the clock and
// the id source passed in; the caller stores what `write` lists. Alertmanager's rules
// (v0.25): an update with the same matchers, in the same order, of a silence not yet expired is
// made in place (an active one keeps its start, to the second); any other update expires the
// old silence and makes a new one. Unlike v0.25, a request is validated before the old silence
// is expired, so a refused update changes nothing. Times are milliseconds since the UTC
// epoch. Pure code.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "silence/matcher.hpp"

namespace qoewatch::silence {

struct silence {
  std::string id;  // lowercase UUIDv4
  std::vector<matcher> matchers;
  std::int64_t starts_at = 0;  // ms since the epoch
  std::int64_t ends_at = 0;
  std::int64_t updated_at = 0;
  std::string created_by;
  std::string comment;
};

enum class state { pending, active, expired };

/// "pending", "active", "expired".
std::string_view to_string(state s);

/// Pending before startsAt, active from startsAt until endsAt, expired from endsAt on.
state state_at(const silence& s, std::int64_t now);

/// What POST /api/v2/silences carries: an id to update, or none for a new silence.
struct postable {
  std::optional<std::string> id;
  std::vector<matcher> matchers;
  std::int64_t starts_at = 0;
  std::int64_t ends_at = 0;
  std::string created_by;
  std::string comment;
};

/// What a request decided: on success (status 200) the silence it made or updated (`id`) and
/// the records to store, each replacing any stored under its id; otherwise the HTTP status
/// and Alertmanager's words for the problem, and nothing to store.
struct change {
  unsigned status = 200;
  std::string error;
  std::string id;
  std::vector<silence> write;
};

/// Creates or updates a silence. `new_id` is called for a new silence only.
change post(const std::vector<silence>& current, postable p, std::int64_t now,
            const std::function<std::string()>& new_id);

/// Expires a silence: an active one ends now, a pending one starts and ends now, an expired
/// one is left as it is (200, nothing to store). An unknown id: 500 "silence not found", the
/// status Alertmanager 0.25 answers and amtool prints the message of.
change expire(const std::vector<silence>& current, std::string_view id, std::int64_t now);

/// The ids of the silences to forget: expired for `retention_ms` or longer.
std::vector<std::string> collect(const std::vector<silence>& current, std::int64_t now,
                                 std::int64_t retention_ms);

/// The ids of the active silences that mute an alert with these labels, in set order.
std::vector<std::string> silenced_by(const std::vector<silence>& current, const label_set& labels,
                                     std::int64_t now);

/// Whether a silence is listed under the API's `filter`: each filter matcher is one of the
/// silence's matchers (same name, type and value text; regexes are not evaluated).
bool listed_under(const silence& s, const std::vector<matcher>& filter);

/// In the order the API lists them: active by endsAt, pending by startsAt, then expired by
/// endsAt, the latest first.
void sort_for_listing(std::vector<silence>& silences, std::int64_t now);

/// A lowercase UUIDv4 from 128 random bits.
std::string uuid_v4(std::uint64_t high, std::uint64_t low);

/// Whether `text` is a UUID in its canonical text form (any case).
bool is_uuid(std::string_view text);

}  // namespace qoewatch::silence
