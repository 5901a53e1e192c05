// Inside the config module: the small pieces its parsers, its loader and its secret reader
// share. How messages quote and list things, how key paths are spelled, what makes an http(s)
// URL acceptable, where systemd's credentials are, and reading a whole file. Pure apart from
// read_file; nothing here throws for bad input.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qoewatch::config {

/// "\"s\"": how a message shows a value it repeats.
std::string in_quotes(std::string_view s);

/// "a, b, c".
std::string join_list(const std::vector<std::string_view>& items);

/// "a, b, c or d".
std::string join_or(const std::vector<std::string_view>& items);

/// The names of one of config.hpp's enum tables, in its order.
template <class Enum, std::size_t N>
std::vector<std::string_view> names_of(
    const std::array<std::pair<Enum, std::string_view>, N>& table) {
  std::vector<std::string_view> out;
  for (const auto& entry : table) out.push_back(entry.second);
  return out;
}

/// "parent.key" ("key" at the top); "parent[i]".
std::string key_path(const std::string& parent, std::string_view key);
std::string index_path(const std::string& parent, std::size_t i);

/// What is wrong with `url` as an http(s) address to POST or GET, if anything. `shown` is how
/// a message may name it: the URL itself, or where it came from when it is a secret.
std::optional<std::string> url_problem(const std::string& url, const std::string& shown);

/// Secret files may be named relative to the folder systemd gives the service's credentials;
/// such paths are kept as written and expanded when the secrets are read.
inline constexpr std::string_view credentials_prefix = "$CREDENTIALS_DIRECTORY/";

/// The whole file, or std::nullopt with `error` set to why not (strerror's text).
std::optional<std::string> read_file(const std::string& path, std::string& error);

}  // namespace qoewatch::config
