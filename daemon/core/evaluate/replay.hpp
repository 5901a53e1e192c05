// A rule's polls replayed without I/O: the backtest (--backtest) and the rule unit tests
// (--test-rules) judge windows they build themselves, and hand each poll's outcome here. Each
// poll runs the daemon's own rule step, then remembers the sessions it notified and forgets
// those no later window can hold, as the rule runner does after every poll (io/run). Nothing is
// durable and no silence applies (the API's silences live in the state database); the rule's
// maintenance windows (time_intervals) hold notifications as in the daemon. Pure code: the
// poll's time is passed in.
#pragma once

#include <functional>
#include <memory>
#include <span>

#include "config/config.hpp"
#include "evaluate/poll.hpp"
#include "evaluate/step.hpp"
#include "fetch/page.hpp"
#include "fetch/query.hpp"
#include "state/records.hpp"

namespace qoewatch::evaluate {

/// An outcome ready to judge the window `w` of `rule`: a per-session rule's accumulator (in
/// memory, no spill) or a population rule's groups, as the poller prepares them (`api` sizes
/// a population poll: page_size x max_pages). Add pages to it, then call conclude().
poll_outcome prepare_outcome(const config::rule_config& rule, const config::smartsight_config& api,
                             fetch::window w);

/// The pages of `out` are all in: a population rule's groups become their figures, and the
/// outcome is `polled`.
void conclude(poll_outcome& out);

/// Adds rows to an outcome prepared by prepare_outcome, as one page of `rows` (none skipped).
void add_rows(poll_outcome& out, const fetch::page& rows);
/// Sizes a population rule's tables for a window known to hold `rows` rows, before any is
/// added (nothing for a per-session rule).
void expect_rows(poll_outcome& out, std::size_t rows);
/// The same for rows taken from a longer run (each counts as fetched).
void add_rows(poll_outcome& out, std::span<const fetch::session_row> rows);

class replay {
 public:
  /// `cfg` and `rule` (one of cfg.rules, or a rule edited beside it) outlive the replay.
  /// `each_row` receives every notification the steps render (none: they are counted only).
  replay(const config::daemon_config& cfg, const config::rule_config& rule,
         std::function<void(state::outbox_row&&)> each_row = {});

  /// One poll that ended at `now` (epoch seconds) with `out`. The effects are valid until
  /// the next call.
  const step_effects& poll(const poll_outcome& out, double now);

  replay(const replay&) = delete;  // env_ points into the object
  replay& operator=(const replay&) = delete;

  const rule_state& state() const { return state_; }
  /// The sessions the rule's polls notified that a later window may still show.
  const notified_sessions& notified() const { return notified_; }
  const config::rule_config& rule() const { return rule_; }
  const fetch::listsessions_query& query() const { return query_; }

 private:
  const config::daemon_config& cfg_;
  const config::rule_config& rule_;
  fetch::listsessions_query query_;
  step_env env_;
  rule_state state_;
  notified_sessions notified_;
  step_effects last_;
};

}  // namespace qoewatch::evaluate
