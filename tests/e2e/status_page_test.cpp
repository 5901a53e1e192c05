// The status page in a real browser: Debian's headless Chromium loads / from a running daemon
// with a firing group and a silence, and the text a person would read holds the group, its
// numbers, the silence's comment and author, and the amtool command to silence the group. A
// screenshot is kept in the build tree's test-artifacts folder.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <regex>

#include "e2e/harness.hpp"
#include "support/process.hpp"

using namespace qoewatch::test;
using namespace qoewatch::e2e;
using namespace std::chrono_literals;

namespace {

// Chromium, headless, on `url`: what it prints to stdout (with --dump-dom, the page's DOM
// once loaded), or "" when it failed.
std::string chromium(const temp_dir& dir, std::vector<std::string> args) {
  std::vector<std::string> all = {"--headless", "--no-sandbox", "--disable-gpu",
                                  "--hide-scrollbars",
                                  "--user-data-dir=" + (dir.path / "chromium").string()};
  all.insert(all.end(), args.begin(), args.end());
  child_process p("/usr/bin/chromium", all, {{"HOME", dir.path.string()}});
  std::string out;
  while (std::optional<std::string> line = p.read_line(60s)) out += *line + "\n";
  return p.wait(60s) == 0 ? out : "";
}

// The text of an HTML document as a reader sees it: tags dropped, entities of the page
// decoded, white space folded.
std::string visible_text(const std::string& dom) {
  std::string body = dom.substr(std::min(dom.size(), dom.find("<body")));
  std::string text = std::regex_replace(body, std::regex("<[^>]*>"), " ");
  for (const auto& [entity, c] : std::vector<std::pair<std::string, std::string>>{
           {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}, {"&amp;", "&"}}) {
    for (std::size_t at = text.find(entity); at != std::string::npos; at = text.find(entity, at))
      text.replace(at, entity.size(), c);
  }
  return std::regex_replace(text, std::regex("\\s+"), " ");
}

}  // namespace

TEST(StatusPage, ChromiumShowsTheFiringGroupItsNumbersAndTheSilence) {
  temp_dir dir;
  sim s({"--rate", "0"});
  receiver hook((dir.path / "received.jsonl").string());
  config_builder c;
  c.smartsight(s.port);
  c.rule(rule_spec("cdn_rebuffering", "cirrbufferingratio > 2")
             .window_of("60s")
             .with("group_by: [cdn]")
             .with("when: \"ratio > 20%\"")
             .with("min_sample: 4"));
  c.sink(webhook(hook.port));
  std::vector<std::string> rows;
  for (int i = 1; i <= 5; ++i)
    rows.push_back(session(
        "b" + std::to_string(i), wall_now() - 1,
        std::string(R"("latency":3,"cdn":"edgeB","cirrbufferingratio":)") + (i <= 4 ? "5" : "0")));
  add_sessions(s, rows);
  qoewatchd daemon(c.write(dir), {{"QW_KEY", s.key}});
  const std::string base = "http://127.0.0.1:" + daemon.port();
  ASSERT_TRUE(wait_for_metric(daemon.port(),
                              "qoewatch_group_firing{group=\"cdn=edgeB\",rule=\"cdn_rebuffering\"}",
                              equal_to(1), 20s))
      << daemon.log();
  const http_reply made =
      http_request(daemon.port(), "POST", "/api/v2/silences",
                   R"({"matchers":[{"isEqual":true,"isRegex":false,"name":"cdn","value":"edgeC"}],)"
                   R"("createdBy":"alice","comment":"edgeC <upgrade> & reboot",)"
                   R"("startsAt":"2020-01-01T00:00:00Z","endsAt":"2099-01-01T00:00:00Z"})",
                   {{"Content-Type", "application/json"}});
  ASSERT_EQ(made.status, 200u) << made.body;

  const std::string dom = chromium(dir, {"--dump-dom", base + "/"});
  ASSERT_FALSE(dom.empty()) << "chromium failed";
  const std::string text = visible_text(dom);
  for (const std::string& want : std::vector<std::string>{
           "Firing (1)", "cdn_rebuffering cdn=edgeB",
           " 5 4 80.00% ",  // sessions, offending, ratio
           "Silences (1)", "cdn=\"edgeC\"", "alice edgeC <upgrade> & reboot",
           "amtool --alertmanager.url=" + base +
               " silence add alertname=cdn_rebuffering "
               "cdn=edgeB --duration 2h",
           "webhook",  // the sink
       })
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;

  // The screenshot, kept for a person to look at.
  const std::filesystem::path artifacts = QOEWATCH_ARTIFACT_DIR;
  std::filesystem::create_directories(artifacts);
  const std::filesystem::path shot = artifacts / "status-page.png";
  std::filesystem::remove(shot);
  chromium(dir, {"--window-size=1280,900", "--screenshot=" + shot.string(), base + "/"});
  ASSERT_TRUE(std::filesystem::exists(shot));
  EXPECT_GT(std::filesystem::file_size(shot), 10'000u);
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(15s), 0);
}
