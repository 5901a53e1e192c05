// The offending rows of one poll, kept compactly and in arrival order, within a memory budget:
// rows are appended to chunks of bytes, and the oldest chunks beyond the budget go to a spill
// (a temporary file, from the I/O layer) and are read back when the rows are read. A poll that
// finds a million offending sessions so holds a few megabytes of them, not a million rows.
// Pure code but for the spill it is given; a spill that fails throws out of the call that
// used it (append or a read) and the log is then unusable. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fetch/page.hpp"

namespace qoewatch::evaluate {

/// Where a row_log keeps the chunks it does not hold in memory.
class spill {
 public:
  virtual ~spill() = default;
  /// Writes `bytes` at `offset`. Throws std::runtime_error (or a subclass) on failure.
  virtual void write(std::uint64_t offset, std::string_view bytes) = 0;
  /// Reads exactly out.size() bytes at `offset`, written before. Throws on failure.
  virtual void read(std::uint64_t offset, std::span<char> out) = 0;
};

class row_log {
 public:
  struct options {
    std::size_t memory_budget = 8u << 20;  // bytes of rows held in memory at most (about)
    std::size_t chunk_bytes = 256u << 10;  // rows are kept and spilled in chunks of this size
    // Called once, when the budget is first exceeded; without it everything stays in memory.
    std::function<std::unique_ptr<spill>()> make_spill;
  };

  row_log() : row_log(options{}) {}
  explicit row_log(options o);
  row_log(row_log&&) noexcept;
  row_log& operator=(row_log&&) noexcept;
  ~row_log();

  /// Appends a copy of `row`.
  void append(const fetch::session_row& row);
  /// Rows appended (and not truncated away).
  std::size_t size() const { return rows_; }
  bool empty() const { return rows_ == 0; }
  /// Drops the rows from index `rows` on (rows <= size()).
  void truncate(std::size_t rows);
  /// Whether row `index` (< size()) has this session id.
  bool sessionid_is(std::size_t index, std::string_view sessionid) const;
  /// Bytes of rows held in memory now, and whether any went to the spill.
  std::size_t bytes_in_memory() const { return in_memory_; }
  bool spilled() const { return spill_ != nullptr; }

  /// Reads the rows from the first on, in order. The log must not change while it is read.
  class reader {
   public:
    explicit reader(const row_log& log) : log_(&log) {}
    /// The next row into `row` (its strings and vectors reused); false after the last.
    bool next(fetch::session_row& row);
    /// Index of the row the next call reads.
    std::size_t index() const { return index_; }

   private:
    const row_log* log_;
    std::size_t chunk_ = 0;
    std::size_t offset_ = 0;  // in the chunk's bytes
    std::size_t index_ = 0;
    std::string buffer_;   // a spilled chunk, read back
    bool loaded_ = false;  // buffer_ holds chunk_
  };

 private:
  struct chunk {
    std::uint64_t start = 0;  // byte offset among all rows (and in the spill)
    std::size_t size = 0;     // bytes
    std::size_t first_row = 0;
    std::size_t rows = 0;
    std::string bytes;  // empty when spilled
    bool spilled = false;
  };
  // A spilled chunk's bytes are read into `into`; an in-memory chunk's are returned as they are.
  std::string_view bytes_of(const chunk& c, std::string& into) const;
  void close_chunk();  // the last chunk is full: spill what is over the budget
  std::size_t chunk_of(std::size_t index) const;

  options opt_;
  std::vector<chunk> chunks_;
  std::size_t rows_ = 0;
  std::size_t in_memory_ = 0;
  std::unique_ptr<spill> spill_;
  mutable std::string scratch_;  // sessionid_is on a spilled chunk
};

}  // namespace qoewatch::evaluate
