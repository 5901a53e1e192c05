// The status page as a person reads it: what fires with its numbers and the amtool command to
// silence it, the silences with who, why and until when, the rules, the sinks' outboxes;
// every value escaped; no script, nothing fetched from elsewhere, a refresh of its own.
#include "service/status_page.hpp"

#include <gtest/gtest.h>

namespace qoewatch::service {
namespace {

constexpr double now = 1'893'484'800;  // 2030-01-01T08:00:00Z

status_page sample() {
  status_page p;
  p.version = "1.4.0";
  p.config_file = "/etc/qoewatch/qoewatch.yaml";
  p.loaded_at = now - 3600;
  p.state = "SQLite at /var/lib/qoewatch";
  p.api_url = "http://qoe.example:9786";
  p.now = now;
  page_incident g;
  g.rule = "cdn_rebuffering";
  g.group = "cdn=edgeB";
  g.labels = {{"alertname", "cdn_rebuffering"},
              {"cdn", "edgeB"},
              {"severity", "critical"},
              {"incident", "cdn_rebuffering/cdn=edgeB/1893484500"}};
  g.key = "cdn_rebuffering/cdn=edgeB/1893484500";
  g.started_at = now - 300;
  g.sessions = 120;
  g.offending = 31;
  g.ratio = 31.0 / 120;
  p.firing.push_back(g);
  silence::silence s;
  s.id = "98e68380-4bed-43ea-abdf-1b115f805deb";
  s.matchers = {*silence::parse_matcher("cdn=edgeC").ok};
  s.starts_at = static_cast<std::int64_t>(now - 60) * 1000;
  s.ends_at = static_cast<std::int64_t>(now + 7200) * 1000;
  s.created_by = "alice";
  s.comment = "edgeC <maintenance> & \"upgrade\"";
  p.silences.push_back(s);
  silence::silence old = s;
  old.id = "11111111-2222-4333-8444-555555555555";
  old.comment = "long gone";
  old.ends_at = static_cast<std::int64_t>(now - 10) * 1000;
  p.silences.push_back(old);
  p.rules.push_back({"cdn_rebuffering", true, "1m", now - 20, true, 40, 1, false});
  p.rules.push_back({"slow_start", false, "30s", std::nullopt, false, 0, 0, false});
  p.sinks.push_back({"oncall", "webhook", 3, now - 95, 2, true});
  return p;
}

}  // namespace

TEST(StatusPage, ShowsWhatFiresWhatIsSilencedAndWhatWaits) {
  const std::string page = render_status_page(sample());
  for (const std::string_view want : {
           "<meta http-equiv=\"refresh\" content=\"10\">",
           "qoewatch 1.4.0",
           "<title>qoewatch: 1 firing</title>",
           "cdn=edgeB",
           "<td class=\"num\">120</td>",
           "<td class=\"num\">31</td>",
           "25.83%",
           "5m ago",
           "amtool --alertmanager.url=http://qoe.example:9786 silence add "
           "alertname=cdn_rebuffering cdn=edgeB --duration 2h",
           "edgeC &lt;maintenance&gt; &amp; &quot;upgrade&quot;",
           "alice",
           "2030-01-01T10:00:00Z",
           "silence expire 98e68380-4bed-43ea-abdf-1b115f805deb",
           "per-session",
           "not yet",
           "<td class=\"down\">down</td>",
           "<td class=\"num\">3</td>",
           "1m35s",
           "/etc/qoewatch/qoewatch.yaml",
       })
    EXPECT_NE(page.find(want), std::string::npos) << want;
  EXPECT_EQ(page.find("long gone"), std::string::npos);  // expired silences are not shown
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_EQ(page.find("src="), std::string::npos);
  EXPECT_EQ(page.find("href=\"http"), std::string::npos);
}

TEST(StatusPage, QuotesWhatAShellWouldSplitAndSaysWhenThereIsNothing) {
  status_page p = sample();
  p.firing[0].labels = {{"alertname", "x"}, {"cdn", "edge B's"}};
  const std::string page = render_status_page(p);
  EXPECT_NE(page.find("&#39;cdn=&quot;edge B&#39;\\&#39;&#39;s&quot;&#39;"), std::string::npos)
      << page;
  status_page empty;
  empty.now = now;
  const std::string quiet = render_status_page(empty);
  EXPECT_NE(quiet.find("Nothing fires."), std::string::npos);
  EXPECT_NE(quiet.find("No active or pending silence."), std::string::npos);
  EXPECT_EQ(html_escape("<a href='x'>&</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;");
}

}  // namespace qoewatch::service
