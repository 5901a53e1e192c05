#include "evaluate/value_store.hpp"

#include <algorithm>

namespace qoewatch::evaluate {

namespace {
constexpr std::uint32_t first_chunk = 16;
constexpr std::uint32_t largest_chunk = 4096;
}  // namespace

void value_store::reserve(std::size_t values) {
  if (reserved_) return;
  reserved_ = true;
  if (values * sizeof(double) < zeroed_block::huge_page) return;
  block_ = std::make_unique<zeroed_block>((values + values / 4) * sizeof(double));
}

void value_store::add_chunk(run& r) {
  const std::uint32_t capacity =
      r.chunks.empty() ? first_chunk : std::min(r.chunks.back().capacity * 2, largest_chunk);
  r.chunks.push_back({take(capacity), 0, capacity});
}

double* value_store::take(std::size_t n) {
  if (block_ && block_->size() / sizeof(double) - used_ >= n) {
    double* p = static_cast<double*>(block_->data()) + used_;
    used_ += n;
    return p;
  }
  heap_.push_back(std::make_unique_for_overwrite<double[]>(n));
  return heap_.back().get();
}

}  // namespace qoewatch::evaluate
