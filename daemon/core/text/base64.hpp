// Base64 (RFC 4648, padded) and the secret format built on it that both config (which reads
// sink secrets) and notify (which signs with them) need: Standard Webhooks' "whsec_<base64>".
// Pure code (OpenSSL's codec); text that is not valid gives std::nullopt, never an exception.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace qoewatch::text {

std::string base64_encode(std::string_view bytes);
/// std::nullopt for anything that is not canonical padded base64.
std::optional<std::string> base64_decode(std::string_view text);

/// The HMAC key of a webhook secret: for "whsec_<base64>" (the Standard Webhooks format) the
/// decoded bytes, otherwise the text itself. std::nullopt when "whsec_" is followed by invalid
/// base64 or the key is empty.
std::optional<std::string> signing_key(std::string_view secret);

}  // namespace qoewatch::text
