#include "evaluate/seen_set.hpp"

#include <algorithm>
#include <bit>
#include <new>

namespace qoewatch::evaluate {

seen_set::seen_set() : tables_(table_count) {}
seen_set::~seen_set() = default;

void seen_set::reserve(std::size_t n) {
  if (block_ || n < table_count) return;
  // Each table at most half full with its share of n.
  const std::size_t capacity = std::bit_ceil(2 * (n / table_count));
  block_ = std::make_unique<zeroed_block>(capacity * table_count * sizeof(std::uint64_t));
  auto* slots = static_cast<std::uint64_t*>(block_->data());
  for (std::size_t i = 0; i < table_count; ++i) {
    table& t = tables_[i];
    if (t.capacity >= capacity) continue;  // already larger: it keeps its own
    place(t, slots + i * capacity, capacity);
    t.own = {};
  }
}

void seen_set::place(table& t, std::uint64_t* slots, std::size_t capacity) {
  const std::size_t mask = capacity - 1;
  for (std::size_t j = 0; j < t.capacity; ++j) {
    const std::uint64_t h = t.slots[j];
    if (h == 0) continue;
    std::size_t i = h & mask;
    while (slots[i] != 0) i = (i + 1) & mask;
    slots[i] = h;
  }
  t.slots = slots;
  t.capacity = capacity;
}

void seen_set::grow(table& t, std::size_t capacity) {
  std::vector<std::uint64_t> slots(capacity, 0);
  place(t, slots.data(), capacity);
  t.own = std::move(slots);  // the old own slots, if it had them, go
}

void seen_set::prefetch(std::uint64_t hash) const {
  const table& t = table_of(hash);
  if (t.capacity != 0) __builtin_prefetch(&t.slots[hash & (t.capacity - 1)], 1);
}

bool seen_set::insert(std::uint64_t hash) {
  table& t = table_of(hash);
  if ((t.count + 1) * 2 > t.capacity) grow(t, std::max<std::size_t>(16, t.capacity * 2));
  const std::size_t mask = t.capacity - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    if (t.slots[i] == hash) return false;
    if (t.slots[i] == 0) {
      t.slots[i] = hash;
      ++t.count;
      ++size_;
      return true;
    }
  }
}

void seen_set::erase(std::uint64_t hash) {
  table& t = table_of(hash);
  if (t.capacity == 0) return;
  const std::size_t mask = t.capacity - 1;
  std::size_t hole = hash & mask;
  while (t.slots[hole] != hash) {
    if (t.slots[hole] == 0) return;
    hole = (hole + 1) & mask;
  }
  // Backward-shift deletion: a later entry of the probe run moves into the hole unless its
  // home slot lies cyclically in (hole, its slot], so every entry stays reachable.
  for (std::size_t j = (hole + 1) & mask; t.slots[j] != 0; j = (j + 1) & mask) {
    const std::size_t home = t.slots[j] & mask;
    const bool stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
    if (stays) continue;
    t.slots[hole] = t.slots[j];
    hole = j;
  }
  t.slots[hole] = 0;
  --t.count;
  --size_;
}

}  // namespace qoewatch::evaluate
