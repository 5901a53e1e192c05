// A notification's webhook-id, derived from what it says rather than drawn at random: two
// qoewatchd that judge the same data give their notifications the same ids, so a receiver
// that dedupes on webhook-id (and the outbox, which keeps one row per id) sees one message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "fetch/page.hpp"

namespace qoewatch::notify {

/// What a notification is about. Every field that tells two messages apart is here; nothing
/// local to the process (the time of the poll, a random draw) is.
struct message_key {
  std::string_view rule;
  std::string_view sink;
  // "sessions" (the new sessions of a window), "window" (Alertmanager's whole window),
  // "refresh" (a firing alert kept alive), "fired" or "resolved" (a group's transitions).
  std::string_view kind;
  std::string_view incident;  // the incident or group key ("" when none)
  std::int64_t slot = 0;      // the window end the message tells of (0: the key says it)
  std::size_t part = 0;       // the position of the body among those of one event and sink
  std::span<const fetch::session_row* const> sessions;  // the sessions the body lists
};

/// "msg_" and 32 lowercase hex digits: the first 128 bits of SHA-256 over the key's fields.
std::string message_id(const message_key& k);

}  // namespace qoewatch::notify
