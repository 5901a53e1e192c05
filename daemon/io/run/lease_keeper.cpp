#include "run/lease_keeper.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <functional>

#include "export/metrics.hpp"
#include "lease/lease.hpp"
#include "notify/sinks.hpp"
#include "run/rule_runner.hpp"
#include "state/database.hpp"

namespace qoewatch::run {

namespace net = boost::asio;
using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

lease_keeper::lease_keeper(net::any_io_executor ex, state::database& db, rule_runner& rules,
                           notify::sink_set& sinks, metrics::registry& metrics,
                           std::chrono::milliseconds ttl, std::chrono::milliseconds renew)
    : db_(db),
      rules_(rules),
      sinks_(sinks),
      metrics_(metrics),
      ttl_(ttl),
      renew_(renew),
      timer_(ex) {}

net::awaitable<bool> lease_keeper::round(bool leaving) {
  state::lease_request request;
  request.ttl = ttl_;
  request.renew = renew_;
  request.leaving = leaving;
  if (!leaving) {
    for (const std::string& name : rules_.rule_names())
      request.wanted.push_back({lease::kind::rule, name});
    for (const std::string& name : sinks_.names())
      request.wanted.push_back({lease::kind::sink, name});
  }
  // The lease is trusted locally from when the request left, less a margin for the time its
  // answer took on the database's side.
  const steady::time_point sent = steady::now();
  std::function<state::lease_outcome(state::store&)> run_round = [request](state::store& s) {
    return s.lease_round(request);
  };  // named: GCC 12 destroys a temporary in a co_await twice
  state::lease_outcome out;
  std::string error;
  try {
    out = co_await db_.call(std::move(run_round));
  } catch (const std::exception& e) {
    error = e.what();
  }
  metrics_.set_state_up(error.empty());
  if (!error.empty()) {
    if (!failing_)
      spdlog::error("lease round failed: {}; rules stop polling as their leases run out, "
                    "and go on from their checkpoints when the database answers",
                    error);
    failing_ = true;
    // Sinks pause by themselves once their leases' time has passed.
    rules_.expire_leases();
    co_return false;
  }
  if (failing_) spdlog::info("lease round succeeded again: the state database answers");
  failing_ = false;
  if (leaving) co_return true;  // the caller lets every lease go
  const auto margin = std::min<std::chrono::milliseconds>(1s, ttl_ / 4);
  const steady::time_point until = lease::held_until(sent, ttl_, margin);
  rules_.hold(out.held, out.released, until);
  sinks_.hold(out.held, until);
  co_return true;
}

net::awaitable<void> lease_keeper::run() {
  while (!stopped_) {
    const steady::time_point started = steady::now();
    co_await round(false);
    if (stopped_) break;
    timer_.expires_at(started + renew_);
    co_await timer_.async_wait(net::as_tuple(net::use_awaitable));
  }
}

void lease_keeper::stop() {
  stopped_ = true;
  timer_.cancel();
}

net::awaitable<void> lease_keeper::leave() {
  stop();
  // Not `if (co_await ...)`: GCC 12 miscompiles a co_await in a condition (SIGILL at resume).
  const bool released = co_await round(true);
  if (released) spdlog::info("leases released for the other replicas");
  rules_.release_all();
  sinks_.release_all();
}

}  // namespace qoewatch::run
