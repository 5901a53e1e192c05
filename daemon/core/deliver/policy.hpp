// How a notification is delivered, decided without I/O: what an HTTP answer means for it, how
// long to wait before the next attempt, and the per-sink rate limit. The clock and the
// randomness are passed in, so all of it is table-testable.
#pragma once

#include <chrono>
#include <optional>

namespace qoewatch::deliver {

enum class verdict { delivered, retry, dead };

/// 2xx: delivered. 408, 429, 5xx: retry. Any other status: dead (repeating cannot succeed).
verdict classify(unsigned status);

inline constexpr std::chrono::milliseconds first_backoff{1000};
inline constexpr std::chrono::milliseconds max_backoff{5 * 60 * 1000};

/// The wait before attempt `failures + 1`, after `failures` (>= 1) failed ones: full jitter,
/// `unit` (uniform in [0, 1)) times the ceiling 1 s x 2^(failures - 1), capped at 5 min; never
/// shorter than the receiver's Retry-After.
std::chrono::milliseconds retry_delay(int failures, double unit,
                                      std::optional<std::chrono::seconds> retry_after);

/// A token bucket: `rate` tokens per second, at most `burst` stored; starts full.
class token_bucket {
 public:
  using clock = std::chrono::steady_clock;
  token_bucket(double rate, int burst, clock::time_point now);
  /// Takes a token when one is available (returns 0); otherwise takes nothing and returns
  /// how long until one will be.
  std::chrono::milliseconds take(clock::time_point now);

 private:
  void refill(clock::time_point now);
  double rate_;
  double burst_;
  double tokens_;
  clock::time_point last_;
};

}  // namespace qoewatch::deliver
