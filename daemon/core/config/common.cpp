#include "config/common.hpp"

#include <boost/url/parse.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "text/join.hpp"

namespace qoewatch::config {

std::string in_quotes(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

std::string join_list(const std::vector<std::string_view>& items) {
  return text::join(items, ", ");
}

std::string join_or(const std::vector<std::string_view>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += i + 1 == items.size() ? " or " : ", ";
    out += items[i];
  }
  return out;
}

std::string key_path(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

std::string index_path(const std::string& parent, std::size_t i) {
  return parent + "[" + std::to_string(i) + "]";
}

std::optional<std::string> url_problem(const std::string& url, const std::string& shown) {
  auto u = boost::urls::parse_absolute_uri(url);
  const std::string hint = " (write http://host[:port][/path] or https://...)";
  if (!u) return shown + " is not a URL" + hint;
  if (u->scheme() != "http" && u->scheme() != "https")
    return "scheme " + in_quotes(u->scheme()) + " is not supported" + hint;
  if (u->host().empty()) return shown + " has no host" + hint;
  // Never echo the URL back: the user part may hold a password.
  if (u->has_userinfo())
    return "credentials in the URL are not allowed (they would end up in logs; use a header or "
           "a secret file)";
  if (u->has_fragment()) return "must not have a #fragment";
  return std::nullopt;
}

std::optional<std::string> read_file(const std::string& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = std::strerror(errno);
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    error = "read error";
    return std::nullopt;
  }
  return ss.str();
}

}  // namespace qoewatch::config
