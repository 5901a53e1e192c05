#include "support/process.hpp"

#include <algorithm>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace qoewatch::test {

namespace fs = std::filesystem;

temp_dir::temp_dir() {
  std::string tmpl = (fs::temp_directory_path() / "qoewatch-test.XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path = tmpl;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  fs::remove_all(path, ec);
}

std::string temp_dir::write(const std::string& name, const std::string& text) const {
  fs::path p = path / name;
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
  return p.string();
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

std::int64_t wall_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

child_process::child_process(std::string binary, std::vector<std::string> args,
                             std::map<std::string, std::string> env)
    : name_(fs::path(binary).filename().string()) {
  std::vector<std::string> argv_s{binary};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  // PATH, and the sanitizers' settings of a scripts/sanitize run, unless given.
  for (const char* name : {"PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS"}) {
    if (const char* value = std::getenv(name); value && !env.count(name)) env[name] = value;
  }
  std::vector<std::string> env_s;
  for (const auto& [k, v] : env) env_s.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (std::string& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string err_path = (dir_.path / "stderr.log").string();

  // O_CLOEXEC: the child keeps only the copies on 1 and 2 (dup2 clears the flag on them), and
  // no other child inherits this pipe. A stray write end left in the child would pass to its
  // own children (a daemon a script starts: PostgreSQL, pg-server's watcher) and keep
  // read_line() from ever seeing the end of the output.
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ::dup2(fds[1], 1);
    if (err >= 0) ::dup2(err, 2);
    ::close(fds[0]);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  out_fd_ = fds[0];
}

child_process::~child_process() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (out_fd_ >= 0) ::close(out_fd_);
  if (::testing::Test::HasFailure()) std::cerr << "--- " << name_ << " stderr ---\n" << log();
}

std::optional<std::string> child_process::read_line(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (std::size_t nl = buffered_.find('\n'); nl != std::string::npos) {
      std::string line = buffered_.substr(0, nl);
      buffered_.erase(0, nl + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{out_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::min<long>(left.count(), 100))) <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(out_fd_, buf, sizeof buf);
    if (n <= 0) return std::nullopt;
    buffered_.append(buf, static_cast<std::size_t>(n));
  }
}

void child_process::signal(int sig) const {
  if (pid_ > 0) ::kill(pid_, sig);
}

int child_process::wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (std::optional<int> code = exit_code()) return *code;
    if (pid_ <= 0 || std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::optional<int> child_process::exit_code() {
  if (exit_code_ || pid_ <= 0) return exit_code_;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == 0) return std::nullopt;
  pid_ = -1;
  if (r < 0)
    exit_code_ = -1;  // not our child any more: nothing to report
  else if (WIFEXITED(status))
    exit_code_ = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    exit_code_ = 128 + WTERMSIG(status);
  else
    exit_code_ = -1;
  return exit_code_;
}

std::string child_process::log() const {
  return read_file(dir_.path / "stderr.log");
}

sim::sim(std::vector<std::string> extra, std::string customer, std::string k)
    : key(k),
      process(
          SIM_BINARY,
          [&] {
            std::vector<std::string> args = {"--customer-id", customer, "--api-key-env", "SIM_KEY"};
            // A test restarting the simulator on the same port passes its own --listen.
            if (std::find(extra.begin(), extra.end(), "--listen") == extra.end())
              args.insert(args.end(), {"--listen", "127.0.0.1:0"});
            args.insert(args.end(), extra.begin(), extra.end());
            return args;
          }(),
          {{"SIM_KEY", k}}) {
  std::optional<std::string> line = process.read_line(std::chrono::seconds(15));
  const std::string prefix = "listening on 127.0.0.1:";
  if (!line || line->rfind(prefix, 0) != 0)
    throw std::runtime_error("smartsight-sim did not start: " + process.log());
  port = line->substr(prefix.size());
}

http_reply http_request(const std::string& port, const std::string& method,
                        const std::string& target, const std::string& body,
                        const std::map<std::string, std::string>& headers) {
  namespace net = boost::asio;
  namespace beast = boost::beast;
  namespace http = beast::http;
  http_reply reply;
  try {
    net::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::seconds(5));
    net::ip::tcp::resolver resolver(ioc);
    stream.connect(resolver.resolve("127.0.0.1", port));
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, "127.0.0.1:" + port);
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    http::read(stream, buffer, parser);
    reply.status = parser.get().result_int();
    reply.body = parser.get().body();
  } catch (const std::exception&) {
    reply.status = 0;
  }
  return reply;
}

std::optional<double> metric_value(const std::string& exposition, const std::string& series) {
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) != 0) continue;
    return std::stod(line.substr(series.size() + 1));
  }
  return std::nullopt;
}

}  // namespace qoewatch::test
