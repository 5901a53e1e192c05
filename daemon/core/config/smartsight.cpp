#include "config/sections.hpp"

#include <limits>

#include "config/common.hpp"
#include "rules/identifier.hpp"

namespace qoewatch::config::sections {

using rules::is_identifier;

void smartsight(const yaml::node& n, smartsight_config& out) {
  // A key that looks like the API key itself: say where it belongs instead of "unknown key".
  auto literal_key = [](const std::string& key) -> std::optional<std::string> {
    if (key != "api_key" && key != "apikey" && key != "key") return std::nullopt;
    return "a literal API key does not belong in the config file (put it in a file named by "
           "api_key_file, or an environment variable named by api_key_env)";
  };
  if (!n.check_map({"base_url", "customer_id", "api_key_file", "api_key_env", "timeout",
                    "page_size", "extra_metrics", "ca_file", "max_response_bytes", "max_pages",
                    "max_concurrency"},
                   "base_url, customer_id, api_key_file or api_key_env, ...", literal_key))
    return;
  if (yaml::node v = n["base_url"]) {
    if (auto s = v.http_url()) {
      std::string url = *s;
      while (!url.empty() && url.back() == '/') url.pop_back();
      if (url.find('?') != std::string::npos)
        v.error("must not have a query string (qoewatch builds the query)");
      out.base_url = url;
    }
  }
  if (yaml::node v = n["customer_id"]) {
    if (auto id = v.whole_number(1, std::numeric_limits<std::int64_t>::max(),
                                 "the numeric customer id"))
      out.customer_id = static_cast<std::uint64_t>(*id);
  } else {
    n.missing("customer_id", "missing (required: the numeric SmartSight customer id)");
  }
  yaml::node key_file = n["api_key_file"];
  yaml::node key_env = n["api_key_env"];
  if (key_file && key_env) {
    key_env.error("api_key_file and api_key_env are both set (keep one)");
  } else if (key_file) {
    if (auto s = key_file.secret_path()) {
      out.api_key_file = *s;
      out.api_key_where = key_file.where();
    }
  } else if (key_env) {
    if (auto s = key_env.text()) {
      if (!is_identifier(*s)) {
        key_env.error(in_quotes(*s) + " is not an environment variable name (letters, digits, _)");
      } else {
        out.api_key_env = *s;
        out.api_key_where = key_env.where();
      }
    }
  } else {
    n.missing("api_key_file",
              "missing (set api_key_file: PATH or api_key_env: NAME to say where the API key is)");
  }
  if (yaml::node v = n["timeout"])
    if (auto d = v.duration_value(false)) out.timeout = *d;
  if (yaml::node v = n["page_size"])
    if (auto i = v.whole_number(1, 100000, "rows per request"))
      out.page_size = static_cast<int>(*i);
  if (yaml::node v = n["ca_file"])
    if (auto f = v.local_path()) out.ca_file = *f;
  if (yaml::node v = n["max_response_bytes"])
    if (auto b = v.byte_size()) out.max_response_bytes = *b;
  if (yaml::node v = n["max_pages"])
    if (auto i = v.whole_number(1, 1000000, "pages per poll")) out.max_pages = static_cast<int>(*i);
  if (yaml::node v = n["max_concurrency"])
    if (auto i = v.whole_number(1, 64, "requests in flight across all rules"))
      out.max_concurrency = static_cast<int>(*i);
  if (yaml::node v = n["extra_metrics"]) {
    if (auto list = v.string_list("[mymetric, ...]")) {
      for (const auto& [name, item] : *list) {
        if (!is_identifier(name))
          item.error(in_quotes(name) + " is not a metric name (letters, digits, _)");
        else
          out.extra_metrics.push_back(name);
      }
    }
  }
}

}  // namespace qoewatch::config::sections
