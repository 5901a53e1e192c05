// One libpq connection for pg_store (internal to qoewatch_state): connecting with the settings
// a daemon needs (timeouts, keepalives, application_name), parameterized statements with a
// client-side deadline, results read as text, a transaction guard, and errors that name the
// database without its password. libpq itself stays in pg_connection.cpp.
//
// Failures throw store_error "<url without password>: <what failed>: <libpq's reason>", the
// reason scrubbed of the URL's passwords. A connection the server closed (a restart, a network
// cut, a deadline that passed) is dropped and made again by the next statement that runs
// outside a transaction. Not thread-safe: one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "state/store.hpp"

struct pg_conn;    // libpq's PGconn
struct pg_result;  // libpq's PGresult

namespace qoewatch::state::pg {

/// `(extract(epoch from clock_timestamp()) * 1000)::bigint`: the database's clock in ms, read
/// when the expression runs (not at the start of the transaction), for the lease tables.
inline constexpr std::string_view now_ms = "(extract(epoch from clock_timestamp())*1000)::bigint";

/// The parameters of one statement, $1 to $n in the order added. Scalars go as text (the
/// server casts them to the column's type); bodies and arrays go in binary, so no value is
/// ever escaped into SQL text. Arrays are one-dimensional, without NULLs, for unnest().
class params {
 public:
  params& text(std::string_view v);
  params& int64(std::int64_t v);
  params& real(double v);             // shortest text that reads back as the same double
  params& bytes(std::string_view v);  // bytea
  params& text_array(std::span<const std::string> v);
  params& bytes_array(std::span<const std::string> v);  // bytea[]
  params& int64_array(std::span<const std::int64_t> v);
  params& int32_array(std::span<const int> v);
  params& real_array(std::span<const double> v);  // float8[]

  std::size_t size() const { return values_.size(); }

 private:
  friend class connection;
  struct value {
    std::string data;
    unsigned int type = 0;  // an Oid; 0: the server infers it
    bool binary = false;
  };
  params& add(std::string data, unsigned int type, bool binary);
  std::vector<value> values_;
};

/// A statement's rows, read as text. Throws nothing but std::bad_alloc and the conversion
/// failures noted.
class result {
 public:
  result() = default;
  explicit result(pg_result* r);
  int rows() const;
  bool null(int row, int col) const;
  std::string text(int row, int col) const;
  std::string bytes(int row, int col) const;  // a bytea column, decoded
  /// An integer column; throws store_error (without context: the caller adds it) when the
  /// text is not one.
  std::int64_t int64(int row, int col) const;
  int int32(int row, int col) const;
  double real(int row, int col) const;
  /// Rows an INSERT, UPDATE or DELETE touched.
  std::int64_t affected() const;

 private:
  struct deleter {
    void operator()(pg_result* r) const;
  };
  std::unique_ptr<pg_result, deleter> r_;
};

class connection {
 public:
  /// Nothing is connected until the first statement (or connect()). `url`: a libpq URI or
  /// keyword=value settings; `io_timeout`: how long one statement may wait for the server
  /// (a black-holed or frozen server otherwise blocks the caller forever: TCP keeps
  /// answering for a stopped process).
  connection(std::string url, std::chrono::milliseconds io_timeout);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// The URL without its passwords: the start of every error's text.
  const std::string& describe() const { return described_; }

  /// Connects now unless connected; throws store_error "...: cannot connect: ...".
  void connect();
  /// Drops the connection (the next statement connects again).
  void drop();

  /// Runs one parameterized statement and returns its rows. `what` says what failed in the
  /// error ("cannot commit"). Outside a transaction, reconnects first when the server has
  /// closed the connection since the last statement.
  result exec(std::string_view sql, const params& p, std::string_view what);
  result exec(std::string_view sql, std::string_view what) { return exec(sql, params{}, what); }
  /// Runs constant SQL that may hold several statements (schema migrations; no parameters).
  void exec_script(std::string_view sql, std::string_view what);

  /// Throws store_error "<describe>: <what>: <reason>", the reason scrubbed of secrets.
  [[noreturn]] void fail(std::string_view what, std::string_view reason) const;

  bool in_transaction() const { return in_transaction_; }

 private:
  friend class transaction;
  void ensure_connected();
  bool still_open();
  // Sends what `send` sends, waits (at most io_timeout) and returns the last result, throwing
  // on the first error.
  template <class Send>
  result run(Send send, std::string_view what);
  void wait_socket(bool for_write, std::chrono::steady_clock::time_point deadline,
                   std::string_view what);
  std::string scrub(std::string text) const;
  [[noreturn]] void fail_connection(std::string_view what);

  std::string url_;
  std::string described_;
  std::vector<std::string> secrets_;  // passwords as written and as decoded, the URL itself
  std::chrono::milliseconds io_timeout_;
  pg_conn* conn_ = nullptr;
  bool in_transaction_ = false;
};

/// BEGIN on construction; COMMIT in commit(); ROLLBACK when destroyed before that (a failure,
/// an exception), ignoring errors: a lost connection rolls back on its own.
class transaction {
 public:
  explicit transaction(connection& c);
  ~transaction();
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;
  /// Throws store_error "...: cannot commit: ..." (whether it was written is then unknown).
  void commit();

 private:
  connection& c_;
  bool open_ = true;
};

}  // namespace qoewatch::state::pg
