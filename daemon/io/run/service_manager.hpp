// Telling systemd how the service is doing (sd_notify): READY=1 once config, rules, the
// metrics port and the scheduler are up; RELOADING=1 with MONOTONIC_USEC then READY=1 around a
// SIGHUP reload; STOPPING=1 on SIGTERM; WATCHDOG=1 pings; STATUS= one-line summaries. Outside
// systemd (no NOTIFY_SOCKET) every call does nothing.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace qoewatch::run {

class service_manager {
 public:
  /// Reads NOTIFY_SOCKET and WATCHDOG_USEC (and WATCHDOG_PID) from the environment.
  service_manager();

  /// True under a service manager (NOTIFY_SOCKET is set): worth composing a status for.
  bool enabled() const { return enabled_; }

  /// The watchdog interval systemd expects pings within, when it watches this process.
  std::optional<std::chrono::microseconds> watchdog() const { return watchdog_; }

  void ready(const std::string& status) const;
  void reloading() const;
  void stopping() const;
  void ping_watchdog() const;
  void status(const std::string& status) const;

 private:
  void send(const std::string& message) const;
  bool enabled_ = false;
  std::optional<std::chrono::microseconds> watchdog_;
};

}  // namespace qoewatch::run
