#include "state/pg_connection.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <system_error>
#include <utility>

#include "redact.hpp"

namespace qoewatch::state::pg {

namespace {

// pg_type OIDs (src/include/catalog/pg_type.dat): stable across releases.
constexpr unsigned int bytea_oid = 17;
constexpr unsigned int int8_oid = 20;
constexpr unsigned int int4_oid = 23;
constexpr unsigned int text_oid = 25;
constexpr unsigned int float8_oid = 701;
constexpr unsigned int bytea_array_oid = 1001;
constexpr unsigned int int4_array_oid = 1007;
constexpr unsigned int text_array_oid = 1009;
constexpr unsigned int int8_array_oid = 1016;
constexpr unsigned int float8_array_oid = 1022;

// Network byte order, as the binary formats want it.
void put_be(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

void put_int32(std::string& out, std::int32_t v) {
  put_be(out, static_cast<std::uint32_t>(v), 4);
}

// array_recv's format: ndim, has-nulls flag, element type, then per dimension its size and
// lower bound, then each element as its length and its binary form.
template <class T, class Write>
std::string binary_array(std::span<const T> items, unsigned int elem_type, Write write) {
  std::string out;
  put_int32(out, items.empty() ? 0 : 1);
  put_int32(out, 0);
  put_int32(out, static_cast<std::int32_t>(elem_type));
  if (items.empty()) return out;
  put_int32(out, static_cast<std::int32_t>(items.size()));
  put_int32(out, 1);
  for (const T& item : items) write(out, item);
  return out;
}

void put_element(std::string& out, std::string_view bytes) {
  put_int32(out, static_cast<std::int32_t>(bytes.size()));
  out.append(bytes);
}

void ignore_notice(void*, const char*) {}

// libpq's and the server's messages end in a newline and may span lines: one line for a log.
std::string one_line(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// The passwords of a connection string, as libpq reads them and as written in a URI (percent
// encoded), so that no message can carry either form.
std::vector<std::string> secrets_of(const std::string& url) {
  std::vector<std::string> out{url};
  char* error = nullptr;
  if (PQconninfoOption* options = PQconninfoParse(url.c_str(), &error)) {
    for (PQconninfoOption* o = options; o->keyword; ++o) {
      const std::string_view keyword = o->keyword;
      if ((keyword == "password" || keyword == "sslpassword") && o->val && *o->val)
        out.emplace_back(o->val);
    }
    PQconninfoFree(options);
  }
  PQfreemem(error);
  const std::size_t scheme = url.find("://");
  if (scheme != std::string::npos) {
    std::string_view rest = std::string_view(url).substr(scheme + 3);
    const std::string_view authority = rest.substr(0, rest.find('/'));
    if (std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
      const std::string_view user = authority.substr(0, at);
      if (std::size_t colon = user.find(':'); colon != std::string_view::npos)
        out.emplace_back(user.substr(colon + 1));
    }
    if (std::size_t q = rest.find('?'); q != std::string_view::npos) {
      std::string_view query = rest.substr(q + 1);
      while (!query.empty()) {
        const std::string_view param = query.substr(0, query.find('&'));
        query.remove_prefix(std::min(query.size(), param.size() + 1));
        const std::size_t eq = param.find('=');
        // password=, sslpassword=, or a name percent-encoded so that it might be one
        if (eq != std::string_view::npos &&
            (param.substr(0, eq).find("password") != std::string_view::npos ||
             param.substr(0, eq).find('%') != std::string_view::npos))
          out.emplace_back(param.substr(eq + 1));
      }
    }
  }
  return out;
}

}  // namespace

// ---- params ----

params& params::add(std::string data, unsigned int type, bool binary) {
  values_.push_back(value{std::move(data), type, binary});
  return *this;
}

params& params::text(std::string_view v) {
  // Binary (text's binary form is its bytes): a NUL or a malformed character is refused by
  // the server instead of cutting the value short at a NUL.
  return add(std::string(v), text_oid, true);
}

params& params::int64(std::int64_t v) {
  return add(std::to_string(v), int8_oid, false);
}

params& params::real(double v) {
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return add(std::string(buf, ec == std::errc() ? end : buf), float8_oid, false);
}

params& params::bytes(std::string_view v) {
  return add(std::string(v), bytea_oid, true);
}

params& params::text_array(std::span<const std::string> v) {
  return add(binary_array(v, text_oid,
                          [](std::string& out, const std::string& s) { put_element(out, s); }),
             text_array_oid, true);
}

params& params::bytes_array(std::span<const std::string> v) {
  return add(binary_array(v, bytea_oid,
                          [](std::string& out, const std::string& s) { put_element(out, s); }),
             bytea_array_oid, true);
}

params& params::int64_array(std::span<const std::int64_t> v) {
  return add(binary_array(v, int8_oid,
                          [](std::string& out, std::int64_t i) {
                            put_int32(out, 8);
                            put_be(out, static_cast<std::uint64_t>(i), 8);
                          }),
             int8_array_oid, true);
}

params& params::int32_array(std::span<const int> v) {
  return add(binary_array(v, int4_oid,
                          [](std::string& out, int i) {
                            put_int32(out, 4);
                            put_int32(out, i);
                          }),
             int4_array_oid, true);
}

params& params::real_array(std::span<const double> v) {
  return add(binary_array(v, float8_oid,
                          [](std::string& out, double d) {
                            put_int32(out, 8);
                            put_be(out, std::bit_cast<std::uint64_t>(d), 8);
                          }),
             float8_array_oid, true);
}

// ---- result ----

void result::deleter::operator()(pg_result* r) const {
  PQclear(r);
}

result::result(pg_result* r) : r_(r) {}

int result::rows() const {
  return r_ ? PQntuples(r_.get()) : 0;
}

bool result::null(int row, int col) const {
  return PQgetisnull(r_.get(), row, col) != 0;
}

std::string result::text(int row, int col) const {
  return std::string(PQgetvalue(r_.get(), row, col),
                     static_cast<std::size_t>(PQgetlength(r_.get(), row, col)));
}

std::string result::bytes(int row, int col) const {
  std::size_t length = 0;
  unsigned char* raw = PQunescapeBytea(
      reinterpret_cast<const unsigned char*>(PQgetvalue(r_.get(), row, col)), &length);
  if (!raw) throw std::bad_alloc();
  std::string out(reinterpret_cast<const char*>(raw), length);
  PQfreemem(raw);
  return out;
}

std::int64_t result::int64(int row, int col) const {
  const char* text = PQgetvalue(r_.get(), row, col);
  const char* end = text + PQgetlength(r_.get(), row, col);
  std::int64_t v = 0;
  const auto [ptr, ec] = std::from_chars(text, end, v);
  if (ec != std::errc() || ptr != end)
    throw store_error("not an integer: \"" + std::string(text, end) + "\"");
  return v;
}

int result::int32(int row, int col) const {
  return static_cast<int>(int64(row, col));
}

double result::real(int row, int col) const {
  const char* text = PQgetvalue(r_.get(), row, col);
  const char* end = text + PQgetlength(r_.get(), row, col);
  double v = 0;
  const auto [ptr, ec] = std::from_chars(text, end, v);
  if (ec != std::errc() || ptr != end)
    throw store_error("not a number: \"" + std::string(text, end) + "\"");
  return v;
}

std::int64_t result::affected() const {
  const char* n = r_ ? PQcmdTuples(r_.get()) : "";
  std::int64_t v = 0;
  std::from_chars(n, n + std::strlen(n), v);
  return v;
}

// ---- connection ----

connection::connection(std::string url, std::chrono::milliseconds io_timeout)
    : url_(std::move(url)),
      described_(redact_url(url_)),
      secrets_(secrets_of(url_)),
      io_timeout_(io_timeout) {}

connection::~connection() {
  drop();
}

std::string connection::scrub(std::string text) const {
  return redact(std::move(text), secrets_);
}

void connection::fail(std::string_view what, std::string_view reason) const {
  throw store_error(described_ + ": " + std::string(what) + ": " +
                    one_line(scrub(std::string(reason))));
}

void connection::fail_connection(std::string_view what) {
  std::string reason = conn_ ? PQerrorMessage(conn_) : "not connected";
  drop();
  fail(what, reason);
}

void connection::drop() {
  if (conn_) PQfinish(conn_);
  conn_ = nullptr;
}

void connection::connect() {
  if (conn_) return;
  // dbname is expanded: the URL's settings override those before it, and those after it
  // override the URL's. TCP keepalives and tcp_user_timeout notice a dead peer or path;
  // connect_timeout bounds the connection's setup, including a server that accepts and never
  // answers.
  // clang-format off
  const std::pair<const char*, const char*> settings[] = {
      {"connect_timeout", "5"},
      {"keepalives", "1"},
      {"keepalives_idle", "10"},
      {"keepalives_interval", "5"},
      {"keepalives_count", "3"},
      {"tcp_user_timeout", "10000"},
      {"application_name", "qoewatchd"},
      {"dbname", url_.c_str()},
      {"client_encoding", "UTF8"},
  };
  // clang-format on
  std::vector<const char*> keywords, values;
  for (const auto& [keyword, value] : settings) {
    keywords.push_back(keyword);
    values.push_back(value);
  }
  keywords.push_back(nullptr);
  values.push_back(nullptr);
  pg_conn* c = PQconnectdbParams(keywords.data(), values.data(), 1);
  if (!c) throw std::bad_alloc();
  if (PQstatus(c) != CONNECTION_OK) {
    std::string reason = PQerrorMessage(c);
    PQfinish(c);
    fail("cannot connect", reason);
  }
  // Notices (e.g. "relation already exists, skipping") would go to stderr otherwise.
  PQsetNoticeProcessor(c, ignore_notice, nullptr);
  // Non-blocking sends: every wait for the socket goes through wait_socket and its deadline.
  if (PQsetnonblocking(c, 1) != 0) {
    std::string reason = PQerrorMessage(c);
    PQfinish(c);
    fail("cannot connect", reason);
  }
  conn_ = c;
  // A statement or a lock wait never runs long (the daemon retries), a transaction left open
  // by a frozen client does not hold its locks for long, and doubles read back exactly.
  exec_script(
      "SET statement_timeout = '10s'; SET lock_timeout = '5s'; "
      "SET idle_in_transaction_session_timeout = '15s'; SET extra_float_digits = 3",
      "cannot configure the session");
}

bool connection::still_open() {
  // Reads what is waiting, a few times at most: a closed connection shows its end within two
  // reads (the FATAL message the server sent, then end of file).
  for (int i = 0; i < 4; ++i) {
    if (PQstatus(conn_) != CONNECTION_OK) return false;
    pollfd p{};
    p.fd = PQsocket(conn_);
    p.events = POLLIN;
    if (::poll(&p, 1, 0) <= 0) return true;
    if (!PQconsumeInput(conn_)) return false;
  }
  return PQstatus(conn_) == CONNECTION_OK;
}

void connection::ensure_connected() {
  // The server may have closed the connection while we were idle (a restart, a timeout): this
  // statement then goes to a new connection instead of failing on the old one.
  if (conn_ && !in_transaction_ && !still_open()) drop();
  if (!conn_) {
    if (in_transaction_) fail("cannot continue the transaction", "the connection was lost");
    connect();
  }
}

void connection::wait_socket(bool for_write, std::chrono::steady_clock::time_point deadline,
                             std::string_view what) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      drop();
      fail(what, "no answer from the server within " + std::to_string(io_timeout_.count()) +
                     " ms (connection dropped)");
    }
    pollfd p{};
    p.fd = PQsocket(conn_);
    p.events = static_cast<short>(for_write ? (POLLOUT | POLLIN) : POLLIN);
    const int rc = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 1000)));
    if (rc > 0) return;
    if (rc < 0 && errno != EINTR) {
      const std::string reason = std::system_category().message(errno);
      drop();
      fail(what, "poll: " + reason);
    }
  }
}

template <class Send>
result connection::run(Send send, std::string_view what) {
  const auto deadline = std::chrono::steady_clock::now() + io_timeout_;
  if (!send()) fail_connection(what);
  for (;;) {
    const int flushed = PQflush(conn_);
    if (flushed == 0) break;
    if (flushed < 0) fail_connection(what);
    wait_socket(true, deadline, what);
    // The server may be answering (an error) while we still send: take it in.
    if (!PQconsumeInput(conn_)) fail_connection(what);
  }
  result last;
  std::optional<std::string> error;
  for (;;) {
    while (PQisBusy(conn_)) {
      wait_socket(false, deadline, what);
      if (!PQconsumeInput(conn_)) fail_connection(what);
    }
    pg_result* r = PQgetResult(conn_);
    if (!r) break;
    const ExecStatusType status = PQresultStatus(r);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
      last = result(r);
      continue;
    }
    if (!error) {
      const char* primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
      const char* detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
      error = primary ? std::string(primary) : std::string(PQresultErrorMessage(r));
      if (detail) *error += " (" + std::string(detail) + ")";
    }
    PQclear(r);
  }
  if (error) {
    if (PQstatus(conn_) != CONNECTION_OK) drop();
    fail(what, *error);
  }
  return last;
}

result connection::exec(std::string_view sql, const params& p, std::string_view what) {
  ensure_connected();
  const std::string text(sql);
  const std::size_t n = p.values_.size();
  std::vector<unsigned int> types(n);
  std::vector<const char*> values(n);
  std::vector<int> lengths(n);
  std::vector<int> formats(n);
  for (std::size_t i = 0; i < n; ++i) {
    const params::value& v = p.values_[i];
    types[i] = v.type;
    values[i] = v.data.data();  // never null: an empty value is '' (or an empty bytea)
    lengths[i] = static_cast<int>(v.data.size());
    formats[i] = v.binary ? 1 : 0;
  }
  return run(
      [&] {
        return PQsendQueryParams(conn_, text.c_str(), static_cast<int>(n), types.data(),
                                 values.data(), lengths.data(), formats.data(), 0) != 0;
      },
      what);
}

void connection::exec_script(std::string_view sql, std::string_view what) {
  ensure_connected();
  const std::string text(sql);
  run([&] { return PQsendQuery(conn_, text.c_str()) != 0; }, what);
}

// ---- transaction ----

transaction::transaction(connection& c) : c_(c) {
  c_.exec("BEGIN", "cannot begin a transaction");
  c_.in_transaction_ = true;
}

transaction::~transaction() {
  if (!open_) return;
  try {
    if (c_.conn_) c_.exec("ROLLBACK", "cannot roll back");
  } catch (const store_error&) {
    // The connection is gone or broken: the server rolls back on its own.
    c_.drop();
  }
  c_.in_transaction_ = false;
}

void transaction::commit() {
  open_ = false;
  // Still in the transaction while COMMIT runs: a connection lost meanwhile must fail it, not
  // send it to a new connection where it would commit nothing and succeed.
  struct leave {
    connection& c;
    ~leave() { c.in_transaction_ = false; }
  } left{c_};
  c_.exec("COMMIT", "cannot commit");
}

}  // namespace qoewatch::state::pg
