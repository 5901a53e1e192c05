#include "redact.hpp"

#include <algorithm>
#include <optional>

#include "text/conninfo.hpp"

namespace qoewatch {

namespace {

// The settings libpq takes a password from.
bool is_password_keyword(std::string_view keyword) {
  return keyword == "password" || keyword == "sslpassword";
}

// %XX decoded; std::nullopt for a % not followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    int hi = hex(s[i + 1]);
    int lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

// The query of a URI without its password parameters. A parameter whose name cannot be
// decoded goes too: it might be one.
std::string redact_query(std::string_view query) {
  std::string out;
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    std::optional<std::string> name = percent_decode(param.substr(0, param.find('=')));
    if (!name || is_password_keyword(*name)) continue;
    if (!out.empty()) out += '&';
    out += param;
  }
  return out;
}

std::string redact_uri(std::string_view url) {
  const std::size_t after_scheme = url.find("://") + 3;
  std::string out(url.substr(0, after_scheme));
  std::string_view rest = url.substr(after_scheme);
  // libpq ends the user part at the first '@' before the first '/'. The last one is taken
  // here: an '@' written raw inside a password then does not leave the password's tail
  // behind as if it were the host.
  // An '@' after the first '/' (in the path, before any query) means a password written with
  // a raw '/' in it: libpq reads that URI otherwise, and no part of it is safe to show.
  const std::size_t slash = rest.find('/');
  if (slash != std::string_view::npos &&
      rest.substr(slash, rest.find('?') - std::min(rest.find('?'), slash)).find('@') !=
          std::string_view::npos)
    return std::string(redacted);
  std::size_t at = rest.substr(0, slash).rfind('@');
  if (at != std::string_view::npos) {
    std::string_view user = rest.substr(0, std::min(rest.find(':'), at));
    if (!user.empty()) out.append(user).append("@");
    rest = rest.substr(at + 1);
  }
  std::size_t question = rest.find('?');
  out += rest.substr(0, question);
  if (question != std::string_view::npos) {
    std::string query = redact_query(rest.substr(question + 1));
    if (!query.empty()) out += "?" + query;
  }
  return out;
}

}  // namespace

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

std::string redact_url(std::string_view url) {
  if (text::is_connection_uri(url)) return redact_uri(url);
  std::optional<std::vector<text::conninfo_setting>> settings = text::parse_conninfo(url);
  if (!settings) return redacted;
  std::string out;
  for (const text::conninfo_setting& s : *settings) {
    if (is_password_keyword(s.keyword)) continue;
    if (!out.empty()) out += ' ';
    out += url.substr(s.begin, s.end - s.begin);
  }
  return out;
}

}  // namespace qoewatch
