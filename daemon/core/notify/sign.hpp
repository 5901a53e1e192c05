// Standard Webhooks signatures (https://www.standardwebhooks.com): a receiver that knows the
// sink's secret checks that a POST came from this qoewatch and was not altered or replayed.
// Pure code (OpenSSL's HMAC, no I/O).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "text/base64.hpp"

namespace qoewatch::notify {

// The secret's format and base64 live in text/ (config reads secrets with them too).
using text::base64_decode;
using text::base64_encode;
using text::signing_key;

/// The webhook-signature header value: "v1," + base64(HMAC-SHA256(key, id "." timestamp "."
/// body)).
std::string signature(std::string_view key, std::string_view id, std::int64_t timestamp,
                      std::string_view body);

}  // namespace qoewatch::notify
