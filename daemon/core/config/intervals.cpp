// time_intervals: in Alertmanager's syntax, so that a maintenance window can be copied from an
// Alertmanager config as it is. Each field is read by the field parsers of time_interval.cpp,
// whose messages are Alertmanager's; this file adds where (file:line:col and key path).
#include "config/common.hpp"
#include "config/sections.hpp"

namespace qoewatch::config::sections {

namespace {

using range_parser = parsed<int_range> (*)(std::string_view);

// weekdays, days_of_month, months or years: every item read by `parse`. The field is set only
// when every item is valid; `example` shows how to write the list.
void ranges(const yaml::node& v, std::string_view example, range_parser parse,
            std::optional<std::vector<int_range>>& out) {
  auto list = v.string_list(example);
  if (!list) return;
  std::vector<int_range> got;
  bool ok = true;
  for (const auto& [text, item] : *list) {
    const parsed<int_range> p = parse(text);
    if (p.ok) {
      got.push_back(*p.ok);
    } else {
      item.error(p.error);
      ok = false;
    }
  }
  if (ok) out = std::move(got);
}

// One {start_time, end_time} of times:, or std::nullopt when it is wrong (reported).
std::optional<time_range> time_of_day(const yaml::node& t) {
  const std::size_t errors_before = t.error_count();
  if (!t.check_map({"start_time", "end_time"}, "start_time and end_time, e.g. \"02:00\""))
    return std::nullopt;
  const yaml::node start = t["start_time"], end = t["end_time"];
  // An absent end reads as "", for which the field parser has Alertmanager's message.
  std::optional<std::string> s = start ? start.text(true) : std::string{};
  std::optional<std::string> e = end ? end.text(true) : std::string{};
  if (!s || !e || t.error_count() != errors_before) return std::nullopt;
  const parsed<time_range> p = parse_times(*s, *e);
  if (p.ok) return p.ok;
  // Point at the end the message is about; an order mistake is the pair's.
  if (s->empty() || e->empty()) {
    const bool at_start = s->empty();
    const yaml::node& v = at_start ? start : end;
    if (v)
      v.error(p.error);
    else
      t.missing(at_start ? "start_time" : "end_time", p.error);
  } else if (p.error.starts_with("couldn't parse")) {
    // parse_times reads the start first: if the start alone is fine, the end is not.
    (parse_times(*s, "24:00").ok ? end : start).error(p.error);
  } else {
    t.error(p.error);
  }
  return std::nullopt;
}

void times(const yaml::node& v, std::optional<std::vector<time_range>>& out) {
  if (!v.is_list()) {
    v.error("must be a list (write [{start_time: \"02:00\", end_time: \"04:00\"}])");
    return;
  }
  std::vector<time_range> got;
  bool ok = true;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (std::optional<time_range> r = time_of_day(v.at(i)))
      got.push_back(*r);
    else
      ok = false;
  }
  if (ok) out = std::move(got);
}

// One entry of a named interval's time_intervals:. Every field is optional: one left out
// matches every instant, so an entry with none always holds (as in Alertmanager).
std::optional<time_interval> interval(const yaml::node& n) {
  const std::size_t errors_before = n.error_count();
  if (!n.check_map({"times", "weekdays", "days_of_month", "months", "years", "location"},
                   "times, weekdays, days_of_month, months, years, location"))
    return std::nullopt;
  time_interval iv;
  if (yaml::node v = n["times"]) times(v, iv.times);
  if (yaml::node v = n["weekdays"])
    ranges(v, "[monday:friday, saturday]", parse_weekdays, iv.weekdays);
  if (yaml::node v = n["days_of_month"])
    ranges(v, "[\"1:5\", \"-1\"]", parse_days_of_month, iv.days_of_month);
  if (yaml::node v = n["months"]) ranges(v, "[january:march, \"12\"]", parse_months, iv.months);
  if (yaml::node v = n["years"]) ranges(v, "[\"2026:2027\"]", parse_years, iv.years);
  if (yaml::node v = n["location"]) {
    // "" is UTC, as Go's time.LoadLocation reads it.
    if (std::optional<std::string> name = v.text(true)) {
      const parsed<const date::time_zone*> zone = find_location(*name);
      if (zone.ok) {
        iv.location = *name;
        iv.zone = *zone.ok;
      } else {
        v.error(zone.error);
      }
    }
  }
  if (n.error_count() != errors_before) return std::nullopt;
  return iv;
}

// The entry's name, checked against the names before it (reported when it is missing, empty
// or taken) and recorded in `names`.
void read_name(const yaml::node& e, named_time_interval& out, name_list& names) {
  const yaml::node v = e["name"];
  if (!v) {
    e.missing("name",
              "missing (required: the name rules give in mute_time_intervals or "
              "active_time_intervals)");
    return;
  }
  std::optional<std::string> name = v.text();
  if (!name) return;
  for (const auto& [other, line] : names)
    if (other == *name) {
      v.error(in_quotes(*name) + " is already the name of the time interval at line " +
              std::to_string(line) + " (time interval names must be unique)");
      break;
    }
  names.emplace_back(*name, e.where().line);
  out.name = *name;
}

}  // namespace

void time_intervals(const yaml::node& n, std::vector<named_time_interval>& out, name_list& names) {
  if (!n.is_list()) {
    n.error("must be a list (write - name: maintenance time_intervals: [...])");
    return;
  }
  for (std::size_t i = 0; i < n.size(); ++i) {
    const yaml::node e = n.at(i);
    const std::size_t errors_before = e.error_count();
    if (!e.check_map({"name", "time_intervals"}, "name, time_intervals")) continue;
    named_time_interval named;
    read_name(e, named, names);
    // No time_intervals: a name that never holds, as in Alertmanager.
    if (yaml::node list = e["time_intervals"]) {
      if (!list.is_list()) {
        list.error("must be a list (write - times: [...] weekdays: [...])");
      } else {
        for (std::size_t j = 0; j < list.size(); ++j)
          if (std::optional<time_interval> iv = interval(list.at(j)))
            named.intervals.push_back(std::move(*iv));
      }
    }
    if (e.error_count() == errors_before) out.push_back(std::move(named));
  }
}

}  // namespace qoewatch::config::sections
