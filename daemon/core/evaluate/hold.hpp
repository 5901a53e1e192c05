// What holds a rule's notifications back at one step: the silences in effect (Alertmanager's,
// made through the API) and the rule's maintenance windows. Evaluation and metrics go on; only
// what would be sent is held. Pure code: the silences and the time are passed in.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "config/config.hpp"
#include "silence/silence.hpp"

namespace qoewatch::evaluate {

class holds {
 public:
  holds() = default;
  /// `silences` may be null (none); `now` is epoch seconds.
  holds(const config::rule_config& rule, const config::daemon_config& cfg,
        const std::vector<silence::silence>* silences, double now);

  /// Whether anything can be held: a mute, or a silence active now. When false, held() is
  /// false for every label set and callers need not build any.
  bool any() const { return muted_ || !active_.empty(); }
  bool muted() const { return muted_; }

  /// Whether an alert with these labels is held: the rule is muted, or an active silence
  /// matches every one of them.
  bool held(const silence::label_set& labels) const;

  /// Whether a session's alert can be held when its incident's is not, or the reverse: only
  /// a silence with a sessionid matcher tells them apart (their labels differ by sessionid).
  bool sessions_differ() const { return sessions_differ_; }

 private:
  bool muted_ = false;
  bool sessions_differ_ = false;
  // The silences active now that can match this rule's alerts: one whose alertname matcher
  // refuses the rule's name never does.
  std::vector<const silence::silence*> active_;
};

}  // namespace qoewatch::evaluate
