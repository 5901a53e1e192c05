#include "evaluate/replay.hpp"

#include "duration.hpp"
#include "evaluate/population.hpp"

namespace qoewatch::evaluate {

poll_outcome prepare_outcome(const config::rule_config& rule, const config::smartsight_config& api,
                             fetch::window w) {
  poll_outcome out;
  out.what = poll_outcome::kind::failed;
  out.window = w;
  if (rule.population())
    out.groups = std::make_unique<population_accumulator>(
        rule, static_cast<std::size_t>(api.page_size) * static_cast<std::size_t>(api.max_pages));
  else
    out.acc = std::make_unique<poll_accumulator>(rule);
  return out;
}

void conclude(poll_outcome& out) {
  if (out.groups) {
    out.figures = std::make_unique<window_figures>(out.groups->finish());
    out.groups.reset();
  }
  out.what = poll_outcome::kind::polled;
}

void add_rows(poll_outcome& out, const fetch::page& rows) {
  if (out.groups)
    out.groups->add(rows);
  else if (out.acc)
    out.acc->add(rows);
}

void expect_rows(poll_outcome& out, std::size_t rows) {
  if (out.groups) out.groups->expect(rows);
}

void add_rows(poll_outcome& out, std::span<const fetch::session_row> rows) {
  if (out.groups)
    out.groups->add_rows(rows);
  else if (out.acc)
    out.acc->add_rows(rows);
}

replay::replay(const config::daemon_config& cfg, const config::rule_config& rule,
               std::function<void(state::outbox_row&&)> each_row)
    : cfg_(cfg), rule_(rule), query_(cfg.smartsight, rule) {
  env_.cfg = &cfg_;
  env_.query = &query_;
  env_.durable = false;
  // Without a handler the rows are still rendered (the step counts them), one at a time.
  env_.each_row = each_row ? std::move(each_row) : [](state::outbox_row&&) {};
}

const step_effects& replay::poll(const poll_outcome& out, double now) {
  last_ = step(rule_, state_, out, notified_, now, env_);
  state_ = last_.next;
  remember(rule_, out, last_, notified_);
  if (out.what == poll_outcome::kind::polled)
    notified_.expire(rule_.name, forget_before(rule_, static_cast<std::int64_t>(now),
                                               state_.checkpoint, cfg_.max_catchup));
  return last_;
}

}  // namespace qoewatch::evaluate
