// One poll of one rule, without a network: the pages SmartSight might send (numbers as strings,
// missing keys, junk) become offending sessions, skips by reason, summaries, and the new
// sessions to notify, each exactly once across overlapping windows.
#include "evaluate/poll.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>

#include "config/load.hpp"
#include "fetch/page.hpp"
#include "rules/expr.hpp"

using namespace qoewatch;
using namespace std::chrono_literals;

namespace {

config::rule_config rule_from(const std::string& rule_yaml) {
  std::string yaml = "smartsight: {customer_id: 1, api_key_env: K}\nrules:\n" + rule_yaml;
  config::load_result r = config::load_from_string(yaml, "t.yaml");
  if (!r.config) {
    for (const auto& d : r.errors) ADD_FAILURE() << d.to_string();
    return {};
  }
  return r.config->rules.at(0);
}

fetch::page page_of(const std::string& body, const fetch::row_schema& schema) {
  fetch::page_result r = fetch::parse_page(body, schema);
  EXPECT_TRUE(r) << r.error;
  return r ? *r.value : fetch::page{};
}

std::vector<std::string> ids(const std::vector<fetch::session_row>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(r.sessionid);
  return out;
}
std::vector<std::string> ids(const evaluate::row_log& log,
                             const std::vector<bool>* only = nullptr) {
  std::vector<std::string> out;
  fetch::session_row row;
  for (evaluate::row_log::reader r(log); r.next(row);)
    if (!only || (*only)[r.index() - 1]) out.push_back(row.sessionid);
  return out;
}

// A spill in memory: what row_log writes out, byte for byte.
struct memory_spill : evaluate::spill {
  std::string* bytes;
  explicit memory_spill(std::string* b) : bytes(b) {}
  void write(std::uint64_t offset, std::string_view b) override {
    if (bytes->size() < offset + b.size()) bytes->resize(offset + b.size());
    bytes->replace(offset, b.size(), b);
  }
  void read(std::uint64_t offset, std::span<char> out) override {
    ASSERT_LE(offset + out.size(), bytes->size());
    std::copy_n(bytes->data() + offset, out.size(), out.data());
  }
};

// Rows kept in chunks of ~512 bytes, at most ~1 KiB of them in memory: the rest spilled.
evaluate::row_log::options tiny_budget(std::string* spilled) {
  evaluate::row_log::options o;
  o.memory_budget = 1024;
  o.chunk_bytes = 512;
  o.make_spill = [spilled] { return std::make_unique<memory_spill>(spilled); };
  return o;
}

std::size_t skipped(const evaluate::poll_accumulator& acc, fetch::skip_reason r) {
  return acc.skipped()[static_cast<std::size_t>(r)];
}

}  // namespace

TEST(Page, ReadsNumbersNumericStringsAndFields) {
  config::rule_config rule =
      rule_from("  - {name: r, qoefilter: latency > 5, fields: [cdn, assetname, watchtime]}\n");
  fetch::row_schema schema = fetch::schema_for(rule);
  EXPECT_EQ(schema.metrics, std::vector<std::string>{"latency"});
  EXPECT_EQ(schema.fields, (std::vector<std::string>{"cdn", "assetname", "watchtime"}));
  fetch::page p = page_of(R"({"totalcount":3,"pagecount":1,"response":[
      {"latency":7.4,"sessionid":"a1","endtime":1775749980,"cdn":"edgeB","assetname":"Finale","watchtime":600},
      {"latency":" 6.5 ","sessionid":"a2","endtime":"1775749990.5"},
      {"latency":"1e1","sessionid":12345,"endtime":1775749999,"cdn":null}]})",
                          schema);
  EXPECT_EQ(p.rows_in_page, 3u);
  ASSERT_EQ(p.rows.size(), 3u);
  EXPECT_EQ(p.rows[0].metrics[0], 7.4);
  EXPECT_EQ(p.rows[0].fields, (std::vector<std::string>{"edgeB", "Finale", "600"}));
  EXPECT_EQ(p.rows[1].metrics[0], 6.5);
  EXPECT_EQ(p.rows[1].endtime, 1775749990.5);
  EXPECT_EQ(p.rows[1].fields, (std::vector<std::string>{"", "", ""}));
  EXPECT_EQ(p.rows[2].sessionid, "12345");
  EXPECT_EQ(p.rows[2].metrics[0], 10);
}

TEST(Page, SkipsRowsItCannotJudgeAndCountsWhy) {
  config::rule_config rule = rule_from("  - {name: r, qoefilter: latency > 5 OR errors > 0}\n");
  fetch::row_schema schema = fetch::schema_for(rule);
  fetch::page p = page_of(R"({"response":[
      42,
      {"latency":7,"errors":0,"endtime":1},
      {"latency":7,"errors":0,"sessionid":"","endtime":1},
      {"latency":7,"errors":0,"sessionid":"x","endtime":"soon"},
      {"latency":7,"sessionid":"y","endtime":1},
      {"latency":7,"errors":null,"sessionid":"y2","endtime":1},
      {"latency":"fast","errors":0,"sessionid":"z","endtime":1},
      {"latency":true,"errors":0,"sessionid":"z2","endtime":1},
      {"latency":"NaN","errors":0,"sessionid":"z3","endtime":1},
      {"latency":7,"errors":0,"sessionid":"ok","endtime":1}]})",
                          schema);
  EXPECT_EQ(p.rows_in_page, 10u);
  EXPECT_EQ(ids(p.rows), std::vector<std::string>{"ok"});
  using fetch::skip_reason;
  EXPECT_EQ(p.skipped[static_cast<std::size_t>(skip_reason::not_an_object)], 1u);
  EXPECT_EQ(p.skipped[static_cast<std::size_t>(skip_reason::no_sessionid)], 2u);
  EXPECT_EQ(p.skipped[static_cast<std::size_t>(skip_reason::bad_endtime)], 1u);
  EXPECT_EQ(p.skipped[static_cast<std::size_t>(skip_reason::missing_metric)], 2u);
  EXPECT_EQ(p.skipped[static_cast<std::size_t>(skip_reason::not_a_number)], 3u);
}

TEST(Page, UnusableBodiesAreErrorsNotEmptyPages) {
  fetch::row_schema schema;
  EXPECT_EQ(fetch::parse_page("<html>502</html>", schema).error.rfind("response is not JSON: ", 0),
            0u);
  EXPECT_EQ(fetch::parse_page("[1,2]", schema).error, "response is not a JSON object");
  EXPECT_EQ(fetch::parse_page(R"({"totalcount":0})", schema).error,
            "response has no \"response\" array");
  EXPECT_EQ(fetch::parse_page(R"({"response":{}})", schema).error,
            "response has no \"response\" array");
  EXPECT_TRUE(fetch::parse_page(R"({"response":[]})", schema));
}

TEST(Poll, WholeConditionIsEvaluatedLocallyOnEveryRow) {
  // The server is sent only latency>5; the rest must be checked here.
  config::rule_config rule = rule_from(
      "  - {name: r, qoefilter: \"latency > 5 AND (cirrbufferingratio >= 2 OR NOT errors = "
      "0)\"}\n");
  evaluate::poll_accumulator acc(rule);
  acc.add(page_of(R"({"response":[
      {"latency":9,"cirrbufferingratio":3,"errors":0,"sessionid":"both","endtime":1},
      {"latency":9,"cirrbufferingratio":0,"errors":2,"sessionid":"errors","endtime":1},
      {"latency":9,"cirrbufferingratio":0,"errors":0,"sessionid":"neither","endtime":1},
      {"latency":4,"cirrbufferingratio":9,"errors":9,"sessionid":"server_was_lax","endtime":1},
      {"latency":9,"errors":1,"sessionid":"no_rebuffer_key","endtime":1}]})",
                  acc.schema()));
  EXPECT_EQ(ids(acc.offending()), (std::vector<std::string>{"both", "errors"}));
  EXPECT_EQ(acc.rows_fetched(), 5u);
  EXPECT_EQ(skipped(acc, fetch::skip_reason::missing_metric), 1u);
}

TEST(Poll, VerdictsEqualTheRuleLanguagesOwnEvaluation) {
  // The accumulator judges with a condition compiled to row positions: on random rows it must
  // agree with rules::evaluate, for nested AND / OR / NOT and a metric used twice.
  const char* conditions[] = {
      "latency > 5 AND (cirrbufferingratio >= 2 OR NOT errors = 0)",
      "NOT (latency <= 3 OR latency > 8) AND NOT NOT errors != 1",
      "qualityofexperience < 2 OR (cirrbufferingratio > 5 AND NOT errors = 0) OR latency = 2"};
  std::mt19937 rng(7);
  for (const char* condition : conditions) {
    config::rule_config rule =
        rule_from(std::string("  - {name: r, qoefilter: \"") + condition + "\"}\n");
    evaluate::poll_accumulator acc(rule);
    fetch::page p;
    std::set<std::string> expected;
    for (int i = 0; i < 2000; ++i) {
      fetch::session_row row;
      row.sessionid = "s" + std::to_string(i);
      row.endtime = 1;
      for (std::size_t m = 0; m < acc.schema().metrics.size(); ++m)
        row.metrics.push_back(static_cast<double>(rng() % 10));
      auto lookup = [&](std::string_view metric) -> std::optional<double> {
        for (std::size_t m = 0; m < acc.schema().metrics.size(); ++m)
          if (acc.schema().metrics[m] == metric) return row.metrics[m];
        return std::nullopt;
      };
      if (rules::evaluate(rule.condition, lookup).value()) expected.insert(row.sessionid);
      p.rows.push_back(std::move(row));
    }
    acc.add(p);
    std::vector<std::string> got = ids(acc.offending());
    EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), expected) << condition;
    EXPECT_GT(expected.size(), 0u) << condition;
    EXPECT_LT(expected.size(), 2000u) << condition;
  }
}

TEST(Poll, SessionsRepeatedAcrossPagesCountOnce) {
  config::rule_config rule = rule_from("  - {name: r, qoefilter: latency > 5}\n");
  evaluate::poll_accumulator acc(rule);
  acc.add(page_of(R"({"response":[{"latency":9,"sessionid":"a","endtime":1},
                                   {"latency":8,"sessionid":"b","endtime":1}]})",
                  acc.schema()));
  acc.add(page_of(R"({"response":[{"latency":8,"sessionid":"b","endtime":1},
                                   {"latency":7,"sessionid":"c","endtime":1}]})",
                  acc.schema()));
  EXPECT_EQ(ids(acc.offending()), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(acc.rows_fetched(), 4u);
}

TEST(Poll, BodiesAreJudgedAsTheyAreReadAndABadOneChangesNothing) {
  // The daemon hands response bodies straight to the accumulator: the same verdicts as
  // pages, and a body found unusable after its rows were read leaves no trace of them.
  config::rule_config rule = rule_from("  - {name: r, qoefilter: latency > 5}\n");
  evaluate::poll_accumulator acc(rule);
  ASSERT_TRUE(acc.add_body(R"({"response":[{"latency":9,"sessionid":"a","endtime":1},
                                           {"latency":2,"sessionid":"ok","endtime":1},
                                           {"latency":"x","sessionid":"bad","endtime":1}]})"));
  fetch::scan_result broken =
      acc.add_body(R"({"response":[{"latency":9,"sessionid":"b","endtime":1}],"n":)");
  EXPECT_FALSE(broken);
  EXPECT_EQ(broken.error.rfind("response is not JSON: ", 0), 0u) << broken.error;
  // Of two "response" arrays the last counts, as in the DOM: "c" is taken back.
  ASSERT_TRUE(acc.add_body(R"({"response":[{"latency":9,"sessionid":"c","endtime":1}],
                               "response":[{"latency":9,"sessionid":"d","endtime":1},
                                           {"latency":9,"sessionid":"a","endtime":1}]})"));
  // "b" may come again on a later page and is then new.
  ASSERT_TRUE(acc.add_body(R"({"response":[{"latency":9,"sessionid":"b","endtime":1}]})"));
  EXPECT_EQ(ids(acc.offending()), (std::vector<std::string>{"a", "d", "b"}));
  EXPECT_EQ(acc.rows_fetched(), 3u + 2u + 1u);
  EXPECT_EQ(skipped(acc, fetch::skip_reason::not_a_number), 1u);
}

TEST(Poll, EachSessionCountsOnceThroughGrowthRepeatsAndTakenBackPages) {
  // Many pages, ids repeated within and across pages (short and long ids), some bodies broken
  // at the end, some with a second "response": offending rows are those of a plain reference
  // that keeps the first row of each session from the bodies that count. The same with most
  // rows spilled (ids found again, pages taken back, in chunks no longer in memory).
  std::string spilled;
  for (bool spill : {false, true}) {
    SCOPED_TRACE(spill ? "spilled" : "in memory");
    config::rule_config rule = rule_from("  - {name: r, qoefilter: latency > 5}\n");
    evaluate::poll_accumulator acc(rule,
                                   spill ? tiny_budget(&spilled) : evaluate::row_log::options{});
    std::mt19937 rng(7);
    std::vector<std::string> expected;
    std::set<std::string> expected_set;
    auto id_of = [&](int n) {
      return n % 3 == 0 ? "s" + std::to_string(n) : "session-with-a-longer-id-" + std::to_string(n);
    };
    for (int page = 0; page < 300; ++page) {
      const int kind = static_cast<int>(rng() % 10);  // 0: broken, 1: two "response" arrays
      std::vector<std::string> rows_first, rows;
      auto rows_of = [&](std::vector<std::string>& into, std::vector<std::string>& offending) {
        std::string json;
        for (int r = 0; r < 40; ++r) {
          const std::string id = id_of(static_cast<int>(rng() % 6000));
          const int latency = static_cast<int>(rng() % 10);
          json += (json.empty() ? "" : ",") + std::string(R"({"latency":)") +
                  std::to_string(latency) + R"(,"sessionid":")" + id + R"(","endtime":1})";
          if (latency > 5) offending.push_back(id);
        }
        into.push_back(json);
      };
      std::vector<std::string> parts, taken_back, counted;
      if (kind == 1) rows_of(parts, taken_back);
      rows_of(parts, counted);
      std::string body;
      if (kind == 1)
        body = R"({"response":[)" + parts[0] + R"(],"response":[)" + parts[1] + "]}";
      else
        body = R"({"response":[)" + parts[0] + "]" + (kind == 0 ? ",}" : "}");
      EXPECT_EQ(static_cast<bool>(acc.add_body(body)), kind != 0) << page;
      if (kind == 0) continue;
      for (const std::string& id : counted)
        if (expected_set.insert(id).second) expected.push_back(id);
    }
    EXPECT_EQ(ids(acc.offending()), expected);
    EXPECT_GT(expected.size(), 1000u);
    EXPECT_EQ(acc.offending().spilled(), spill);
    if (spill) {
      EXPECT_LE(acc.offending().bytes_in_memory(), 1024u + 512u);
    }
  }
}

TEST(Poll, EachOffendingSessionIsNewOnceAcrossOverlappingWindows) {
  config::rule_config rule =
      rule_from("  - {name: r, qoefilter: latency > 5, interval: 1m, window: 3m, delay: 0s}\n");
  evaluate::notified_sessions notified;
  auto poll = [&](const std::string& body) {
    evaluate::poll_accumulator acc(rule);
    acc.add(page_of(body, acc.schema()));
    evaluate::decision d = evaluate::decide(rule, acc, notified);
    fetch::session_row row;
    for (evaluate::row_log::reader r(acc.offending()); r.next(row);)
      if (d.is_new[r.index() - 1])
        notified.insert(rule.name, row.sessionid, evaluate::ended_at(row.endtime));
    EXPECT_EQ(ids(acc.offending(), &d.is_new).size(), d.new_sessions);
    return std::pair(ids(acc.offending(), &d.is_new), d.offending);
  };
  auto [first, n1] = poll(R"({"response":[{"latency":9,"sessionid":"a","endtime":100},
                                           {"latency":1,"sessionid":"ok","endtime":100}]})");
  EXPECT_EQ(first, std::vector<std::string>{"a"});
  EXPECT_EQ(n1, 1u);
  auto [second, n2] = poll(R"({"response":[{"latency":9,"sessionid":"a","endtime":100},
                                            {"latency":6,"sessionid":"b","endtime":160}]})");
  EXPECT_EQ(second, std::vector<std::string>{"b"});
  EXPECT_EQ(n2, 2u);
  auto [third, n3] = poll(R"({"response":[{"latency":9,"sessionid":"a","endtime":100},
                                           {"latency":6,"sessionid":"b","endtime":160}]})");
  EXPECT_TRUE(third.empty());
  EXPECT_EQ(n3, 2u);
  // The same session id offending another rule is that rule's news.
  EXPECT_TRUE(notified.insert("other_rule", "a", 1000));
  EXPECT_FALSE(notified.insert("r", "a", 1000));
}

TEST(Poll, NotifiedSessionsAreForgottenPerRuleByWhenTheyEnded) {
  EXPECT_EQ(evaluate::ended_at(1000.5), 1001);
  EXPECT_EQ(evaluate::ended_at(1000.0), 1000);
  evaluate::notified_sessions n;
  n.insert("r", "a", 1001);
  n.insert("other", "a", 1001);
  n.expire("r", 1001);
  EXPECT_TRUE(n.contains("r", "a"));
  EXPECT_EQ(n.size(), 2u);
  n.expire("r", 1002);
  EXPECT_FALSE(n.contains("r", "a"));
  EXPECT_EQ(n.size(), 1u);
  EXPECT_FALSE(n.insert("other", "a", 1001)) << "already there: counted once";
  EXPECT_EQ(n.size(), 1u);
  EXPECT_TRUE(n.contains("other", "a")) << "each rule has its own horizon";
  n.insert("r", "b", 5000);
  n.insert("gone", "c", 5000);
  n.retain_rules({"r"});
  EXPECT_TRUE(n.contains("r", "b"));
  EXPECT_FALSE(n.contains("gone", "c"));
  EXPECT_EQ(n.size(), 1u);
}

// The property that matters: whatever window the rule polls next (fetch::window_after, from
// now on), every session it can hold is still remembered, and no more than an interval (and
// a little) of older sessions is.
TEST(Poll, NoWindowTheRuleCanPollNextHoldsAForgottenSession) {
  config::rule_config rule =
      rule_from("  - {name: r, qoefilter: latency > 5, interval: 30s, window: 10m, delay: 2m}\n");
  const std::int64_t now = 1'800'000'000;
  const std::vector<std::optional<std::int64_t>> checkpoints = {
      std::nullopt, now - 120, now - 130, now - 720, now - 721, now - 2400, now - 5 * 3600};
  for (duration max_catchup : {duration(0s), duration(5min), duration(1h)}) {
    for (std::optional<std::int64_t> cp : checkpoints) {
      const std::int64_t before = evaluate::forget_before(rule, now, cp, max_catchup);
      for (std::int64_t later : {0, 1, 30, 600}) {
        auto at = std::chrono::system_clock::time_point(std::chrono::seconds(now + later));
        fetch::window w = fetch::window_after(rule, at, cp, max_catchup).w;
        EXPECT_LE(before, w.start) << "checkpoint " << (cp ? *cp - now : 0) << " catchup "
                                   << max_catchup.count() << " later " << later;
      }
      fetch::window next =
          fetch::window_after(rule,
                              std::chrono::system_clock::time_point(std::chrono::seconds(now)), cp,
                              max_catchup)
              .w;
      EXPECT_GE(before, next.start - 30 - 2);
    }
  }
  // Settings are read when forgetting: a wider window keeps what it can now hold.
  config::rule_config wider = rule;
  wider.window = std::chrono::minutes(30);
  EXPECT_LT(evaluate::forget_before(wider, now, std::nullopt, 1h),
            evaluate::forget_before(rule, now, std::nullopt, 1h) - 1000);
}

TEST(Poll, PairsOfRulesNoLongerConfiguredGoOnlyBeyondEveryReach) {
  config::rule_config rule =
      rule_from("  - {name: r, qoefilter: latency > 5, interval: 30s, window: 10m, delay: 2m}\n");
  const std::int64_t now = 1'800'000'000;
  const std::int64_t any = evaluate::forget_before_any(now, 1h, {rule});
  // Back with the same settings and a checkpoint long ago: its first window reaches 1h back.
  EXPECT_LE(any, evaluate::forget_before(rule, now, now - 10 * 3600, 1h));
  EXPECT_LE(evaluate::forget_before_any(now, 1h, {}), now - 3600);
}

TEST(Poll, SummariesCoverTheOffendingSessionsOfTheWindow) {
  config::rule_config rule =
      rule_from("  - {name: r, qoefilter: latency > 5, fields: [cirrbufferingratio]}\n");
  evaluate::poll_accumulator acc(rule);
  std::string body = R"({"response":[)";
  for (int i = 1; i <= 20; ++i) {
    if (i > 1) body += ",";
    body += R"({"latency":)" + std::to_string(5 + i) + R"(,"cirrbufferingratio":")" +
            std::to_string(i) + R"(","sessionid":"s)" + std::to_string(i) + R"(","endtime":1})";
  }
  body += R"(,{"latency":1,"cirrbufferingratio":90,"sessionid":"fine","endtime":1}]})";
  acc.add(page_of(body, acc.schema()));
  evaluate::notified_sessions notified;
  evaluate::decision d = evaluate::decide(rule, acc, notified);
  EXPECT_EQ(d.offending, 20u);
  ASSERT_TRUE(d.startup_seconds);
  EXPECT_EQ(d.startup_seconds->max, 25);
  EXPECT_EQ(d.startup_seconds->p95, 24);  // nearest rank: 19th of 20
  EXPECT_DOUBLE_EQ(d.startup_seconds->mean, 15.5);
  ASSERT_TRUE(d.rebuffering_ratio);  // from a field, as a 0-1 ratio
  EXPECT_DOUBLE_EQ(d.rebuffering_ratio->max, 0.20);
  EXPECT_DOUBLE_EQ(d.rebuffering_ratio->mean, 0.105);
}

TEST(Poll, NoSummaryForMetricsTheRuleDoesNotFetch) {
  config::rule_config rule = rule_from("  - {name: r, qoefilter: errors > 0}\n");
  evaluate::poll_accumulator acc(rule);
  acc.add(page_of(R"({"response":[{"errors":2,"sessionid":"a","endtime":1}]})", acc.schema()));
  evaluate::notified_sessions notified;
  evaluate::decision d = evaluate::decide(rule, acc, notified);
  EXPECT_FALSE(d.startup_seconds);
  EXPECT_FALSE(d.rebuffering_ratio);
  EXPECT_FALSE(evaluate::summarize({}));
  EXPECT_EQ(evaluate::summarize({3.0})->p95, 3.0);
}

TEST(Poll, SummariesAreThoseOfTheSortedValues) {
  // The p95 is found among the largest 5 % only: the same nearest rank as sorting them all,
  // for every count around the rank's steps, with repeated values.
  std::mt19937 rng(3);
  for (std::size_t n = 1; n <= 260; ++n) {
    std::vector<double> values;
    for (std::size_t i = 0; i < n; ++i) values.push_back(static_cast<double>(rng() % 50) / 4);
    std::vector<double> sorted = values;
    std::sort(sorted.begin(), sorted.end());
    const auto rank = static_cast<std::size_t>(std::ceil(0.95 * static_cast<double>(n)));
    std::optional<evaluate::summary> s = evaluate::summarize(values);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->max, sorted.back()) << n;
    EXPECT_EQ(s->p95, sorted[std::max<std::size_t>(rank, 1) - 1]) << n;
    EXPECT_NEAR(s->mean,
                std::accumulate(sorted.begin(), sorted.end(), 0.0) / static_cast<double>(n), 1e-9)
        << n;
  }
}
