#include "config/sections.hpp"

#include <algorithm>
#include <cctype>
#include <initializer_list>

#include "config/common.hpp"
#include "rules/identifier.hpp"
#include "text/template.hpp"

namespace qoewatch::config::sections {

namespace {

// A URL without its trailing slashes.
std::string without_trailing_slashes(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

// headers: name: value, for webhook and alertmanager sinks.
void headers(const yaml::node& v, sink_config& sink) {
  if (!v.is_map()) {
    v.error("must be a mapping (write {X-Team: video})");
    return;
  }
  v.for_each_entry([&](const std::string& name, const yaml::node& key, const yaml::node& value) {
    std::string lower = name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    bool token = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) ||
             std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    });
    if (!token) {
      key.error(in_quotes(name) + " is not a header name");
    } else if (lower == "content-type" || lower == "content-length" || lower == "host" ||
               lower.rfind("webhook-", 0) == 0) {
      key.error(in_quotes(name) + " is set by qoewatch itself");
    } else if (auto written = value.text(true)) {
      // Never echo the value: headers are where tokens go.
      if (written->find_first_of("\r\n") != std::string::npos)
        value.error("the value must be one line");
      else
        sink.headers[name] = *written;
    }
  });
}

// Where a sink sends: url or url_file, or urls for Alertmanager (every peer of the cluster).
void addresses(const yaml::node& s, sink_config& sink) {
  const sink_type t = sink.type;
  const bool takes_url_file = t == sink_type::webhook || t == sink_type::slack;
  if (yaml::node v = s["url"]) {
    if (yaml::node f = s["url_file"]; f && takes_url_file)
      f.error(
          "write url or url_file, not both (url_file keeps a URL that is a secret, like "
          "Slack's, out of the config)");
    if (auto u = v.http_url()) sink.url = *u;
  } else if (yaml::node f = s["url_file"]; f && takes_url_file) {
    if (auto p = f.secret_path()) sink.url_file = *p;
  } else if (takes_url_file) {
    s.missing("url", t == sink_type::slack
                         ? "missing (required: the Slack incoming webhook URL, or url_file: a "
                           "file holding it)"
                         : "missing (required: where to POST alerts)");
  } else if (t == sink_type::pagerduty) {
    sink.url = std::string(pagerduty_events_url);
  }
  if (yaml::node v = s["urls"]) {
    if (auto list = v.string_list("[http://am1:9093]")) {
      for (const auto& [unused, item] : *list) {
        if (auto u = item.http_url()) {
          std::string url = without_trailing_slashes(*u);
          if (std::find(sink.urls.begin(), sink.urls.end(), url) != sink.urls.end())
            item.error(in_quotes(url) + " is listed twice");
          else
            sink.urls.push_back(url);
        }
      }
      if (list->empty()) v.error("must list at least one Alertmanager (every peer of the cluster)");
    }
  } else if (t == sink_type::alertmanager) {
    s.missing("urls",
              "missing (required: the base URL of every Alertmanager of the cluster, e.g. "
              "[http://am1:9093, http://am2:9093])");
  }
}

// Everything of a sink after its name and type; false when something is wrong.
bool read_settings(const yaml::node& s, sink_config& sink) {
  std::size_t errors_before = s.error_count();
  const sink_type t = sink.type;
  const std::string type_name(to_string(t));
  // Keys that only some types take.
  auto only_for = [&](const char* key, std::initializer_list<sink_type> types,
                      const char* instead) {
    yaml::node v = s[key];
    if (!v || std::find(types.begin(), types.end(), t) != types.end()) return;
    v.error("not used by " + type_name + " sinks" + std::string(instead));
  };
  only_for("urls", {sink_type::alertmanager},
           t == sink_type::alertmanager ? "" : " (write url: for one address)");
  only_for("url", {sink_type::webhook, sink_type::slack, sink_type::pagerduty},
           " (an alertmanager sink takes urls: with every peer of the cluster)");
  only_for("url_file", {sink_type::webhook, sink_type::slack}, "");
  only_for("secret_file", {sink_type::webhook}, "");
  only_for("headers", {sink_type::webhook, sink_type::alertmanager}, "");
  only_for("routing_key_file", {sink_type::pagerduty}, "");

  addresses(s, sink);
  if (yaml::node v = s["headers"]) headers(v, sink);
  if (yaml::node v = s["secret_file"])
    if (auto f = v.secret_path()) sink.secret_file = *f;
  if (yaml::node v = s["routing_key_file"]) {
    if (auto f = v.secret_path()) sink.routing_key_file = *f;
  } else if (t == sink_type::pagerduty) {
    s.missing("routing_key_file",
              "missing (required: a file holding the PagerDuty integration's routing key)");
  }
  if (yaml::node v = s["summary"]) {
    if (auto tmpl = v.text()) {
      if (std::string why = text::check_template(*tmpl); !why.empty())
        v.error(why);
      else
        sink.summary = *tmpl;
    }
  }
  if (yaml::node v = s["max_sessions_per_notification"])
    if (auto m = v.whole_number(1, 10000, "alerts per POST"))
      sink.max_sessions_per_notification = static_cast<std::size_t>(*m);
  if (yaml::node v = s["max_age"])
    if (auto d = v.duration_value(false)) sink.max_age = *d;
  if (yaml::node v = s["rate_limit"])
    // Slack accepts one message a second per incoming webhook and drops the excess.
    if (auto r = v.number(0.001, t == sink_type::slack ? 1 : 10000, "POSTs per second"))
      sink.rate_limit = *r;
  if (yaml::node v = s["burst"])
    if (auto b = v.whole_number(1, 10000, "POSTs at once")) sink.burst = static_cast<int>(*b);
  return s.error_count() == errors_before;
}

// The sink's name, checked and recorded in `names`; false when it is missing or invalid.
bool read_name(const yaml::node& s, sink_config& sink, sink_name_list& names) {
  yaml::node v = s["name"];
  if (!v) {
    s.missing("name", "missing (required: a name rules refer to)");
    return false;
  }
  auto name = v.text();
  if (!name) return false;
  if (!rules::is_identifier(*name)) {
    v.error(in_quotes(*name) +
            " is not a valid name (letters, digits, _; not starting with a digit)");
    return false;
  }
  bool ok = true;
  for (const auto& [other, line] : names)
    if (other == *name) {
      v.error(in_quotes(*name) + " is already the name of the sink at line " +
              std::to_string(line) + " (sink names must be unique)");
      ok = false;
    }
  names.emplace_back(*name, sink.where.line);
  sink.name = *name;
  return ok;
}

// The sink's type from sink_types; false when it is missing or unknown.
bool read_type(const yaml::node& s, sink_config& sink) {
  yaml::node v = s["type"];
  if (!v) {
    s.missing("type", "missing (required: " + join_or(names_of(sink_types)) + ")");
    return false;
  }
  auto t = v.text();
  if (!t) return false;
  if (std::optional<sink_type> known = from_name(sink_types, *t)) {
    sink.type = *known;
    return true;
  }
  std::string near = nearest(*t, names_of(sink_types));
  v.error("unknown sink type " + in_quotes(*t) + " (" +
          (near.empty() ? std::string{} : "did you mean " + in_quotes(near) + "? ") +
          "supported: " + join_list(names_of(sink_types)) + ")");
  return false;
}

}  // namespace

void sinks(const yaml::node& n, std::vector<sink_config>& out, sink_name_list& names) {
  if (!n.is_list()) {
    n.error("must be a list (write - name: oncall ...)");
    return;
  }
  for (std::size_t i = 0; i < n.size(); ++i) {
    const yaml::node s = n.at(i);
    if (!s.check_map({"name", "type", "url", "url_file", "urls", "headers", "secret_file",
                      "routing_key_file", "summary", "max_sessions_per_notification", "max_age",
                      "rate_limit", "burst"},
                     "name, type, url"))
      continue;
    sink_config sink;
    sink.where = s.where();
    bool ok = read_name(s, sink, names);
    ok = read_type(s, sink) && ok;
    if (!ok) continue;
    if (read_settings(s, sink)) out.push_back(std::move(sink));
  }
}

}  // namespace qoewatch::config::sections
