// The percentile values' store and the zeroed blocks under it: every value comes back in the
// order added, whether its chunk came from the heap, the reserved block, or the heap again
// once the block was used up; a block is zero and writable whatever its size.
#include "evaluate/value_store.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "evaluate/zeroed_block.hpp"

using namespace qoewatch;

namespace {

std::vector<double> contents(const evaluate::value_store::run& r) {
  std::vector<double> out;
  for (const evaluate::value_store::chunk& c : r.chunks)
    out.insert(out.end(), c.data, c.data + c.size);
  return out;
}

}  // namespace

TEST(ValueStore, RunsKeepTheirValuesInOrderWhereverTheirChunksCameFrom) {
  // No reserve, a reserve too small to count, one made after values were added, and one
  // that the runs outgrow (2.5 MB of values reserved, 5 MB added).
  const std::size_t reserves[] = {0, 1000, 327680, 327680};
  const std::size_t reserve_after[] = {0, 0, 5000, 0};
  for (std::size_t k = 0; k < 4; ++k) {
    SCOPED_TRACE("case " + std::to_string(k));
    evaluate::value_store store;
    std::vector<evaluate::value_store::run> runs(7);
    std::vector<std::vector<double>> want(7);
    for (std::size_t i = 0; i < 660000; ++i) {
      if (reserves[k] != 0 && i == reserve_after[k]) store.reserve(reserves[k]);
      // Runs of very different sizes: run 0 gets most values, run 6 a handful.
      const std::size_t r = i % 100 == 0 ? 1 + (i / 100) % 5 : i % 9973 == 0 ? 6 : 0;
      const double v = static_cast<double>(i) * 0.5;
      store.push_back(runs[r], v);
      want[r].push_back(v);
    }
    for (std::size_t r = 0; r < runs.size(); ++r) {
      ASSERT_EQ(contents(runs[r]), want[r]) << "run " << r;
      for (std::size_t c = 1; c < runs[r].chunks.size(); ++c)  // 16, 32, ... up to 4096
        EXPECT_EQ(runs[r].chunks[c].capacity,
                  std::min<std::uint32_t>(runs[r].chunks[c - 1].capacity * 2, 4096));
    }
    EXPECT_EQ(runs[0].chunks.front().capacity, 16u);
  }
}

TEST(ZeroedBlock, IsZeroAndWritableSmallOrLarge) {
  for (const std::size_t bytes :
       {std::size_t{0}, std::size_t{24}, std::size_t{1} << 20, std::size_t{5} << 20}) {
    evaluate::zeroed_block b(bytes);
    ASSERT_NE(b.data(), nullptr);
    EXPECT_EQ(b.size(), bytes);
    auto* p = static_cast<unsigned char*>(b.data());
    std::size_t nonzero = 0;
    for (std::size_t i = 0; i < bytes; ++i) nonzero += p[i] != 0;
    EXPECT_EQ(nonzero, 0u) << bytes;
    for (std::size_t i = 0; i < bytes; i += 4096) p[i] = 0xff;
    if (bytes >= evaluate::zeroed_block::huge_page) {  // starts on a huge page boundary
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.data()) % evaluate::zeroed_block::huge_page,
                0u);
    }
  }
}
