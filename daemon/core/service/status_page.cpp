#include "service/status_page.hpp"

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "duration.hpp"

namespace qoewatch::service {

namespace {

std::string at(double epoch) {
  return utc_rfc3339(epoch);
}

// "3m 20s ago"-style age, to the second.
std::string age(double seconds) {
  if (seconds < 0) seconds = 0;
  return format_duration(std::chrono::seconds(static_cast<std::int64_t>(std::floor(seconds))));
}

std::string percent(double ratio) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", ratio * 100.0);
  return buf;
}

// One word for a shell: as is when it is plain, else in single quotes.
std::string shell_word(std::string_view word) {
  bool plain = !word.empty();
  for (char c : word)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
          c == '=' || c == ':' || c == '/' || c == '@'))
      plain = false;
  if (plain) return std::string(word);
  std::string out = "'";
  for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// A matcher as amtool reads it: name=value, the value in double quotes unless plain.
std::string matcher_arg(const std::string& name, const std::string& value) {
  bool plain = !value.empty();
  for (char c : value)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'))
      plain = false;
  if (plain) return name + "=" + value;
  std::string quoted = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return name + "=" + quoted + "\"";
}

class html {
 public:
  html& raw(std::string_view s) {
    out_ += s;
    return *this;
  }
  html& text(std::string_view s) {
    out_ += html_escape(s);
    return *this;
  }
  html& cell(std::string_view s, std::string_view cls = "") {
    out_ += cls.empty() ? "<td>" : "<td class=\"" + std::string(cls) + "\">";
    text(s);
    out_ += "</td>";
    return *this;
  }
  html& head(std::initializer_list<std::string_view> names) {
    out_ += "<table><thead><tr>";
    for (std::string_view n : names) out_ += "<th>" + html_escape(n) + "</th>";
    out_ += "</tr></thead><tbody>";
    return *this;
  }
  html& code(std::string_view s) {
    out_ += "<code>";
    text(s);
    out_ += "</code>";
    return *this;
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

constexpr std::string_view style = R"(
body{font-family:system-ui,sans-serif;margin:1.5em;color:#1d1d1f;background:#fff}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}
table{border-collapse:collapse;width:100%;font-size:.92em}
th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #ddd;vertical-align:top}
th{background:#f3f3f5}.num{text-align:right;font-variant-numeric:tabular-nums}
.firing{color:#b00020;font-weight:600}.down{color:#b00020;font-weight:600}.ok{color:#1b7f3b}
.muted{color:#8a6d00}code{font-size:.85em;background:#f3f3f5;padding:.1em .3em;word-break:break-all}
.meta{color:#555}.none{color:#777;font-style:italic}
)";

void firing_section(html& h, const status_page& p) {
  h.raw("<h2 id=\"firing\">Firing (").text(std::to_string(p.firing.size())).raw(")</h2>");
  if (p.firing.empty()) {
    h.raw("<p class=\"none\">Nothing fires.</p>");
    return;
  }
  h.head({"Rule", "Group", "Since", "Sessions", "Offending", "Ratio", "Incident",
          "Silence it for 2 h"});
  for (const page_incident& i : p.firing) {
    h.raw("<tr>").cell(i.rule, "firing").cell(i.group.empty() ? "(whole window)" : i.group);
    h.cell(at(i.started_at) + " (" + age(p.now - i.started_at) + " ago)");
    h.cell(i.ratio ? std::to_string(i.sessions) : "", "num");
    h.cell(std::to_string(i.offending) + (i.measured ? "" : " (last seen)"), "num");
    h.cell(i.ratio ? percent(*i.ratio) : "", "num");
    h.cell(i.key + (i.muted ? " (muted by a maintenance window)" : ""));
    std::string cmd = "amtool --alertmanager.url=" + shell_word(p.api_url) + " silence add";
    for (const auto& [name, value] : i.labels)
      if (name != "severity" && name != "incident")
        cmd += " " + shell_word(matcher_arg(name, value));
    cmd += " --duration 2h --comment " + shell_word("why it is silenced");
    h.raw("<td>").code(cmd).raw("</td></tr>");
  }
  h.raw("</tbody></table>");
}

void silences_section(html& h, const status_page& p) {
  const std::int64_t now_ms = epoch_ms(p.now);
  std::vector<const silence::silence*> shown;
  for (const silence::silence& s : p.silences)
    if (silence::state_at(s, now_ms) != silence::state::expired) shown.push_back(&s);
  h.raw("<h2 id=\"silences\">Silences (").text(std::to_string(shown.size())).raw(")</h2>");
  if (shown.empty()) {
    h.raw("<p class=\"none\">No active or pending silence.</p>");
    return;
  }
  h.head({"State", "Matchers", "From", "Until", "Created by", "Comment", "Expire it"});
  for (const silence::silence* s : shown) {
    std::string matchers;
    for (const silence::matcher& m : s->matchers)
      matchers += (matchers.empty() ? "" : " ") + m.text();
    const silence::state st = silence::state_at(*s, now_ms);
    h.raw("<tr>").cell(silence::to_string(st), st == silence::state::active ? "muted" : "");
    h.cell(matchers).cell(at(static_cast<double>(s->starts_at) / 1000));
    h.cell(at(static_cast<double>(s->ends_at) / 1000)).cell(s->created_by).cell(s->comment);
    h.raw("<td>")
        .code("amtool --alertmanager.url=" + shell_word(p.api_url) + " silence expire " + s->id)
        .raw("</td></tr>");
  }
  h.raw("</tbody></table>");
}

void rules_section(html& h, const status_page& p) {
  h.raw("<h2 id=\"rules\">Rules (").text(std::to_string(p.rules.size())).raw(")</h2>");
  if (p.rules.empty()) {
    h.raw("<p class=\"none\">No rule is polled here.</p>");
    return;
  }
  h.head({"Rule", "Kind", "Interval", "Last poll", "Source", "Offending", "Firing"});
  for (const page_rule& r : p.rules) {
    h.raw("<tr>").cell(r.name).cell(r.population ? "population" : "per-session");
    h.cell(r.interval);
    h.cell(r.last_poll ? at(*r.last_poll) + " (" + age(p.now - *r.last_poll) + " ago)" : "not yet");
    h.cell(r.up ? "up" : "down", r.up ? "ok" : "down");
    h.cell(std::to_string(r.offending), "num");
    std::string firing = r.firing == 0  ? "no"
                         : r.population ? std::to_string(r.firing) + " group(s)"
                                        : "yes";
    if (r.muted) firing += " (muted)";
    h.cell(firing, r.firing ? "firing" : "");
    h.raw("</tr>");
  }
  h.raw("</tbody></table>");
}

void sinks_section(html& h, const status_page& p) {
  h.raw("<h2 id=\"sinks\">Sinks (").text(std::to_string(p.sinks.size())).raw(")</h2>");
  if (p.sinks.empty()) {
    h.raw("<p class=\"none\">No sink is configured.</p>");
    return;
  }
  h.head({"Sink", "Type", "Outbox", "Oldest waiting", "Dead letters since start"});
  for (const page_sink& s : p.sinks) {
    h.raw("<tr>").cell(s.name + (s.owned ? "" : " (delivered by another replica)")).cell(s.type);
    h.cell(std::to_string(s.pending), "num");
    h.cell(s.oldest ? age(p.now - *s.oldest) : "", "num");
    h.cell(std::to_string(s.dead), s.dead ? "num down" : "num").raw("</tr>");
  }
  h.raw("</tbody></table>");
}

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string render_status_page(const status_page& p) {
  html h;
  h.raw(
       "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
       "<meta http-equiv=\"refresh\" content=\"10\">"
       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
       "<title>qoewatch: ")
      .text(std::to_string(p.firing.size()))
      .raw(" firing</title><style>")
      .raw(style)
      .raw("</style></head><body>");
  h.raw("<h1>qoewatch ").text(p.version).raw("</h1><p class=\"meta\">Config ").code(p.config_file);
  h.raw(p.last_reload_ok ? " loaded "
                         : " <span class=\"down\">failed to reload</span>; in effect since ");
  h.text(at(p.loaded_at)).raw(" · state: ").text(p.state);
  if (p.replicas) h.raw(" · rules and sinks below are this replica's");
  h.raw(" · shown at ").text(at(p.now)).raw(" (refreshes every 10 s)</p>");
  firing_section(h, p);
  silences_section(h, p);
  rules_section(h, p);
  sinks_section(h, p);
  h.raw("<h2>From the command line</h2><p>")
      .code("amtool --alertmanager.url=" + shell_word(p.api_url) +
            " silence add alertname=RULE --duration 2h --comment 'why'")
      .raw(" silences a rule; ")
      .code("amtool --alertmanager.url=" + shell_word(p.api_url) + " silence query")
      .raw(" lists silences; ")
      .code("amtool --alertmanager.url=" + shell_word(p.api_url) +
            " alert query --active --silenced")
      .raw(" lists what fires, silenced or not.</p></body></html>\n");
  return h.take();
}

}  // namespace qoewatch::service
