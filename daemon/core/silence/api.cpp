#include "silence/api.hpp"

#include <algorithm>
#include <boost/json.hpp>

#include "duration.hpp"

namespace qoewatch::silence {

namespace json = boost::json;

namespace {

std::string utc(std::int64_t ms) {
  return utc_rfc3339(std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)), true);
}

// What the schema layer of Alertmanager refuses: 422 with a {code, message} object.
api_answer schema_error(unsigned code, std::string_view message) {
  return {422, json::serialize(json::object{{"code", code}, {"message", message}}) + "\n"};
}

std::string required(std::string_view field) {
  return std::string(field) + " in body is required";
}

json::array matchers_array(const std::vector<matcher>& list) {
  json::array matchers;
  for (const matcher& m : list) {
    const bool equal = is_equal(m.type), regex = is_regex(m.type);
    matchers.push_back(
        json::object{{"isEqual", equal}, {"isRegex", regex}, {"name", m.name}, {"value", m.value}});
  }
  return matchers;
}

json::object silence_object(const silence& s, std::int64_t now) {
  json::array matchers = matchers_array(s.matchers);
  return json::object{{"id", s.id},
                      {"status", json::object{{"state", to_string(state_at(s, now))}}},
                      {"updatedAt", utc(s.updated_at)},
                      {"comment", s.comment},
                      {"createdBy", s.created_by},
                      {"endsAt", utc(s.ends_at)},
                      {"matchers", std::move(matchers)},
                      {"startsAt", utc(s.starts_at)}};
}

json::object labels_object(const label_set& labels) {
  json::object o;
  for (const auto& [k, v] : labels) o[k] = v;
  return o;
}

}  // namespace

api_answer api_error(unsigned status, std::string_view message) {
  return {status, json::serialize(json::value(message)) + "\n"};
}

decoded_postable decode_postable(std::string_view body) {
  decoded_postable out;
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    out.error = schema_error(602, "silence in body is required");
    return out;
  }
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) {
    out.error = {400, json::serialize(json::object{
                          {"code", 400},
                          {"message", "parsing silence body failed, because " + ec.message()}}) +
                          "\n"};
    return out;
  }
  const json::object* o = v.if_object();
  if (!o) {
    out.error = schema_error(602, "silence in body must be of type object");
    return out;
  }
  postable p;
  auto text = [&](std::string_view key, std::string& into, bool must) -> bool {
    const json::value* f = o->if_contains(key);
    if (!f || f->is_null()) {
      if (must) out.error = schema_error(602, required(key));
      return !must;
    }
    if (!f->is_string()) {
      out.error = schema_error(602, std::string(key) + " in body must be of type string");
      return false;
    }
    into = std::string(f->get_string());
    return true;
  };
  auto time = [&](std::string_view key, std::int64_t& into) -> bool {
    std::string t;
    if (!text(key, t, true)) return false;
    const std::optional<std::int64_t> ms = parse_rfc3339_ms(t);
    if (!ms) {
      out.error =
          schema_error(601, std::string(key) + " in body must be of type date-time: \"" + t + "\"");
      return false;
    }
    into = *ms;
    return true;
  };
  std::string id;
  if (!text("id", id, false)) return out;
  if (!id.empty()) p.id = id;
  const json::value* ms = o->if_contains("matchers");
  if (!ms || ms->is_null()) {
    out.error = schema_error(602, required("matchers"));
    return out;
  }
  if (!ms->is_array()) {
    out.error = schema_error(602, "matchers in body must be of type array");
    return out;
  }
  if (ms->get_array().empty()) {
    out.error = schema_error(612, "matchers in body should have at least 1 items");
    return out;
  }
  std::size_t i = 0;
  for (const json::value& mv : ms->get_array()) {
    const std::string at = "matchers." + std::to_string(i);
    const json::object* mo = mv.if_object();
    if (!mo) {
      out.error = schema_error(602, at + " in body must be of type object");
      return out;
    }
    const json::value* name = mo->if_contains("name");
    const json::value* value = mo->if_contains("value");
    const json::value* is_regex = mo->if_contains("isRegex");
    const json::value* is_equal = mo->if_contains("isEqual");
    for (auto [field, f] : {std::pair{"name", name}, {"value", value}, {"isRegex", is_regex}}) {
      if (!f || f->is_null()) {
        out.error = schema_error(602, at + "." + field + " in body is required");
        return out;
      }
    }
    if (!name->is_string() || !value->is_string() || !is_regex->is_bool() ||
        (is_equal && !is_equal->is_null() && !is_equal->is_bool())) {
      out.error = schema_error(602, at + " in body has a field of the wrong type");
      return out;
    }
    const bool equal = !is_equal || is_equal->is_null() || is_equal->get_bool();
    const match_type type = type_of(equal, is_regex->get_bool());
    matcher_result m =
        make_matcher(std::string(name->get_string()), type, std::string(value->get_string()));
    if (!m.ok) {
      out.error = api_error(
          400, "silence invalid: invalid label matcher " + std::to_string(i) + ": " + m.error);
      return out;
    }
    p.matchers.push_back(std::move(*m.ok));
    ++i;
  }
  if (!time("startsAt", p.starts_at) || !time("endsAt", p.ends_at) ||
      !text("createdBy", p.created_by, true) || !text("comment", p.comment, true))
    return out;
  out.ok = std::move(p);
  return out;
}

decoded_filter decode_filter(const std::vector<std::string>& values) {
  decoded_filter out;
  for (const std::string& v : values) {
    matcher_result m = parse_matcher(v);
    if (!m.ok) {
      out.error = api_error(400, m.error);
      out.matchers.clear();
      return out;
    }
    out.matchers.push_back(std::move(*m.ok));
  }
  return out;
}

std::string encode_silence(const silence& s, std::int64_t now) {
  return json::serialize(silence_object(s, now)) + "\n";
}

std::string encode_silences(const std::vector<silence>& list, std::int64_t now) {
  json::array a;
  for (const silence& s : list) a.push_back(silence_object(s, now));
  return json::serialize(a) + "\n";
}

std::string encode_silence_id(std::string_view id) {
  return json::serialize(json::object{{"silenceID", id}}) + "\n";
}

std::string encode_alerts(const std::vector<alert>& alerts) {
  std::vector<const alert*> sorted;
  for (const alert& a : alerts) sorted.push_back(&a);
  std::sort(sorted.begin(), sorted.end(),
            [](const alert* x, const alert* y) { return x->fingerprint < y->fingerprint; });
  json::array out;
  for (const alert* a : sorted) {
    json::array receivers, silenced;
    for (const std::string& r : a->receivers) receivers.push_back(json::object{{"name", r}});
    for (const std::string& id : a->silenced_by) silenced.push_back(json::value(id));
    const bool suppressed = a->muted || !a->silenced_by.empty();
    json::object o{{"annotations", labels_object(a->annotations)},
                   {"endsAt", utc(a->ends_at)},
                   {"fingerprint", a->fingerprint},
                   {"receivers", std::move(receivers)},
                   {"startsAt", utc(a->starts_at)},
                   {"status", json::object{{"inhibitedBy", json::array{}},
                                           {"silencedBy", std::move(silenced)},
                                           {"state", suppressed ? "suppressed" : "active"}}},
                   {"updatedAt", utc(a->updated_at)},
                   {"labels", labels_object(a->labels)}};
    if (!a->generator_url.empty()) o["generatorURL"] = a->generator_url;
    out.push_back(std::move(o));
  }
  return json::serialize(out) + "\n";
}

std::string encode_status(std::string_view qoewatch_version, std::int64_t started_at) {
  json::object version{{"branch", "qoewatch"},
                       {"buildDate", ""},
                       {"buildUser", ""},
                       {"goVersion", ""},
                       {"revision", "qoewatch " + std::string(qoewatch_version)},
                       {"version", "0.25.0"}};
  json::object status{{"cluster", json::object{{"peers", json::array{}}, {"status", "disabled"}}},
                      {"config", json::object{{"original", ""}}},
                      {"uptime", utc(started_at)},
                      {"versionInfo", std::move(version)}};
  return json::serialize(status) + "\n";
}

qoewatch::state::silence_row to_row(const silence& s) {
  return {s.id,         json::serialize(matchers_array(s.matchers)),
          s.starts_at,  s.ends_at,
          s.updated_at, s.created_by,
          s.comment};
}

loaded_silence from_row(const qoewatch::state::silence_row& row) {
  loaded_silence out;
  const std::string where = "silence " + row.id + ": ";
  boost::system::error_code ec;
  const json::value v = json::parse(row.matchers, ec);
  if (ec || !v.is_array()) {
    out.error = where + "its matchers are not a JSON array";
    return out;
  }
  silence s;
  for (const json::value& m : v.get_array()) {
    const json::object* o = m.if_object();
    const json::value* name = o ? o->if_contains("name") : nullptr;
    const json::value* value = o ? o->if_contains("value") : nullptr;
    const json::value* is_regex = o ? o->if_contains("isRegex") : nullptr;
    const json::value* is_equal = o ? o->if_contains("isEqual") : nullptr;
    if (!name || !name->is_string() || !value || !value->is_string() || !is_regex ||
        !is_regex->is_bool() || !is_equal || !is_equal->is_bool()) {
      out.error = where + "matcher " + std::to_string(s.matchers.size()) + " is malformed";
      return out;
    }
    matcher_result r = make_matcher(std::string(name->get_string()),
                                    type_of(is_equal->get_bool(), is_regex->get_bool()),
                                    std::string(value->get_string()));
    if (!r.ok) {
      out.error = where + "matcher " + std::to_string(s.matchers.size()) + ": " + r.error;
      return out;
    }
    s.matchers.push_back(std::move(*r.ok));
  }
  if (s.matchers.empty()) {
    out.error = where + "it has no matchers";
    return out;
  }
  s.id = row.id;
  s.starts_at = row.starts_at;
  s.ends_at = row.ends_at;
  s.updated_at = row.updated_at;
  s.created_by = row.created_by;
  s.comment = row.comment;
  out.ok = std::move(s);
  return out;
}

}  // namespace qoewatch::silence
