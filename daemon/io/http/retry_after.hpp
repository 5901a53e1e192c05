// Reading a server's Retry-After header, shared by the SmartSight poller and webhook delivery.
#pragma once

#include <chrono>
#include <optional>

#include "http/client.hpp"

namespace qoewatch::http {

/// The delay a Retry-After header asks for, in its delta-seconds form, capped at one hour so
/// a hostile or broken server cannot silence qoewatch. HTTP dates and junk give std::nullopt.
std::optional<std::chrono::seconds> retry_after(const response& r);

}  // namespace qoewatch::http
