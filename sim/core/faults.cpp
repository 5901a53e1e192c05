#include "core/faults.hpp"

#include <boost/json.hpp>
#include <cmath>

namespace qoewatch::sim {

namespace json = boost::json;

namespace {

constexpr std::array<std::string_view, fault_kind_count> names = {
    "server_error", "throttle",       "slow",      "reset",   "truncated", "malformed",
    "wrong_types",  "lying_counters", "oversized", "endless", "trickle",   "huge_header"};

std::string known_keys() {
  std::string out;
  for (std::string_view n : names) out += std::string(n) + ", ";
  return out + "retry_after, slow_ms, oversized_bytes or trickle_ms";
}

// A whole number in [low, high], or an error naming `key`.
std::variant<int, std::string> whole(const json::value& v, std::string_view key, int low,
                                     int high) {
  const std::string range = std::to_string(low) + ".." + std::to_string(high);
  if (!v.is_int64() && !v.is_uint64())
    return std::string(key) + ": expected a whole number in " + range;
  const double n = v.to_number<double>();
  if (n < low || n > high)
    return std::string(key) + ": " + json::serialize(v) + " is not in " + range;
  return static_cast<int>(n);
}

}  // namespace

std::string_view to_string(fault_kind k) {
  return names[static_cast<std::size_t>(k)];
}

std::variant<fault_plan, std::string> parse_fault_plan(std::string_view text) {
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec) return "not JSON: " + ec.message();
  if (!doc.is_object()) return std::string("expected a JSON object of fault shares");
  fault_plan plan;
  double total = 0;
  for (const auto& [key, value] : doc.as_object()) {
    if (key == "retry_after" || key == "slow_ms" || key == "oversized_bytes" ||
        key == "trickle_ms") {
      auto n = key == "retry_after"       ? whole(value, key, 0, 3600)
               : key == "oversized_bytes" ? whole(value, key, 1, 2'000'000'000)
                                          : whole(value, key, 1, 600'000);
      if (auto* error = std::get_if<std::string>(&n)) return *error;
      if (key == "retry_after")
        plan.retry_after_seconds = std::get<int>(n);
      else if (key == "slow_ms")
        plan.slow_ms = std::get<int>(n);
      else if (key == "oversized_bytes")
        plan.oversized_bytes = std::get<int>(n);
      else
        plan.trickle_ms = std::get<int>(n);
      continue;
    }
    std::size_t kind = 0;
    while (kind < names.size() && names[kind] != key) ++kind;
    if (kind == names.size())
      return "unknown key \"" + std::string(key) + "\" (use " + known_keys() + ")";
    if (!value.is_number() || !std::isfinite(value.to_number<double>()) ||
        value.to_number<double>() < 0 || value.to_number<double>() > 1)
      return std::string(key) + ": expected a share from 0 to 1";
    plan.shares[kind] = value.to_number<double>();
    total += plan.shares[kind];
  }
  if (total > 1 + 1e-9)
    return "the shares add up to " + json::serialize(json::value(total)) + ", more than 1";
  return plan;
}

std::string describe(const fault_plan& plan,
                     const std::array<std::uint64_t, fault_kind_count>& injected) {
  json::object shares, counts;
  for (std::size_t k = 0; k < fault_kind_count; ++k) {
    if (plan.shares[k] > 0) shares[names[k]] = plan.shares[k];
    counts[names[k]] = injected[k];
  }
  shares["retry_after"] = plan.retry_after_seconds;
  shares["slow_ms"] = plan.slow_ms;
  shares["oversized_bytes"] = plan.oversized_bytes;
  shares["trickle_ms"] = plan.trickle_ms;
  return json::serialize(json::object{{"plan", shares}, {"injected", counts}});
}

std::optional<fault_kind> fault_injector::draw() {
  double total = 0;
  for (double s : plan_.shares) total += s;
  if (total <= 0) return std::nullopt;
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  double below = 0;
  for (std::size_t k = 0; k < fault_kind_count; ++k) {
    below += plan_.shares[k];
    if (u < below) {
      ++injected_[k];
      return static_cast<fault_kind>(k);
    }
  }
  return std::nullopt;
}

unsigned fault_injector::server_error_status() {
  static constexpr unsigned statuses[] = {500, 502, 503};
  return statuses[std::uniform_int_distribution<int>(0, 2)(rng_)];
}

std::string fault_injector::corrupt(fault_kind k, std::string body) {
  switch (k) {
    case fault_kind::truncated:
      body.resize(body.size() / 2);
      return body;
    case fault_kind::malformed:
      // A page is an object: closing it as an array leaves a complete text that is not JSON.
      if (!body.empty()) body.back() = ']';
      return body;
    case fault_kind::wrong_types:
    case fault_kind::lying_counters: {
      boost::system::error_code ec;
      json::value doc = json::parse(body, ec);
      if (ec || !doc.is_object()) return body;
      json::object& page = doc.as_object();
      if (k == fault_kind::lying_counters) {
        // As if the window were empty, while the rows are all there.
        page["totalcount"] = 0;
        page["pagecount"] = 0;
        return json::serialize(doc);
      }
      if (json::value* rows = page.if_contains("response"); rows && rows->is_array())
        for (json::value& row : rows->as_array())
          if (row.is_object())
            for (auto& [key, value] : row.as_object())
              if (value.is_number()) value = "n/a";
      return json::serialize(doc);
    }
    default:
      return body;
  }
}

}  // namespace qoewatch::sim
