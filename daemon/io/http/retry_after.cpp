#include "http/retry_after.hpp"

#include <algorithm>
#include <charconv>

namespace qoewatch::http {

std::optional<std::chrono::seconds> retry_after(const response& r) {
  const std::string* v = r.header("retry-after");
  if (v == nullptr) return std::nullopt;
  long s = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), s);
  if (ec != std::errc{} || p != v->data() + v->size() || s < 0) return std::nullopt;
  return std::chrono::seconds(std::min<long>(s, 3600));
}

}  // namespace qoewatch::http
