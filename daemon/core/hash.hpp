// FNV-1a 64: a small hash that is the same on every run, build and machine, for values that
// must stay stable (alert fingerprints, per-rule start jitter). Not for security.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace qoewatch {

inline constexpr std::uint64_t fnv1a_basis = 14695981039346656037ull;

/// Continues the hash `h` over `bytes`; start from fnv1a_basis.
constexpr std::uint64_t fnv1a(std::string_view bytes, std::uint64_t h = fnv1a_basis) {
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

/// `v` as 16 lowercase hex digits, most significant first.
inline std::string hex16(std::uint64_t v) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) out[static_cast<std::size_t>(i)] = digits[v & 0xf];
  return out;
}

}  // namespace qoewatch
