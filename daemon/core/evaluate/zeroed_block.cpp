#include "evaluate/zeroed_block.hpp"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <new>

namespace qoewatch::evaluate {

zeroed_block::zeroed_block(std::size_t bytes) : size_(bytes) {
  if (bytes < huge_page) {
    data_ = std::calloc(bytes == 0 ? 1 : bytes, 1);
    if (data_ == nullptr) throw std::bad_alloc();
    return;
  }
  // One huge page more than asked, so that the block can start on a huge page boundary.
  mapped_ = bytes + huge_page;
  mapping_ = ::mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapping_ == MAP_FAILED) throw std::bad_alloc();
  const auto start = reinterpret_cast<std::uintptr_t>(mapping_);
  data_ = reinterpret_cast<void*>((start + huge_page - 1) & ~(huge_page - 1));
  // Only advice: without transparent huge pages nothing changes but the fault count.
  ::madvise(data_, bytes, MADV_HUGEPAGE);
}

zeroed_block::~zeroed_block() {
  if (mapping_ != nullptr)
    ::munmap(mapping_, mapped_);
  else
    std::free(data_);
}

}  // namespace qoewatch::evaluate
