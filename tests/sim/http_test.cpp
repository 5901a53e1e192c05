// End-to-end tests of the real smartsight-sim binary over HTTP and HTTPS on 127.0.0.1:0,
// with a small synchronous Beast client. Every child process is killed and reaped by its
// owner's destructor (and by PR_SET_PDEATHSIG if the test binary itself dies).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
namespace json = boost::json;
namespace fs = std::filesystem;
using tcp = net::ip::tcp;

constexpr const char* key_env = "SIM_TEST_KEY";
constexpr const char* test_key = "test-key-123";

std::int64_t wall_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A temporary directory removed with its contents on destruction.
struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "simtest.XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// Forks and execs the simulator. stdout goes to `stdout_fd` (a pipe or a file), stderr to
// `stderr_path`; `key` (when set) is put in SIM_TEST_KEY, otherwise the variable is unset.
pid_t spawn(const std::vector<std::string>& args, int stdout_fd, const fs::path& stderr_path,
            const std::optional<std::string>& key) {
  std::vector<std::string> argv_s{SIM_BINARY};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(stdout_fd, 1);
    if (err >= 0) ::dup2(err, 2);
    if (key)
      ::setenv(key_env, key->c_str(), 1);
    else
      ::unsetenv(key_env);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

// Waits up to `timeout` for `pid`; returns its exit code, 128+signal, or -1 on timeout.
int wait_exit(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    }
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// A running simulator. The destructor kills and reaps it and, when the test failed, prints
// the simulator's stderr.
class sim_process {
 public:
  explicit sim_process(std::vector<std::string> extra,
                       std::optional<std::string> key = std::string(test_key)) {
    std::vector<std::string> args = {"--listen", "127.0.0.1:0",   "--customer-id",
                                     "1234",     "--api-key-env", key_env};
    args.insert(args.end(), extra.begin(), extra.end());
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    pid_ = spawn(args, fds[1], dir_.path / "stderr.log", key);
    ::close(fds[1]);
    out_fd_ = fds[0];
    std::string line = read_line(std::chrono::seconds(15));
    const std::string prefix = "listening on 127.0.0.1:";
    if (line.rfind(prefix, 0) != 0)
      throw std::runtime_error("unexpected first line \"" + line + "\"; stderr: " + log());
    port = line.substr(prefix.size());
  }
  ~sim_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) ::close(out_fd_);
    if (::testing::Test::HasFailure()) std::cerr << "--- smartsight-sim stderr ---\n" << log();
  }
  sim_process(const sim_process&) = delete;
  sim_process& operator=(const sim_process&) = delete;

  // Sends `sig` and returns the exit code (-1 when it does not exit within 10 s).
  int stop(int sig) {
    ::kill(pid_, sig);
    int code = wait_exit(pid_, std::chrono::seconds(10));
    if (code != -1) pid_ = -1;
    return code;
  }

  std::string log() const { return read_file(dir_.path / "stderr.log"); }

  std::string port;

 private:
  std::string read_line(std::chrono::milliseconds timeout) {
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char c = 0;
      if (::read(out_fd_, &c, 1) != 1) break;
      if (c == '\n') return line;
      line += c;
    }
    return line;
  }

  temp_dir dir_;
  pid_t pid_ = -1;
  int out_fd_ = -1;
};

struct run_result {
  int code = -1;
  std::string out, err;
};

// Runs the simulator to completion (for command lines that must fail).
run_result run_to_exit(std::vector<std::string> args, std::optional<std::string> key) {
  temp_dir dir;
  int out = ::open((dir.path / "out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = spawn(args, out, dir.path / "err", key);
  ::close(out);
  run_result r;
  r.code = wait_exit(pid, std::chrono::seconds(10));
  if (r.code == -1) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  r.out = read_file(dir.path / "out");
  r.err = read_file(dir.path / "err");
  return r;
}

using response = http::response<http::string_body>;

// A synchronous HTTP/1.1 client on one connection (plain or TLS), reused across requests.
template <class Stream>
class basic_client {
 public:
  template <class... Args>
  explicit basic_client(Args&&... args) : stream_(ioc_, std::forward<Args>(args)...) {}

  response send(http::verb method, const std::string& target,
                std::optional<std::string> key = std::string(test_key), std::string body = {}) {
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(true);
    if (key) req.set("X-API-Key", *key);
    if (!body.empty() || method == http::verb::post) {
      req.set(http::field::content_type, "application/json");
      req.body() = std::move(body);
    }
    req.prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(30));
    http::write(stream_, req);
    response res;
    http::read(stream_, buffer_, res);
    return res;
  }
  response get(const std::string& target, std::optional<std::string> key = std::string(test_key)) {
    return send(http::verb::get, target, std::move(key));
  }

  Stream& stream() { return stream_; }
  net::io_context& ioc() { return ioc_; }

 protected:
  net::io_context ioc_;
  Stream stream_;
  beast::flat_buffer buffer_;
};

struct plain_client : basic_client<beast::tcp_stream> {
  explicit plain_client(const std::string& port) {
    tcp::resolver resolver(ioc_);
    stream_.connect(resolver.resolve("127.0.0.1", port));
  }
};

std::string list_target(std::int64_t start, std::int64_t end, const std::string& extra) {
  return "/mm-apis/listsessions/1234?period=start=" + std::to_string(start) +
         ",end=" + std::to_string(end) + "&aggby=sessionid" + extra;
}

std::vector<std::string> ids_of(const response& r) {
  std::vector<std::string> out;
  json::value body = json::parse(r.body());
  for (const json::value& row : body.at("response").as_array())
    out.emplace_back(row.at("sessionid").as_string());
  return out;
}

std::string error_of(const response& r) {
  return std::string(json::parse(r.body()).at("error").as_string());
}

TEST(Http, RejectsMissingOrWrongKey) {
  sim_process sim({"--rate", "0"});
  plain_client c(sim.port);
  response r = c.get(list_target(0, 1, "&metrics=latency"), std::nullopt);
  EXPECT_EQ(r.result_int(), 401u);
  EXPECT_EQ(r[http::field::content_type], "application/json");
  EXPECT_EQ(error_of(r), "missing X-API-Key header");
  r = c.get(list_target(0, 1, "&metrics=latency"), "wrong-key");
  EXPECT_EQ(r.result_int(), 401u);
  EXPECT_EQ(error_of(r), "invalid API key");
  r = c.get(list_target(0, 1, "&metrics=latency"));
  EXPECT_EQ(r.result_int(), 200u);
  // The key never reaches the log.
  EXPECT_EQ(sim.log().find(test_key), std::string::npos);
}

TEST(Http, UnknownCustomerAndPathsAre404) {
  sim_process sim({"--rate", "0"});
  plain_client c(sim.port);
  response r = c.get("/mm-apis/listsessions/9999?period=start=0,end=1&metrics=latency");
  EXPECT_EQ(r.result_int(), 404u);
  EXPECT_EQ(error_of(r), "unknown customer id \"9999\"");
  r = c.get("/mm-apis/other/1234");
  EXPECT_EQ(r.result_int(), 404u);
  EXPECT_EQ(error_of(r), "no such resource: /mm-apis/other/1234");
}

TEST(Http, BadParametersAre400WithJsonErrors) {
  sim_process sim({"--rate", "0"});
  plain_client c(sim.port);
  response r = c.get(list_target(0, 1, "&metrics=latency&limit=0"));
  EXPECT_EQ(r.result_int(), 400u);
  EXPECT_EQ(error_of(r), "limit: must be an integer from 1 to 100000, not \"0\"");
  r = c.get("/mm-apis/listsessions/1234?metrics=latency");
  EXPECT_EQ(r.result_int(), 400u);
  EXPECT_EQ(error_of(r), "period: required (start=<epoch seconds>,end=<epoch seconds>)");
  r = c.get(list_target(0, 1, "&metrics=latency&qoefilter=latency%3E%3Ex"));
  EXPECT_EQ(r.result_int(), 400u);
  EXPECT_EQ(error_of(r),
            "qoefilter: column 9: '>' must be followed by a number, found '>' in \"latency>>x\"");
  r = c.get(list_target(0, 1, "&metrics=latency&filter=%5Bcdn%3D"));
  EXPECT_EQ(r.result_int(), 400u);
  EXPECT_EQ(error_of(r), "filter: column 1: '[' has no matching ']' in \"[cdn=\"");
  // The connection survived every error.
  EXPECT_EQ(c.get(list_target(0, 1, "&metrics=latency")).result_int(), 200u);
}

TEST(Http, ControlSessionsPageThroughOnOneKeepAliveConnection) {
  sim_process sim({"--rate", "0"});
  plain_client c(sim.port);
  const std::int64_t now = wall_now();
  json::array sessions;
  std::vector<std::string> expected;
  for (int i = 0; i < 25; ++i) {
    char id[8];
    std::snprintf(id, sizeof id, "k%02d", i);
    json::object s{{"sessionid", id}, {"endtime", now - 100 - i}};
    // Latency descending k24 .. k00; odd ones as numeric strings.
    if (i % 2)
      s["latency"] = std::to_string(i) + ".5";
    else
      s["latency"] = i + 0.5;
    sessions.push_back(s);
    expected.insert(expected.begin(), id);
  }
  response r =
      c.send(http::verb::post, "/_sim/sessions", std::string(test_key), json::serialize(sessions));
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  EXPECT_EQ(r.body(), R"({"added":25,"control_sessions":25})");

  std::vector<std::string> all;
  std::vector<std::size_t> sizes;
  for (int offset = 0; offset <= 30; offset += 10) {
    r = c.get(list_target(
        now - 3600, now,
        "&metrics=latency,sessionid,endtime&limit=10&offset=" + std::to_string(offset)));
    ASSERT_EQ(r.result_int(), 200u) << r.body();
    EXPECT_TRUE(r.keep_alive());
    json::value body = json::parse(r.body());
    EXPECT_EQ(body.at("totalcount").as_int64(), 25);
    EXPECT_EQ(body.at("pagecount").as_int64(), 3);
    std::vector<std::string> page = ids_of(r);
    sizes.push_back(page.size());
    all.insert(all.end(), page.begin(), page.end());
  }
  EXPECT_EQ(sizes, (std::vector<std::size_t>{10, 10, 5, 0}));
  EXPECT_EQ(all, expected);

  r = c.get("/_sim/stats");
  json::value stats = json::parse(r.body());
  EXPECT_EQ(stats.at("total").as_int64(), 5);
  EXPECT_EQ(stats.at("by_status").at("200").as_int64(), 5);
  EXPECT_EQ(stats.at("listsessions").at("total").as_int64(), 4);

  r = c.send(http::verb::delete_, "/_sim/sessions");
  EXPECT_EQ(r.result_int(), 200u);
  r = c.get(list_target(now - 3600, now, "&metrics=sessionid"));
  EXPECT_EQ(r.body(), R"({"totalcount":0,"pagecount":0,"response":[]})");
}

TEST(Http, QueryValuesArePercentDecodedAndPlusIsSpace) {
  sim_process sim({"--rate", "0"});
  plain_client c(sim.port);
  const std::int64_t now = wall_now();
  std::string body = "[{\"sessionid\":\"nz\",\"endtime\":" + std::to_string(now - 5) +
                     ",\"latency\":4,\"city\":\"San Jose\"},{\"sessionid\":\"us\",\"endtime\":" +
                     std::to_string(now - 6) + ",\"latency\":\"1.5\",\"city\":\"Dallas\"}]";
  ASSERT_EQ(c.send(http::verb::post, "/_sim/sessions", std::string(test_key), body).result_int(),
            200u);
  auto ids = [&](const std::string& extra) {
    return ids_of(c.get(list_target(now - 60, now, "&metrics=latency,sessionid" + extra)));
  };
  using v = std::vector<std::string>;
  EXPECT_EQ(ids("&qoefilter=latency+%3E+3"), v{"nz"});
  EXPECT_EQ(ids("&qoefilter=latency%20%3C%203"), v{"us"});
  EXPECT_EQ(ids("&filter=%5Bcity%3DSan+Jose%7CDallas%5D&order=asc"), (v{"us", "nz"}));
}

TEST(Http, CounterFlagsChangeTheBody) {
  sim_process sim({"--rate", "0", "--counters", "pages", "--extra-counters"});
  plain_client c(sim.port);
  const std::int64_t now = wall_now();
  json::array sessions;
  for (int i = 0; i < 7; ++i)
    sessions.push_back(json::object{{"sessionid", "c" + std::to_string(i)}, {"endtime", now - 10}});
  ASSERT_EQ(
      c.send(http::verb::post, "/_sim/sessions", std::string(test_key), json::serialize(sessions))
          .result_int(),
      200u);
  response r = c.get(list_target(now - 60, now, "&metrics=sessionid&limit=3"));
  json::value body = json::parse(r.body());
  EXPECT_EQ(body.at("totalcount").as_int64(), 3);  // pages
  EXPECT_EQ(body.at("pagecount").as_int64(), 7);   // rows
  EXPECT_EQ(body.at("totalrecords").as_int64(), 7);
  EXPECT_EQ(body.at("response").at(0).at("totalpages").as_int64(), 3);
}

std::set<std::string> backlog_ids(const std::string& seed) {
  sim_process sim({"--rate", "0", "--seed", seed, "--backlog", "30", "--backlog-window", "10m"});
  plain_client c(sim.port);
  const std::int64_t now = wall_now();
  response r = c.get(list_target(now - 700, now, "&metrics=sessionid,endtime,latency"));
  EXPECT_EQ(json::parse(r.body()).at("totalcount").as_int64(), 30);
  std::set<std::string> out;
  for (const std::string& id : ids_of(r)) out.insert(id);
  return out;
}

TEST(Http, BacklogIsDeterministicFromTheSeed) {
  std::set<std::string> a = backlog_ids("5"), b = backlog_ids("5"), c = backlog_ids("6");
  EXPECT_EQ(a.size(), 30u);
  EXPECT_EQ(a, b);
  std::vector<std::string> common;
  std::set_intersection(a.begin(), a.end(), c.begin(), c.end(), std::back_inserter(common));
  EXPECT_TRUE(common.empty());
}

TEST(Http, LiveSessionsEndInRealTime) {
  const std::int64_t start = wall_now();
  sim_process sim({"--rate", "600"});
  plain_client c(sim.port);
  auto ended_since_start = [&] {
    std::int64_t now = wall_now();
    response r =
        c.get(list_target(start - 1, now + 1, "&metrics=sessionid,endtime,status&limit=100000"));
    json::value body = json::parse(r.body());
    for (const json::value& row : body.at("response").as_array()) {
      EXPECT_LE(row.at("endtime").as_int64(), now + 1);
      EXPECT_EQ(row.at("status").as_string(), "ENDED");
    }
    return body.at("totalcount").as_int64();
  };
  std::int64_t first = ended_since_start();
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  std::int64_t second = ended_since_start();
  EXPECT_GT(second, first);  // new sessions ended meanwhile (~10 per second)
  EXPECT_GE(second, 10);
  // Running sessions exist and are listed only with allstatus=1.
  std::int64_t now = wall_now();
  response r = c.get(list_target(now - 4 * 3600, now,
                                 "&metrics=sessionid,status&sessiontype=started&allstatus=1&filter="
                                 "%5Bstatus%3DRUNNING%5D&limit=5"));
  EXPECT_GT(json::parse(r.body()).at("totalcount").as_int64(), 100);
  r = c.get(list_target(
      now - 4 * 3600, now,
      "&metrics=sessionid,status&sessiontype=started&filter=%5Bstatus%3DRUNNING%5D&limit=5"));
  EXPECT_EQ(json::parse(r.body()).at("totalcount").as_int64(), 0);
}

TEST(Http, ScenarioIncidentsChangeGeneratedSessions) {
  temp_dir dir;
  fs::path scenario = dir.path / "s.yaml";
  std::ofstream(scenario) << "incidents:\n  - name: slow_edgeB\n    start: 0s\n    duration: 1h\n"
                             "    match: {cdn: edgeB}\n    set: {latency: 99}\n";
  const std::int64_t start = wall_now();
  sim_process sim({"--scenario", scenario.string()});
  plain_client c(sim.port);
  const std::int64_t now = wall_now();
  // Running sessions already exist for the incident's whole hour.
  response r = c.get(list_target(now - 4 * 3600, now,
                                 "&metrics=latency,cdn,endtime&sessiontype=started&allstatus=1"
                                 "&limit=100000"));
  ASSERT_EQ(r.result_int(), 200u);
  int slow = 0;
  json::value body = json::parse(r.body());
  for (const json::value& row : body.at("response").as_array()) {
    std::int64_t end = row.at("endtime").as_int64();
    bool in_window = end >= start + 1 && end < start + 3600 - 1;
    bool edge_b = row.at("cdn").as_string() == "edgeB";
    if (in_window && edge_b) {
      EXPECT_EQ(row.at("latency").to_number<double>(), 99);
      ++slow;
    }
    if (!edge_b) {
      EXPECT_NE(row.at("latency").to_number<double>(), 99);
    }
  }
  EXPECT_GT(slow, 100);
}

TEST(Http, InjectedFaultsReachTheWire) {
  // Throttling carries Retry-After; a slow answer is the right one, late; a reset sends the
  // whole header and half the body, then drops the connection, as a broken proxy would.
  sim_process sim({"--rate", "0", "--backlog", "200", "--backlog-window", "10m"});
  const std::string target = list_target(wall_now() - 3600, wall_now(), "&metrics=sessionid");
  plain_client c(sim.port);
  const response clean = c.get(target);
  ASSERT_EQ(clean.result_int(), 200);

  auto put = [&](const std::string& plan) {
    plain_client control(sim.port);
    response r = control.send(http::verb::put, "/_sim/faults", std::string(test_key), plan);
    EXPECT_EQ(r.result_int(), 200) << r.body();
  };
  put(R"({"throttle": 1, "retry_after": 3})");
  response throttled = c.get(target);
  EXPECT_EQ(throttled.result_int(), 429);
  EXPECT_EQ(throttled[http::field::retry_after], "3");

  put(R"({"slow": 1, "slow_ms": 400})");
  const auto before = std::chrono::steady_clock::now();
  response slow = c.get(target);
  EXPECT_GE(std::chrono::steady_clock::now() - before, std::chrono::milliseconds(400));
  EXPECT_EQ(slow.body(), clean.body());

  put(R"({"reset": 1})");
  plain_client fresh(sim.port);
  http::request<http::string_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set("X-API-Key", std::string(test_key));
  http::write(fresh.stream(), req);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64u << 20);
  beast::error_code ec;
  http::read(fresh.stream(), buffer, parser, ec);
  EXPECT_TRUE(ec == net::error::connection_reset || ec == http::error::partial_message)
      << ec.message();
  ASSERT_TRUE(parser.is_header_done());
  EXPECT_EQ(parser.get().result_int(), 200);
  ASSERT_TRUE(parser.content_length());
  EXPECT_EQ(*parser.content_length(), clean.body().size());

  plain_client control(sim.port);
  ASSERT_EQ(control.send(http::verb::delete_, "/_sim/faults").result_int(), 200);
  EXPECT_EQ(plain_client(sim.port).get(target).body(), clean.body());
  EXPECT_NE(sim.log().find("[fault: reset]"), std::string::npos) << sim.log();
}

TEST(Http, OversizedBodyIs413) {
  sim_process sim({"--rate", "0"});
  net::io_context ioc;
  tcp::socket socket(ioc);
  tcp::resolver resolver(ioc);
  net::connect(socket, resolver.resolve("127.0.0.1", sim.port));
  std::string head = std::string("POST /_sim/sessions HTTP/1.1\r\nHost: x\r\nX-API-Key: ") +
                     test_key + "\r\nContent-Length: " + std::to_string(17u << 20) + "\r\n\r\n[";
  net::write(socket, net::buffer(head));
  beast::flat_buffer buffer;
  response r;
  http::read(socket, buffer, r);
  EXPECT_EQ(r.result_int(), 413u);
  EXPECT_EQ(error_of(r), "request body too large");
}

class Https : public ::testing::Test {
 protected:
  void SetUp() override {
    cert = dir.path / "cert.pem";
    key = dir.path / "key.pem";
    std::string cmd =
        "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1 "
        "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " +
        key.string() + " -out " + cert.string() + " >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  temp_dir dir;
  fs::path cert, key;
};

struct tls_client : basic_client<beast::ssl_stream<beast::tcp_stream>> {
  tls_client(ssl::context& ctx, const std::string& port) : basic_client(ctx) {
    tcp::resolver resolver(ioc_);
    beast::get_lowest_layer(stream_).connect(resolver.resolve("127.0.0.1", port));
    stream_.set_verify_mode(ssl::verify_peer);
    stream_.set_verify_callback(ssl::host_name_verification("localhost"));
    SSL_set_tlsext_host_name(stream_.native_handle(), "localhost");
    stream_.handshake(ssl::stream_base::client);
  }
};

TEST_F(Https, ServesTheApiToAClientThatTrustsTheCertificate) {
  sim_process sim({"--rate", "0", "--tls-cert", cert.string(), "--tls-key", key.string()});
  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(cert.string());
  tls_client c(ctx, sim.port);
  response r = c.get(list_target(0, 1, "&metrics=latency"), std::nullopt);
  EXPECT_EQ(r.result_int(), 401u);
  r = c.send(http::verb::post, "/_sim/sessions", std::string(test_key),
             R"([{"sessionid":"tls1","endtime":")" + std::to_string(wall_now() - 1) + "\"}]");
  EXPECT_EQ(r.result_int(), 200u);
  r = c.get(list_target(wall_now() - 60, wall_now(), "&metrics=sessionid"));
  EXPECT_EQ(r.result_int(), 200u);
  EXPECT_EQ(ids_of(r), std::vector<std::string>{"tls1"});

  // A client without the certificate in its trust store refuses the server.
  ssl::context untrusting(ssl::context::tls_client);
  EXPECT_THROW(tls_client(untrusting, sim.port), boost::system::system_error);
  // Plain HTTP to the TLS port gets no HTTP answer.
  plain_client p(sim.port);
  EXPECT_ANY_THROW(p.get(list_target(0, 1, "&metrics=latency")));
}

TEST_F(Https, UnreadableCertificateExits2) {
  run_result r =
      run_to_exit({"--listen", "127.0.0.1:0", "--customer-id", "1", "--api-key-env", key_env,
                   "--tls-cert", (dir.path / "missing.pem").string(), "--tls-key", key.string()},
                  test_key);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--tls-cert: cannot load"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(Http, SigtermAndSigintExitZero) {
  {
    sim_process sim({"--rate", "0"});
    plain_client c(sim.port);
    EXPECT_EQ(c.get(list_target(0, 1, "&metrics=latency")).result_int(), 200u);
    EXPECT_EQ(sim.stop(SIGTERM), 0);
  }
  {
    // Signalled at once after the listening line: no window where a signal kills it.
    sim_process sim({"--rate", "0"});
    EXPECT_EQ(sim.stop(SIGINT), 0);
  }
}

TEST(Http, BadCommandLinesExit2WithAMessage) {
  run_result r = run_to_exit(
      {"--listen", "127.0.0.1:0", "--customer-id", "1", "--api-key-env", key_env, "--bogus"},
      test_key);
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err,
            "smartsight-sim: unknown option --bogus (see --help)\n(see smartsight-sim --help)\n");
  EXPECT_EQ(r.out, "");

  r = run_to_exit({"--listen", "127.0.0.1:0", "--customer-id", "1", "--api-key-env", key_env},
                  std::nullopt);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("environment variable SIM_TEST_KEY is not set or empty"), std::string::npos);

  temp_dir dir;
  fs::path scenario = dir.path / "bad.yaml";
  std::ofstream(scenario) << "incidents:\n  - name: x\n    start: 2m\n    duration: 5m\n"
                             "    multiply: {latency: 4}\n    colour: red\n";
  r = run_to_exit({"--listen", "127.0.0.1:0", "--customer-id", "1", "--api-key-env", key_env,
                   "--scenario", scenario.string()},
                  test_key);
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, scenario.string() +
                       ":6:5: incidents[0].colour: unknown key (expected one of name, start, "
                       "duration, match, multiply, add, set)\n");

  r = run_to_exit({"--help"}, std::nullopt);
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out.rfind("usage: smartsight-sim --listen HOST:PORT", 0), 0u);
}

TEST(Http, CannotListenExits1) {
  sim_process first({"--rate", "0"});
  run_result r = run_to_exit(
      {"--listen", "127.0.0.1:" + first.port, "--customer-id", "1", "--api-key-env", key_env},
      test_key);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("cannot listen on 127.0.0.1:" + first.port), std::string::npos) << r.err;
}

}  // namespace
