#include "deliver/policy.hpp"

#include <algorithm>
#include <cmath>

namespace qoewatch::deliver {

verdict classify(unsigned status) {
  if (status >= 200 && status < 300) return verdict::delivered;
  if (status == 408 || status == 429 || status >= 500) return verdict::retry;
  return verdict::dead;
}

std::chrono::milliseconds retry_delay(int failures, double unit,
                                      std::optional<std::chrono::seconds> retry_after) {
  // 2^(failures-1) seconds, without overflowing for a notification that failed all day.
  int doublings = std::clamp(failures - 1, 0, 30);
  auto ceiling = std::min<std::chrono::milliseconds>(first_backoff * (std::int64_t{1} << doublings),
                                                     max_backoff);
  auto wait = std::chrono::milliseconds(
      static_cast<std::int64_t>(std::clamp(unit, 0.0, 1.0) * static_cast<double>(ceiling.count())));
  if (retry_after) wait = std::max<std::chrono::milliseconds>(wait, *retry_after);
  return wait;
}

token_bucket::token_bucket(double rate, int burst, clock::time_point now)
    : rate_(rate > 0 ? rate : 1.0), burst_(std::max(burst, 1)), tokens_(burst_), last_(now) {}

void token_bucket::refill(clock::time_point now) {
  if (now <= last_) return;
  double seconds = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(burst_, tokens_ + seconds * rate_);
  last_ = now;
}

std::chrono::milliseconds token_bucket::take(clock::time_point now) {
  refill(now);
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return std::chrono::milliseconds(0);
  }
  double seconds = (1.0 - tokens_) / rate_;
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(seconds * 1000.0)));
}

}  // namespace qoewatch::deliver
