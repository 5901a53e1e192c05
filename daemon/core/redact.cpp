#include "redact.hpp"

#include <algorithm>
#include <string_view>

namespace qoewatch {

std::string redact(std::string text, std::vector<std::string> secrets) {
  constexpr std::size_t shortest = 6;
  std::erase_if(secrets, [](const std::string& s) { return s.size() < shortest; });
  std::sort(secrets.begin(), secrets.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  const std::string_view mark(redacted);
  for (const std::string& secret : secrets) {
    for (std::size_t at = text.find(secret); at != std::string::npos;
         at = text.find(secret, at + mark.size()))
      text.replace(at, secret.size(), mark);
  }
  return text;
}

}  // namespace qoewatch
