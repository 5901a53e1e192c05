// Memory for a poll's largest structures, taken once and zero: from the heap when small;
// when 2 MB or more, mapped on its own and offered huge pages (MADV_HUGEPAGE), so that filling
// it costs a page fault per 2 MB instead of per 4 KB, and random probes rarely miss the TLB.
#pragma once

#include <cstddef>

namespace qoewatch::evaluate {

class zeroed_block {
 public:
  static constexpr std::size_t huge_page = std::size_t{2} << 20;

  explicit zeroed_block(std::size_t bytes);  // throws std::bad_alloc
  ~zeroed_block();
  zeroed_block(const zeroed_block&) = delete;
  zeroed_block& operator=(const zeroed_block&) = delete;

  void* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
  void* mapping_ = nullptr;  // when mapped: what to unmap
  std::size_t mapped_ = 0;
};

}  // namespace qoewatch::evaluate
