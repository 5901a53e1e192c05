// Standard Webhooks signatures (https://www.standardwebhooks.com): a receiver that knows the
// sink's secret checks that a POST came from this qoewatch and was not altered or replayed.
// Pure code (OpenSSL's HMAC, no I/O).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace qoewatch::notify {

/// The HMAC key of a secret: for "whsec_<base64>" (the spec's format) the decoded bytes,
/// otherwise the text itself. std::nullopt when "whsec_" is followed by invalid base64 or the
/// key is empty.
std::optional<std::string> signing_key(std::string_view secret);

/// The webhook-signature header value: "v1," + base64(HMAC-SHA256(key, id "." timestamp "."
/// body)).
std::string signature(std::string_view key, std::string_view id, std::int64_t timestamp,
                      std::string_view body);

std::string base64_encode(std::string_view bytes);
/// std::nullopt for anything that is not canonical padded base64.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace qoewatch::notify
