// Keeping secrets out of what qoewatch writes down. A receiver or gateway that echoes the
// request (headers, body, URL) in an error answer would otherwise put the API key, a routing
// key or a Slack webhook URL into the log, the outbox's last_error and the dead letters.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace qoewatch {

/// The text that replaces a secret.
inline constexpr const char* redacted = "[redacted]";

/// `text` with every occurrence of each secret replaced by "[redacted]", longest secrets
/// first (so a URL goes whole, not around a token inside it). Secrets shorter than 6
/// characters are left alone: they would blank out ordinary words, and no real credential is
/// that short.
std::string redact(std::string text, std::vector<std::string> secrets);

/// A PostgreSQL connection string fit for a log line: where it connects, without its
/// passwords. A postgresql:// (or postgres://) URI loses the password of its user part and its
/// password= and sslpassword= parameters (postgresql://app:pw@db/q -> postgresql://app@db/q);
/// keyword=value settings lose their password= and sslpassword= settings. Everything else is
/// kept as written. Text that is neither form (keyword=value text libpq could not read, such
/// as an unterminated quote) becomes "[redacted]" whole: a password in it cannot be found.
std::string redact_url(std::string_view url);

}  // namespace qoewatch
