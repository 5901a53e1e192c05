// Faults the simulator injects into its listsessions answers when a test switches them on
// (PUT /_sim/faults): a share of the requests gets each kind, drawn per request from a seeded
// generator, so a soak run is repeatable. Pure: the server carries out the transport faults
// (slow, reset) that an api_response asks for.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <variant>

namespace qoewatch::sim {

enum class fault_kind : std::size_t {
  server_error,    // HTTP 500, 502 or 503 with an error body
  throttle,        // HTTP 429 with Retry-After
  slow,            // the right answer, sent after slow_ms (longer than a client's timeout)
  reset,           // the headers and half the body, then the connection is reset
  truncated,       // HTTP 200, the body cut in the middle: not JSON
  malformed,       // HTTP 200, a body that is not JSON though complete
  wrong_types,     // HTTP 200, JSON whose rows hold text where numbers belong
  lying_counters,  // HTTP 200, the right rows under totalcount and pagecount that are wrong
  oversized,       // HTTP 200 with a Content-Length of oversized_bytes: the page, then spaces
  endless,         // HTTP 200, a chunked body that never ends
  trickle,         // the right answer, one byte every trickle_ms (a slow-loris peer)
  huge_header,     // HTTP 200 whose header never ends: filler lines until the client gives up
};
inline constexpr std::size_t fault_kind_count = 12;

/// "server_error", "throttle", ...: the keys of a fault plan.
std::string_view to_string(fault_kind k);

struct fault_plan {
  std::array<double, fault_kind_count> shares{};  // by fault_kind; they add up to at most 1
  int retry_after_seconds = 1;                    // throttle
  int slow_ms = 20'000;                           // slow
  std::int64_t oversized_bytes = 100'000'000;     // oversized
  int trickle_ms = 200;                           // trickle
};

/// Reads a plan: {"server_error": 0.1, "throttle": 0.05, "retry_after": 2, "slow": 0.02,
/// "slow_ms": 20000, ...}; kinds left out have no share. The error names the key and why.
std::variant<fault_plan, std::string> parse_fault_plan(std::string_view json);

/// The plan and what was injected so far, as JSON (GET /_sim/faults).
std::string describe(const fault_plan& plan,
                     const std::array<std::uint64_t, fault_kind_count>& injected);

class fault_injector {
 public:
  explicit fault_injector(std::uint64_t seed) : rng_(seed) {}

  void set(const fault_plan& plan) { plan_ = plan; }
  void clear() { plan_ = {}; }
  const fault_plan& plan() const { return plan_; }
  const std::array<std::uint64_t, fault_kind_count>& injected() const { return injected_; }

  /// The fault for the next listsessions request, if any (counted as injected).
  std::optional<fault_kind> draw();

  /// 500, 502 or 503.
  unsigned server_error_status();

  /// A 200 body after a body fault (truncated, malformed, wrong_types, lying_counters).
  std::string corrupt(fault_kind k, std::string body);

 private:
  std::mt19937_64 rng_;
  fault_plan plan_;
  std::array<std::uint64_t, fault_kind_count> injected_{};
};

}  // namespace qoewatch::sim
