// Compact JSON text for response bodies. Pure code.
#pragma once

#include <string>

#include <boost/json/value.hpp>

namespace qoewatch::sim {

/// Serializes `v` compactly. Unlike boost::json::serialize, doubles print in their shortest
/// round-trip decimal form ("7.4", not "7.4E0"), the way the vendor's bodies look.
std::string to_json_text(const boost::json::value& v);

}  // namespace qoewatch::sim
