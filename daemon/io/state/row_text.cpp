#include "state/row_text.hpp"

#include <algorithm>

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "text/join.hpp"

namespace qoewatch::state {

std::string group_text(const std::vector<std::pair<std::string, std::string>>& group) {
  boost::json::array a;
  for (const auto& [dim, value] : group) a.push_back(boost::json::array{dim, value});
  return boost::json::serialize(a);
}

std::vector<std::pair<std::string, std::string>> group_of(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_array()) return out;
  for (const boost::json::value& e : v.get_array()) {
    const boost::json::array* pair = e.if_array();
    if (pair && pair->size() == 2 && (*pair)[0].is_string() && (*pair)[1].is_string())
      out.emplace_back((*pair)[0].get_string(), (*pair)[1].get_string());
  }
  return out;
}

std::string sinks_text(const std::vector<std::string>& sinks) {
  return text::join(sinks, ",");
}

std::vector<std::string> sinks_of(const std::string& text) {
  std::vector<std::string> out;
  for (std::size_t from = 0; from < text.size();) {
    std::size_t to = std::min(text.find(',', from), text.size());
    out.push_back(text.substr(from, to - from));
    from = to + 1;
  }
  return out;
}

}  // namespace qoewatch::state
