// Where a population poll keeps the metric values its percentiles need, 8 bytes a session.
// Each group's values of a metric are a run of chunks that never move: 16 values first, each
// next chunk twice the last up to 4096 (32 KB), so a small group costs little and a large one
// is never copied while the pages are read. Chunks come from one zeroed_block once reserve()
// has sized it for the window, otherwise (and once it is used up) from the heap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "evaluate/zeroed_block.hpp"

namespace qoewatch::evaluate {

class value_store {
 public:
  struct chunk {
    double* data = nullptr;
    std::uint32_t size = 0;
    std::uint32_t capacity = 0;
  };
  /// One group's values of one metric, in the order they were added.
  struct run {
    std::vector<chunk> chunks;
  };

  void push_back(run& r, double v) {
    if (r.chunks.empty() || r.chunks.back().size == r.chunks.back().capacity) add_chunk(r);
    chunk& c = r.chunks.back();
    c.data[c.size++] = v;
  }

  /// Room for about `values` values (a little more, for the runs' unfilled last chunks), in
  /// one block. Only the first call counts; below 2 MB of values it does nothing, as the
  /// heap serves a small window as well.
  void reserve(std::size_t values);

 private:
  void add_chunk(run& r);
  double* take(std::size_t n);

  bool reserved_ = false;
  std::unique_ptr<zeroed_block> block_;
  std::size_t used_ = 0;  // values of block_ handed out
  std::vector<std::unique_ptr<double[]>> heap_;
};

}  // namespace qoewatch::evaluate
