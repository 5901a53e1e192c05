// --backtest: every rule (or those named) replayed over a past span from SmartSight's
// history, as the running daemon would have polled it, with nothing sent and no state
// written, so it can run beside a live daemon on the same config.
//
// Rules that send the same query share one fetch; each fetch walks its span once, a chunk of
// a few pages at a time, and every window of its rules is judged from the rows already read
// (backtest/feed.hpp) by the daemon's own step (evaluate/replay.hpp), each at the time the
// daemon would have polled it. A page that fails is asked again (up to 6 times, after
// Retry-After or a pause doubling from 0.5 s); one that never arrives leaves its windows
// unjudged and is reported as such, and the next chunk is tried once until one arrives. Progress
// goes to stderr: a bar on a terminal, lines otherwise.
#pragma once

#include <chrono>
#include <string>

#include "cli/options.hpp"
#include "config/config.hpp"

namespace qoewatch::run {

/// Runs the backtest of `opt` (opt.backtest) on `cfg`, prints its report on stdout. Exit
/// status: 0 when every window was judged, 1 when a span could not be fetched (reported), 2
/// for a bad --from, --to, --rule or --timezone.
/// `api_key`: SmartSight's (the only secret a backtest reads).
int backtest(const config::daemon_config& cfg, const std::string& api_key, const cli::options& opt,
             std::chrono::system_clock::time_point now);

}  // namespace qoewatch::run
