// When the state database forgets notified pairs: the expiry policy, with the clock passed in.
// After each poll a rule notes the bound below which its pairs can go (evaluate::forget_before
// from the checkpoint the database holds: after a crash, polling resumes from there). The
// noted bounds are applied together, in one transaction at most once a minute: one each was
// ~17 disk syncs a second with a thousand rules. Pure code.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace qoewatch::state {

class expiry_schedule {
 public:
  static constexpr std::int64_t period_seconds = 60;

  /// The rule's pairs that ended before `before` may go.
  void note(const std::string& rule, std::int64_t before) { bounds_[rule] = before; }
  /// At `now` (epoch seconds): the bounds to apply now, or std::nullopt until a minute has
  /// passed since the last time. Noted bounds stay until forgotten() says they were applied.
  std::optional<std::map<std::string, std::int64_t>> due(std::int64_t now) {
    if (now < next_) return std::nullopt;
    next_ = now + period_seconds;
    return bounds_;
  }
  /// The bounds due() returned are applied.
  void forgotten() { bounds_.clear(); }
  /// A reload: bounds computed with old settings are dropped.
  void clear() { bounds_.clear(); }

 private:
  std::int64_t next_ = 0;
  std::map<std::string, std::int64_t> bounds_;
};

}  // namespace qoewatch::state
