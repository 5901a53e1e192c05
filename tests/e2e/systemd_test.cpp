// qoewatchd as systemd runs it: the notifications it sends the service manager (through a
// NOTIFY_SOCKET the test owns), in order, and log lines the journal and log shippers read.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <regex>
#include <sstream>

#include "e2e/harness.hpp"
#include "support/process.hpp"

namespace json = boost::json;
using namespace qoewatch::test;
using namespace qoewatch::e2e;
using namespace std::chrono_literals;

namespace {

// The service manager's side of sd_notify: a datagram socket at a path.
class notify_socket {
 public:
  explicit notify_socket(std::string path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      ADD_FAILURE() << "cannot bind " << path_;
  }
  ~notify_socket() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }

  // The next message, or "" after `timeout`.
  std::string next(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return "";
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
  }

  // Messages until one contains `what` (that one included), or until `timeout`.
  std::vector<std::string> until(const std::string& what, std::chrono::milliseconds timeout) {
    std::vector<std::string> got;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      std::string m = next(std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now()));
      if (m.empty()) continue;
      got.push_back(m);
      if (m.find(what) != std::string::npos) break;
    }
    return got;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

std::int64_t monotonic_usec() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

// qoewatchd --config CFG EXTRA... with stderr as systemd's journal sees it: JOURNAL_STREAM
// names the device and inode of the very file its stderr is.
std::unique_ptr<child_process> under_journal(const std::string& cfg,
                                             const std::vector<std::string>& extra) {
  std::vector<std::string> args = {
      "-c", "JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec \"$0\" \"$@\"",
      QOEWATCHD_BINARY, "--config", cfg};
  args.insert(args.end(), extra.begin(), extra.end());
  return std::make_unique<child_process>("/bin/sh", args,
                                         std::map<std::string, std::string>{{"QW_KEY", "k"}});
}

std::string joined(const std::vector<std::string>& messages) {
  std::string out;
  for (const std::string& m : messages) out += "[" + m + "] ";
  return out;
}

class Systemd : public testing::Test {
 protected:
  // Rule "slow" every second over a minute, no sinks.
  std::string config(const std::string& sim_port) const {
    config_builder c;
    c.smartsight(sim_port).rule(rule_spec("slow", "latency > 5").window_of("1m"));
    return c.write(dir_);
  }
  temp_dir dir_;
  const reserved_port unreachable_;  // a SmartSight that refuses connections
};

}  // namespace

TEST_F(Systemd, ReadyWatchdogReloadAndStoppingReachTheServiceManagerInOrder) {
  sim s({"--rate", "0"});
  notify_socket manager((dir_.path / "notify.sock").string());
  std::string cfg = config(s.port);
  qoewatchd daemon(
      cfg, {{"QW_KEY", s.key}, {"NOTIFY_SOCKET", manager.path()}, {"WATCHDOG_USEC", "400000"}});

  // READY=1 comes first, once /metrics answers.
  std::vector<std::string> start = manager.until("READY=1", 10s);
  ASSERT_FALSE(start.empty()) << daemon.log();
  EXPECT_NE(start.front().find("READY=1"), std::string::npos) << joined(start);
  EXPECT_NE(start.front().find("STATUS=1 rule, waiting for the first polls"), std::string::npos)
      << joined(start);
  EXPECT_EQ(http_request(daemon.port(), "GET", "/healthz").status, 200u);

  // Watchdog pings every 200 ms (half of WATCHDOG_USEC); the status follows the polls.
  auto since = std::chrono::steady_clock::now();
  std::vector<std::string> running = manager.until("never", 1500ms);
  std::size_t pings = 0;
  bool polled = false;
  for (const std::string& m : running) {
    if (m == "WATCHDOG=1") ++pings;
    if (m.find("STATUS=1 rule, all sources up") != std::string::npos) polled = true;
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
  EXPECT_GE(pings, 4u) << seconds << " s: " << joined(running);
  EXPECT_LE(pings, 10u) << joined(running);
  EXPECT_TRUE(polled) << joined(running);

  // SIGHUP: RELOADING=1 with the monotonic clock, then READY=1 again.
  const std::int64_t before_reload = monotonic_usec();
  daemon.signal(SIGHUP);
  std::vector<std::string> reload = manager.until("READY=1", 10s);
  std::vector<std::string> lifecycle;
  for (const std::string& m : reload)
    if (m != "WATCHDOG=1" && m.rfind("STATUS=", 0) != 0) lifecycle.push_back(m);
  ASSERT_EQ(lifecycle.size(), 2u) << joined(reload);
  EXPECT_EQ(lifecycle[0].rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << lifecycle[0];
  std::int64_t stamp = std::stoll(lifecycle[0].substr(lifecycle[0].find('=', 12) + 1));
  EXPECT_GE(stamp, before_reload);
  EXPECT_LE(stamp, monotonic_usec());
  EXPECT_EQ(lifecycle[1].rfind("READY=1", 0), 0u) << lifecycle[1];

  // SIGTERM: STOPPING=1, then a clean exit.
  daemon.signal(SIGTERM);
  std::vector<std::string> stop = manager.until("STOPPING=1", 10s);
  ASSERT_FALSE(stop.empty());
  EXPECT_EQ(stop.back().rfind("STOPPING=1", 0), 0u) << joined(stop);
  EXPECT_EQ(daemon.wait(15s), 0) << daemon.log();
}

TEST_F(Systemd, UnderTheJournalLinesCarryPrioritiesAndNoTimestamps) {
  // SmartSight is unreachable: --once logs an error and exits 1.
  std::string cfg = config(unreachable_.port());
  auto journal = under_journal(cfg, {"--once"});
  EXPECT_EQ(journal->wait(30s), 1) << journal->log();
  std::istringstream lines(journal->log());
  std::size_t n = 0;
  bool error_line = false;
  const std::regex timestamp(R"(\d{4}-\d\d-\d\dT\d\d:\d\d)");
  for (std::string line; std::getline(lines, line); ++n) {
    ASSERT_FALSE(line.empty());
    ASSERT_EQ(line.front(), '<') << line;
    EXPECT_FALSE(std::regex_search(line, timestamp)) << "journald stamps lines itself: " << line;
    if (line.rfind("<3>rule slow: poll failed", 0) == 0) error_line = true;
  }
  EXPECT_GE(n, 3u);
  EXPECT_TRUE(error_line) << journal->log();
  EXPECT_EQ(journal->log().rfind("<6>", 0), 0u) << journal->log();

  // A JOURNAL_STREAM naming some other file (stderr redirected elsewhere): plain text lines.
  child_process elsewhere(QOEWATCHD_BINARY, {"--config", cfg, "--once"},
                          {{"QW_KEY", "k"}, {"JOURNAL_STREAM", "8:12345"}});
  EXPECT_EQ(elsewhere.wait(30s), 1);
  EXPECT_TRUE(std::regex_search(elsewhere.log().substr(0, 40), timestamp)) << elsewhere.log();
}

TEST_F(Systemd, AnUnusableConfigStopsTheStartAsCriticalWithExitCode78) {
  // 78 is the unit's RestartPreventExitStatus: restarting cannot fix a config.
  std::string cfg = config(unreachable_.port());
  const std::string text = read_file(cfg);
  const auto line = std::to_string(std::count(text.begin(), text.end(), '\n') + 1);
  dir_.write("qoewatch.yaml", text + "bogus_key: 1\n");
  auto journal = under_journal(cfg, {});
  EXPECT_EQ(journal->wait(30s), 78) << journal->log();
  EXPECT_NE(journal->log().find("<2>" + cfg + ":" + line + ":1: bogus_key: unknown key"),
            std::string::npos)
      << journal->log();
  EXPECT_NE(journal->log().find("<2>1 error in " + cfg + "; not starting"), std::string::npos)
      << journal->log();
}

TEST_F(Systemd, JsonLogsAreOneObjectPerLine) {
  std::string cfg = config(unreachable_.port());
  child_process daemon(QOEWATCHD_BINARY, {"--config", cfg, "--once", "--log-format", "json"},
                       {{"QW_KEY", "k"}});
  EXPECT_EQ(daemon.wait(30s), 1) << daemon.log();
  std::istringstream lines(daemon.log());
  std::size_t n = 0;
  bool error_line = false;
  for (std::string line; std::getline(lines, line); ++n) {
    json::value v = json::parse(line);
    EXPECT_TRUE(v.at("time").is_string()) << line;
    EXPECT_TRUE(v.at("message").is_string()) << line;
    if (v.at("level") == "error" &&
        v.at("message").as_string().starts_with("rule slow: poll failed"))
      error_line = true;
  }
  EXPECT_GE(n, 3u);
  EXPECT_TRUE(error_line) << daemon.log();
}
