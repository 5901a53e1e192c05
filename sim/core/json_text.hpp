// Compact JSON text for response bodies. Pure code.
#pragma once

#include <string>
#include <string_view>

#include <boost/json/value.hpp>

namespace qoewatch::sim {

/// Serializes `v` compactly. Unlike boost::json::serialize, doubles print in their shortest
/// round-trip decimal form ("7.4", not "7.4E0"), the way the vendor's bodies look.
std::string to_json_text(const boost::json::value& v);

/// A number in its shortest round-trip decimal form ("7.4", "1e+21", "0" for -0), as bodies
/// print it and as a numeric dimension is matched by a filter.
std::string number_text(double v);

}  // namespace qoewatch::sim
