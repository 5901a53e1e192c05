// The sessions a population poll has seen, by a 64-bit hash of their id, so that a session a
// shifting window shows on two pages counts once. Pure code; its only dealing with the system
// is asking for its memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "evaluate/zeroed_block.hpp"

namespace qoewatch::evaluate {

/// Open addressing, each table at most half full, 0 marking an empty slot (a hash of 0 must
/// be given as another value). Two ids of one window colliding (about 1 in 10^7 at a million
/// sessions) would count one session less. The hash's top byte picks one of 256 tables: each
/// grows on its own, small enough to rehash in cache and to reuse the memory of the others'
/// old tables, so the set never holds an old and a new copy of the whole.
class seen_set {
 public:
  seen_set();
  ~seen_set();
  seen_set(const seen_set&) = delete;
  seen_set& operator=(const seen_set&) = delete;

  /// Room for about `n` hashes, taken at once in one zeroed_block. Growing a table
  /// at a time zeroes and rehashes about twice the memory the set ends with. Once: later
  /// calls do nothing. A table given more than its share grows as usual.
  void reserve(std::size_t n);

  /// Starts loading the slot `hash` probes first, so that an insert of it a little later
  /// rarely waits on memory.
  void prefetch(std::uint64_t hash) const;

  /// Marks `hash` seen; false when it already was.
  bool insert(std::uint64_t hash);

  /// Unmarks a hash insert() marked; nothing when it is not there.
  void erase(std::uint64_t hash);

  std::size_t size() const { return size_; }

 private:
  struct table {
    std::uint64_t* slots = nullptr;  // `capacity` of them: in `own` or in the block
    std::size_t capacity = 0;        // a power of two
    std::size_t count = 0;
    std::vector<std::uint64_t> own;
  };
  static constexpr std::size_t table_count = 256;
  table& table_of(std::uint64_t hash) { return tables_[hash >> 56]; }
  const table& table_of(std::uint64_t hash) const { return tables_[hash >> 56]; }
  static void grow(table& t, std::size_t capacity);
  // Rehashes t's entries into `slots` (zero, `capacity` of them), which become t's.
  static void place(table& t, std::uint64_t* slots, std::size_t capacity);

  std::vector<table> tables_;
  std::unique_ptr<zeroed_block> block_;  // reserve()'s memory
  std::size_t size_ = 0;
};

}  // namespace qoewatch::evaluate
