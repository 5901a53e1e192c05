// Test support: child processes (the real binaries) and a blocking HTTP/1.1 client, for the
// end-to-end tests. A child is killed and reaped by its owner's destructor, and by
// PR_SET_PDEATHSIG if the test binary itself dies; its stderr is printed when a test failed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace qoewatch::test {

/// A temporary directory removed with its contents on destruction.
struct temp_dir {
  std::filesystem::path path;
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  /// Writes `text` to `name` (folders created) and returns the full path.
  std::string write(const std::string& name, const std::string& text) const;
};

std::string read_file(const std::filesystem::path& p);

/// Seconds since the epoch, now.
std::int64_t wall_now();

class child_process {
 public:
  /// Starts `binary` with `args` and exactly the environment `env` (plus PATH). stdout is a
  /// pipe read by read_line(); stderr goes to a file read by log().
  child_process(std::string binary, std::vector<std::string> args,
                std::map<std::string, std::string> env = {});
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// The next stdout line, or std::nullopt after `timeout` or at end of output.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);

  /// Sends `sig`.
  void signal(int sig) const;

  /// Waits for the exit: the exit code, 128 + signal, or -1 when it does not exit in time.
  /// Once it exited, every call returns that code.
  int wait(std::chrono::milliseconds timeout);

  /// The exit code (as wait() gives it) once the child exited; std::nullopt while it runs.
  std::optional<int> exit_code();

  /// Everything the child wrote to stderr so far.
  std::string log() const;
  pid_t pid() const { return pid_; }

 private:
  std::string name_;
  temp_dir dir_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  int out_fd_ = -1;
  std::string buffered_;
};

/// A started smartsight-sim on 127.0.0.1 with key `key` in SIM_KEY, customer `customer`, on
/// a free port unless `extra` holds "--listen", "127.0.0.1:PORT".
struct sim {
  explicit sim(std::vector<std::string> extra = {}, std::string customer = "199493832",
               std::string key = "sim-test-key");
  std::string key;
  std::string port;
  child_process process;
};

struct http_reply {
  unsigned status = 0;  // 0: could not connect or read
  std::string body;
};

/// One blocking request on a fresh connection to 127.0.0.1:port (5 s timeout).
http_reply http_request(const std::string& port, const std::string& method,
                        const std::string& target, const std::string& body = {},
                        const std::map<std::string, std::string>& headers = {});

/// The value of the sample `name{labels}` in a Prometheus text exposition, e.g.
/// metric_value(text, "qoewatch_source_up{rule=\"slow\"}"); std::nullopt when absent.
std::optional<double> metric_value(const std::string& exposition, const std::string& series);

}  // namespace qoewatch::test
