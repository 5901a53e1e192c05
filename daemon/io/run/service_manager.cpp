#include "run/service_manager.hpp"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <cstdint>
#include <cstdlib>

namespace qoewatch::run {

namespace {
// A STATUS= value is one line: a newline would start another assignment.
std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}
}  // namespace

service_manager::service_manager() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  enabled_ = socket != nullptr && *socket != '\0';
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
    watchdog_ = std::chrono::microseconds(static_cast<std::int64_t>(usec));
}

void service_manager::send(const std::string& message) const {
  // Failures (no socket, manager gone) are not the daemon's problem: it keeps working.
  sd_notify(0, message.c_str());
}

void service_manager::ready(const std::string& status) const {
  send("READY=1\nSTATUS=" + one_line(status));
}

void service_manager::reloading() const {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const std::int64_t usec =
      static_cast<std::int64_t>(ts.tv_sec) * 1000000 + static_cast<std::int64_t>(ts.tv_nsec) / 1000;
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) + "\nSTATUS=reloading the config");
}

void service_manager::stopping() const {
  send("STOPPING=1\nSTATUS=stopping");
}

void service_manager::ping_watchdog() const {
  send("WATCHDOG=1");
}

void service_manager::status(const std::string& status) const {
  send("STATUS=" + one_line(status));
}

}  // namespace qoewatch::run
