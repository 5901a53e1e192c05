// Rendezvous hashing with bounded loads: which live replica should hold each name.
#include <algorithm>
#include <numeric>

#include "hash.hpp"
#include "lease/lease.hpp"

namespace qoewatch::lease {

namespace {

// splitmix64's finalizer: every input bit reaches every output bit. FNV-1a's last bytes only
// pass through one multiplication, which spreads them upwards poorly; rendezvous hashing
// compares whole values, so plain FNV-1a made "rule-1" ... "rule-300" land unevenly (a quarter
// of random 3-replica clusters missed 100 ± 15 by weight alone, against the binomial seventh).
std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

std::uint64_t weight(std::string_view name, std::string_view owner) {
  // The NUL keeps ("ab", "c") and ("a", "bc") apart.
  return mix(fnv1a(owner, fnv1a(std::string_view("\0", 1), fnv1a(name))));
}

std::vector<std::size_t> spread(std::span<const std::string> names,
                                std::span<const std::string> owners,
                                std::uint64_t (*weigh)(std::string_view, std::string_view)) {
  std::vector<std::size_t> out(names.size(), 0);
  if (names.empty() || owners.empty()) return out;
  // Each owner gets `floor` names, and the first `extra` to fill up one more: the shares differ
  // by at most one (a plain ceiling would leave 334, 334 and 332 of 1000).
  const std::size_t floor = names.size() / owners.size();
  const std::size_t extra = names.size() % owners.size();
  std::size_t above_floor = 0;

  // Dealt in an order of their own, not the callers' nor the alphabet's, so that the names
  // that find their first choice full are a random few rather than the last letters.
  std::vector<std::uint64_t> order_key(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) order_key[i] = mix(fnv1a(names[i]));
  std::vector<std::size_t> order(names.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (order_key[a] != order_key[b]) return order_key[a] < order_key[b];
    return names[a] < names[b];
  });

  std::vector<std::size_t> load(owners.size(), 0);
  for (std::size_t i : order) {
    std::size_t best = owners.size();
    std::uint64_t best_weight = 0;
    for (std::size_t o = 0; o < owners.size(); ++o) {
      if (load[o] > floor || (load[o] == floor && above_floor == extra)) continue;
      const std::uint64_t w = weigh(names[i], owners[o]);
      if (best == owners.size() || w > best_weight ||
          (w == best_weight && owners[o] < owners[best])) {
        best = o;
        best_weight = w;
      }
    }
    // floor * owners + extra == names, so some owner always has room.
    out[i] = best;
    if (++load[best] == floor + 1) ++above_floor;
  }
  return out;
}

}  // namespace qoewatch::lease
