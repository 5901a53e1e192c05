#include "backtest/report.hpp"

#include <boost/json.hpp>

#include <cmath>
#include <cstdio>

#include "duration.hpp"
#include "text/join.hpp"

namespace qoewatch::backtest {

namespace json = boost::json;

namespace {

json::object group_object(const incident_record& r) {
  json::object g;
  for (const auto& [dim, value] : r.group) g[dim] = value;
  return g;
}

// The peak figures: a per-session rule's offending sessions; a group's every figure.
json::object peak_object(const rule_tally& t, const incident_record& r) {
  json::object p;
  p["offending"] = r.peak_offending;
  if (!t.rule().population()) return p;
  p["sessions"] = r.peak_sessions;
  p["ratio"] = r.peak_ratio;
  for (const auto& [name, value] : r.peak_aggregates)
    p[name] = value ? json::value(*value) : json::value(nullptr);
  return p;
}

std::string line(const json::object& o) {
  return json::serialize(o) + "\n";
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// "edgeB" figures in words: "peak 812 sessions, 23.40 % offending, p95(latency) 11.2".
std::string peak_text(const rule_tally& t, const incident_record& r) {
  if (!t.rule().population()) return "peak " + std::to_string(r.peak_offending) + " offending";
  std::string s = "peak " + std::to_string(r.peak_sessions) + " sessions, " +
                  std::to_string(r.peak_offending) + " offending, " + fixed(100 * r.peak_ratio, 2) +
                  " %";
  for (const auto& [name, value] : r.peak_aggregates)
    s += ", " + name + " " + (value ? fixed(*value, 3) : std::string("none"));
  return s;
}

std::string group_text(const incident_record& r) {
  std::string s;
  for (const auto& [dim, value] : r.group) s += (s.empty() ? "" : ",") + dim + "=" + value;
  return s;
}

std::string pad(std::string s, std::size_t width, bool right = true) {
  if (s.size() >= width) return s;
  return right ? std::string(width - s.size(), ' ') + s : s + std::string(width - s.size(), ' ');
}

}  // namespace

std::string json_lines(const rule_tally& t, const fetch_facts& f) {
  const std::string& rule = t.rule().name;
  std::string out;
  for (const incident_record& r : t.incidents()) {
    json::object o;
    o["type"] = "incident";
    o["rule"] = rule;
    o["group"] = group_object(r);
    o["key"] = r.key;
    o["fired_at"] = utc_rfc3339(r.fired_at);
    o["resolved_at"] = r.resolved_at ? json::value(utc_rfc3339(*r.resolved_at)) : nullptr;
    o["polls"] = r.polls;
    o["at_night"] = r.at_night;
    o["peak"] = peak_object(t, r);
    if (!t.rule().population()) o["sessions_notified"] = r.sessions_notified;
    out += line(o);
  }
  for (const gap_record& g : t.gaps()) {
    json::object o;
    o["type"] = "gap";
    o["rule"] = rule;
    o["from"] = utc_rfc3339(static_cast<double>(g.span.start));
    o["to"] = utc_rfc3339(static_cast<double>(g.span.end));
    o["error"] = g.error;
    out += line(o);
  }
  for (const day_record& d : t.days()) {
    json::object o;
    o["type"] = "day";
    o["rule"] = rule;
    o["date"] = d.date;
    o["polls"] = d.polls;
    o["polls_failed"] = d.polls_failed;
    o["incidents"] = d.incidents;
    o["sessions_notified"] = d.sessions_notified;
    o["notifications"] = d.notifications;
    o["held"] = d.held;
    out += line(o);
  }
  const rule_totals& s = t.totals();
  json::object o;
  o["type"] = "summary";
  o["rule"] = rule;
  o["polls"] = s.polls;
  o["polls_failed"] = s.polls_failed;
  o["incidents"] = s.incidents;
  o["incidents_at_night"] = s.incidents_at_night;
  o["sessions_notified"] = s.sessions_notified;
  o["notifications"] = s.notifications;
  o["held"] = s.held;
  o["rows_fetched"] = f.rows_fetched;
  o["rows_judged"] = s.rows_judged;
  o["pages"] = f.pages;
  o["retries"] = f.retries;
  o["gaps"] = t.gaps().size();
  json::array shared;
  for (const std::string& n : f.shared_with) shared.emplace_back(n);
  o["fetch_shared_with"] = std::move(shared);
  out += line(o);
  return out;
}

std::string text_report(const rule_tally& t, const fetch_facts& f, const std::string& zone_name) {
  const config::rule_config& rule = t.rule();
  const rule_totals& s = t.totals();
  std::string out = "rule " + rule.name + " (" +
                    (rule.population() ? "population" : "per-session") + ", every " +
                    format_duration(rule.interval) + ", window " + format_duration(rule.window) +
                    ", delay " + format_duration(rule.delay) + ")\n";
  out += "  " + pad("day (" + zone_name + ")", 16, false) + pad("polls", 8) + pad("failed", 8) +
         pad("incidents", 11) + pad("sessions", 10) + pad("notifications", 15) + pad("held", 7) +
         "\n";
  for (const day_record& d : t.days())
    out += "  " + pad(d.date, 16, false) + pad(std::to_string(d.polls), 8) +
           pad(std::to_string(d.polls_failed), 8) + pad(std::to_string(d.incidents), 11) +
           pad(std::to_string(d.sessions_notified), 10) + pad(std::to_string(d.notifications), 15) +
           pad(std::to_string(d.held), 7) + "\n";
  // A noisy rule fires hundreds of times: the first ones show the pattern, JSON has them all.
  constexpr std::size_t listed = 20;
  for (std::size_t i = 0; i < t.incidents().size() && i < listed; ++i) {
    const incident_record& r = t.incidents()[i];
    const std::string group = group_text(r);
    out +=
        "  incident " + (group.empty() ? std::string() : group + " ") + "fired " +
        utc_rfc3339(r.fired_at) + (r.at_night ? " (night)" : "") + ", " +
        (r.resolved_at ? "resolved " + utc_rfc3339(*r.resolved_at) + " after " +
                             format_duration(duration(static_cast<std::int64_t>(
                                 std::llround((*r.resolved_at - r.fired_at) * 1000))))
                       : std::string("still firing at the end")) +
        "; " + peak_text(t, r) +
        (rule.population() ? "" : ", " + std::to_string(r.sessions_notified) + " sessions sent") +
        "\n";
  }
  if (t.incidents().size() > listed)
    out += "  ... and " + std::to_string(t.incidents().size() - listed) +
           " more incidents (--output json lists every one)\n";
  for (const gap_record& g : t.gaps())
    out += "  NOT JUDGED " + utc_rfc3339(static_cast<double>(g.span.start)) + " .. " +
           utc_rfc3339(static_cast<double>(g.span.end)) + ": " + g.error + "\n";
  out += "  would have paged " + std::to_string(s.incidents) +
         (s.incidents == 1 ? " time" : " times") + ", " + std::to_string(s.incidents_at_night) +
         " of them between 00:00 and 06:00 (" + zone_name + "); " +
         std::to_string(s.sessions_notified) + " sessions notified in " +
         std::to_string(s.notifications) + " notifications";
  if (s.held) out += ", " + std::to_string(s.held) + " held by maintenance windows";
  out += "\n  " + std::to_string(s.polls) + " polls (" + std::to_string(s.polls_failed) +
         " failed), " + std::to_string(f.rows_fetched) + " rows fetched in " +
         std::to_string(f.pages) + " pages" +
         (f.shared_with.empty() ? "" : " (shared with " + text::join(f.shared_with, ", ") + ")") +
         ", " + std::to_string(s.rows_judged) + " judged\n";
  return out;
}

}  // namespace qoewatch::backtest
