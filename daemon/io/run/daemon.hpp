// The running daemon: one io_context, one thread. Each rule polls SmartSight on its own
// coroutine and schedule; results become metrics and notifications; /metrics, /healthz and
// /readyz are served from the same loop. SIGTERM/SIGINT stop it gracefully, SIGHUP reloads.
#pragma once

#include <string>

#include "config/config.hpp"
#include "config/load.hpp"

namespace qoewatch::run {

struct options {
  std::string config_path;  // reloaded from here on SIGHUP
  bool once = false;        // poll every rule once, deliver, exit
  bool dry_run = false;     // print notifications as JSON lines on stdout instead of sending
};

/// Runs until SIGTERM or SIGINT (or, with `once`, until every rule polled once and the
/// notifications were delivered). Opens the state database in cfg.state_dir first (not with
/// dry_run, which touches no state). Returns the process exit code: 0 after a graceful stop,
/// or with `once` when every poll succeeded and every notification was delivered; 1
/// otherwise, including a state database that cannot be opened.
int run_daemon(const options& opt, config::daemon_config cfg, config::secrets secrets);

}  // namespace qoewatch::run
