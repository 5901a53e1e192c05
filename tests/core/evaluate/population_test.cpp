// A population poll's figures against a naive oracle: random windows (seeded) of sessions in
// groups, spread over pages that may fail or restart their "response" array, with sessions
// repeated across pages, rows lacking a dimension or an aggregated metric, and rows that
// cannot be judged. The oracle shares no code with population_accumulator: it reads the rows
// it generated, keeps each session's first usable sighting, sorts, and finds a percentile's
// rank by counting. Then table tests of nearest_rank and group_label.
#include "evaluate/population.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "config/load.hpp"

using namespace qoewatch;
namespace json = boost::json;

namespace {

config::rule_config rule_from(const std::string& rule_yaml) {
  std::string yaml = "smartsight: {customer_id: 1, api_key_env: K}\nrules:\n" + rule_yaml;
  config::load_result r = config::load_from_string(yaml, "t.yaml");
  for (const auto& d : r.errors) ADD_FAILURE() << d.to_string();
  return r.config ? r.config->rules.at(0) : config::rule_config{};
}

// Every aggregate kind, over metrics read as fields (latency, watchtime) and over the
// qoefilter's own metric (cirrbufferingratio).
const char* const every_aggregate = R"(  - name: everything
    qoefilter: "cirrbufferingratio > 2"
    group_by: [cdn, platform]
    when: "ratio > 10% AND avg(latency) > 0 AND min(latency) > 0 AND max(latency) > 0 AND
      sum(latency) > 0 AND p50(latency) > 0 AND p75(latency) > 0 AND p90(latency) > 0 AND
      p95(latency) > 0 AND p99(latency) > 0 AND avg(watchtime) > 0 AND p90(watchtime) > 0 AND
      max(cirrbufferingratio) > 0"
    evidence: 3
)";

// What the oracle knows of each aggregate, in the rule's order: name and metric.
const std::vector<std::pair<std::string, std::string>> oracle_aggregates = {
    {"avg", "latency"}, {"min", "latency"},   {"max", "latency"},   {"sum", "latency"},
    {"p50", "latency"}, {"p75", "latency"},   {"p90", "latency"},   {"p95", "latency"},
    {"p99", "latency"}, {"avg", "watchtime"}, {"p90", "watchtime"}, {"max", "cirrbufferingratio"},
};

// One generated row. Numbers are multiples of 1/4, so every sum is exact in any order.
struct gen_row {
  std::string id;  // "": the row has no sessionid
  bool endtime = true;
  std::optional<std::string> cdn, platform;  // std::nullopt: the key is absent
  std::optional<double> buffering;           // the qoefilter's metric
  bool buffering_junk = false;               // sent as "high"
  std::optional<double> latency;
  bool latency_junk = false;  // sent as "n/a"
  std::optional<double> watchtime;
  bool as_strings = false;  // numbers sent as numeric strings
};

struct gen_page {
  enum class kind { ok, truncated, restarts, restarts_badly };
  kind what = kind::ok;
  std::vector<gen_row> rows;
  std::vector<gen_row> dropped;  // restarts: the rows of the "response" that is replaced
  bool dom = false;              // read with parse_page + add instead of add_body
  std::size_t claimed = 9;       // the body's "totalcount": a sizing hint, never the truth
};

json::value number(double v, bool as_string) {
  if (as_string) return json::string(std::to_string(v));  // "7.250000"
  return v;
}

json::array rows_json(const std::vector<gen_row>& rows) {
  json::array out;
  for (const gen_row& r : rows) {
    json::object o;
    if (!r.id.empty()) o["sessionid"] = r.id;
    if (r.endtime) o["endtime"] = 1775749980;
    if (r.cdn) o["cdn"] = *r.cdn;
    if (r.platform) o["platform"] = *r.platform;
    if (r.buffering_junk)
      o["cirrbufferingratio"] = "high";
    else if (r.buffering)
      o["cirrbufferingratio"] = number(*r.buffering, r.as_strings);
    if (r.latency_junk)
      o["latency"] = "n/a";
    else if (r.latency)
      o["latency"] = number(*r.latency, r.as_strings);
    if (r.watchtime) o["watchtime"] = *r.watchtime;
    o["assetname"] = "Finale";  // a key nobody asked for
    out.push_back(std::move(o));
  }
  return out;
}

std::string body_of(const gen_page& p) {
  const std::string rows = json::serialize(rows_json(p.rows));
  switch (p.what) {
    case gen_page::kind::ok:
      return R"({"totalcount":)" + std::to_string(p.claimed) + R"(,"response":)" + rows + "}";
    case gen_page::kind::truncated: {
      std::string whole = R"({"response":)" + rows + "}";
      return whole.substr(0, whole.size() / 2 + 1);
    }
    case gen_page::kind::restarts:
      return R"({"response":)" + json::serialize(rows_json(p.dropped)) +
             R"(,"totalcount":)" + std::to_string(p.claimed) + R"(,"response":)" + rows + "}";
    case gen_page::kind::restarts_badly:
      return R"({"response":)" + rows + R"(,"response":7})";
  }
  return {};
}

// What a generator run covered, so that a generator that stopped varying fails the test.
struct coverage {
  int repeats_counted_once = 0, failed_pages = 0, restarts = 0, dom_pages = 0;
  int unknown_groups = 0, one_session_groups = 0, metric_nowhere = 0, empty_windows = 0;
  int skipped_rows = 0, evidence_full = 0;
};

class generator {
 public:
  explicit generator(unsigned seed) : rng_(seed) {}

  std::vector<gen_page> window() {
    std::vector<gen_row> stream;
    const int sessions = pick(0, 120);
    for (int i = 0; i < sessions; ++i) stream.push_back(session("s" + std::to_string(i)));
    // Pages shift while sessions end: some sessions come again on a later page.
    for (int i = 0, n = static_cast<int>(stream.size()); i < n; ++i) {
      if (!chance(15)) continue;
      gen_row again = stream[i];
      stream.insert(stream.begin() + pick(i + 1, static_cast<int>(stream.size())), again);
    }
    std::vector<gen_page> pages;
    for (std::size_t at = 0; at < stream.size() || pages.empty();) {
      gen_page p;
      const std::size_t n = std::min<std::size_t>(pick(1, 25), stream.size() - at);
      p.rows.assign(stream.begin() + at, stream.begin() + at + n);
      at += n;
      const int k = pick(0, 99);
      p.what = k < 70   ? gen_page::kind::ok
               : k < 80 ? gen_page::kind::truncated
               : k < 95 ? gen_page::kind::restarts
                        : gen_page::kind::restarts_badly;
      if (p.what == gen_page::kind::restarts && !stream.empty()) {
        // The replaced array holds sessions of the window with other values: none may count.
        for (int i = pick(1, 5); i > 0; --i) {
          gen_row r = stream[pick(0, static_cast<int>(stream.size()) - 1)];
          r.buffering = 5;
          r.latency = 1000;
          r.cdn = "replaced";
          p.dropped.push_back(r);
        }
      }
      p.dom = p.what != gen_page::kind::truncated && p.what != gen_page::kind::restarts_badly &&
              chance(30);
      // Counters claiming few, many or far too many rows: sizing may follow them, the
      // figures never.
      constexpr std::size_t claims[] = {9, 700, 40000, 3000000};
      p.claimed = claims[pick(0, 3)];
      pages.push_back(std::move(p));
    }
    return pages;
  }

 private:
  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool chance(int percent) { return pick(0, 99) < percent; }
  double quarters(int lo, int hi) { return pick(lo * 4, hi * 4) / 4.0; }

  gen_row session(std::string id) {
    gen_row r;
    r.id = chance(2) ? "" : std::move(id);
    r.endtime = !chance(2);
    const int c = pick(0, 4);
    if (c < 3) r.cdn = std::string(1, static_cast<char>('A' + c));
    if (c == 3) r.cdn = "";
    const int p = pick(0, 2);
    if (p < 2) r.platform = p == 0 ? "Android" : "iOS";
    if (chance(3))
      r.buffering_junk = true;
    else if (!chance(8))
      r.buffering = pick(0, 10) / 2.0;
    if (chance(5))
      r.latency_junk = true;
    else if (!chance(15))
      r.latency = quarters(-1, 12);  // few distinct values: ties
    if (!chance(40)) r.watchtime = pick(0, 50);
    r.as_strings = chance(20);
    return r;
  }

  std::mt19937 rng_;
};

// The oracle's figures for one group.
struct oracle_group {
  std::size_t sessions = 0, offending = 0;
  std::map<std::string, std::vector<double>> values;  // by metric, as sighted
  std::vector<std::string> evidence;
};

struct oracle_window {
  std::size_t rows_fetched = 0, sessions = 0;
  std::array<std::size_t, fetch::skip_reason_count> skipped{};
  std::map<std::vector<std::string>, oracle_group> groups;
};

void skip(oracle_window& w, fetch::skip_reason why) {
  ++w.skipped[static_cast<std::size_t>(why)];
}

oracle_window oracle(const std::vector<gen_page>& pages, coverage& cov) {
  oracle_window w;
  std::set<std::string> seen;
  for (const gen_page& p : pages) {
    if (p.what == gen_page::kind::truncated || p.what == gen_page::kind::restarts_badly) {
      ++cov.failed_pages;
      continue;
    }
    w.rows_fetched += p.rows.size();
    for (const gen_row& r : p.rows) {
      if (r.id.empty()) {
        skip(w, fetch::skip_reason::no_sessionid);
      } else if (!r.endtime) {
        skip(w, fetch::skip_reason::bad_endtime);
      } else if (r.buffering_junk) {
        skip(w, fetch::skip_reason::not_a_number);
      } else if (!r.buffering) {
        skip(w, fetch::skip_reason::missing_metric);
      } else if (!seen.insert(r.id).second) {
        ++cov.repeats_counted_once;
      } else {
        ++w.sessions;
        auto known = [](const std::optional<std::string>& v) {
          return v && !v->empty() ? *v : std::string("unknown");
        };
        oracle_group& g = w.groups[{known(r.cdn), known(r.platform)}];
        ++g.sessions;
        if (*r.buffering > 2) {
          ++g.offending;
          if (g.evidence.size() < 3) g.evidence.push_back(r.id);
        }
        g.values["cirrbufferingratio"].push_back(*r.buffering);
        if (r.latency && !r.latency_junk) g.values["latency"].push_back(*r.latency);
        if (r.watchtime) g.values["watchtime"].push_back(*r.watchtime);
      }
    }
  }
  return w;
}

std::optional<double> oracle_value(const std::string& fn, std::vector<double> v) {
  if (v.empty()) return std::nullopt;
  std::sort(v.begin(), v.end());
  const double sum = std::accumulate(v.begin(), v.end(), 0.0);
  if (fn == "avg") return sum / static_cast<double>(v.size());
  if (fn == "min") return v.front();
  if (fn == "max") return v.back();
  if (fn == "sum") return sum;
  // Nearest rank: the smallest rank r with r / n >= p / 100, found by counting up.
  const std::size_t p = std::stoul(fn.substr(1)), n = v.size();
  std::size_t rank = 1;
  while (rank * 100 < p * n) ++rank;
  return v[rank - 1];
}

std::vector<std::string> ids(const std::vector<fetch::session_row>& rows) {
  std::vector<std::string> out;
  for (const fetch::session_row& r : rows) out.push_back(r.sessionid);
  return out;
}

}  // namespace

TEST(PopulationProperty, FiguresMatchANaiveOracle) {
  const config::rule_config rule = rule_from(every_aggregate);
  ASSERT_EQ(rule.aggregates.size(), oracle_aggregates.size());
  for (std::size_t i = 0; i < oracle_aggregates.size(); ++i)
    ASSERT_EQ(rule.aggregates[i].text,
              oracle_aggregates[i].first + "(" + oracle_aggregates[i].second + ")");
  const fetch::row_schema schema = fetch::schema_for(rule);
  coverage cov;
  generator gen(20260409);
  for (int c = 0; c < 400 && !HasFailure(); ++c) {
    SCOPED_TRACE("case " + std::to_string(c));
    const std::vector<gen_page> pages = gen.window();
    // Without a cap the counters are not used; with one, what they claim up to it.
    constexpr std::size_t caps[] = {0, 1000, 100000};
    evaluate::population_accumulator acc(rule, caps[c % 3]);
    for (const gen_page& p : pages) {
      const std::string body = body_of(p);
      const bool usable = p.what == gen_page::kind::ok || p.what == gen_page::kind::restarts;
      cov.restarts += p.what == gen_page::kind::restarts;
      if (p.dom) {
        ++cov.dom_pages;
        fetch::page_result page = fetch::parse_page(body, schema);
        ASSERT_TRUE(page) << page.error;
        acc.add(*page.value);
      } else {
        EXPECT_EQ(static_cast<bool>(acc.add_body(body)), usable) << body;
      }
    }
    const evaluate::window_figures got = acc.finish();
    const oracle_window want = oracle(pages, cov);

    EXPECT_EQ(got.rows_fetched, want.rows_fetched);
    EXPECT_EQ(got.sessions, want.sessions);
    EXPECT_EQ(got.skipped, want.skipped);
    for (std::size_t n : want.skipped) cov.skipped_rows += static_cast<int>(n);
    cov.empty_windows += want.sessions == 0;
    ASSERT_EQ(got.groups.size(), want.groups.size());
    for (std::size_t i = 0; i < got.groups.size(); ++i) {
      const evaluate::group_figures& g = got.groups[i];
      SCOPED_TRACE(evaluate::group_label(rule, g.values));
      if (i > 0) {  // most sessions first, then by values
        const evaluate::group_figures& before = got.groups[i - 1];
        EXPECT_TRUE(before.sessions > g.sessions ||
                    (before.sessions == g.sessions && before.values < g.values));
      }
      auto it = want.groups.find(g.values);
      ASSERT_NE(it, want.groups.end());
      const oracle_group& o = it->second;
      EXPECT_EQ(g.sessions, o.sessions);
      EXPECT_EQ(g.offending, o.offending);
      EXPECT_EQ(g.ratio, static_cast<double>(o.offending) / static_cast<double>(o.sessions));
      ASSERT_EQ(g.aggregates.size(), oracle_aggregates.size());
      for (std::size_t a = 0; a < oracle_aggregates.size(); ++a) {
        const auto& [fn, metric] = oracle_aggregates[a];
        auto values = o.values.find(metric);
        const std::optional<double> expected =
            oracle_value(fn, values == o.values.end() ? std::vector<double>{} : values->second);
        EXPECT_EQ(g.aggregates[a], expected) << fn << "(" << metric << ")";
        cov.metric_nowhere += !expected;
      }
      EXPECT_EQ(ids(g.evidence), o.evidence);
      cov.unknown_groups += std::count(g.values.begin(), g.values.end(), "unknown") > 0;
      cov.one_session_groups += g.sessions == 1;
      cov.evidence_full += g.evidence.size() == 3;
    }
  }
  // The generator varies what it should (a generator that stopped would prove nothing).
  EXPECT_GT(cov.repeats_counted_once, 1000);
  EXPECT_GT(cov.failed_pages, 200);
  EXPECT_GT(cov.restarts, 200);
  EXPECT_GT(cov.dom_pages, 300);
  EXPECT_GT(cov.unknown_groups, 1000);
  EXPECT_GT(cov.one_session_groups, 200);
  EXPECT_GT(cov.metric_nowhere, 1000);
  EXPECT_GT(cov.empty_windows, 5);
  EXPECT_GT(cov.skipped_rows, 1000);
  EXPECT_GT(cov.evidence_full, 500);
}

TEST(PopulationProperty, NoSessionAndNoMetricMeansNoGroupAndNoValue) {
  config::rule_config rule = rule_from(every_aggregate);
  evaluate::population_accumulator acc(rule);
  // Every row of a page that fails, or is skipped: no group at all.
  EXPECT_FALSE(acc.add_body(R"({"response":[{"sessionid":"a","endtime":1,"cdn":"A",)"
                            R"("cirrbufferingratio":3}])"));
  EXPECT_TRUE(acc.add_body(R"({"response":[{"sessionid":"b","endtime":1,"cdn":"A"}]})"));
  EXPECT_TRUE(acc.add_body(R"({"response":[{"sessionid":"c","endtime":1,"cdn":"A",)"
                           R"("cirrbufferingratio":3}]})"));
  evaluate::window_figures w = acc.finish();
  ASSERT_EQ(w.groups.size(), 1u);
  EXPECT_EQ(w.groups[0].values, (std::vector<std::string>{"A", "unknown"}));
  EXPECT_EQ(w.groups[0].sessions, 1u);
  EXPECT_EQ(w.groups[0].offending, 1u);
  EXPECT_EQ(w.groups[0].ratio, 1.0);
  // No session carried latency or watchtime; cirrbufferingratio was there.
  for (std::size_t i = 0; i + 1 < w.groups[0].aggregates.size(); ++i)
    EXPECT_FALSE(w.groups[0].aggregates[i]) << rule.aggregates[i].text;
  EXPECT_EQ(w.groups[0].aggregates.back(), 3.0);
  EXPECT_EQ(w.rows_fetched, 2u);
  EXPECT_EQ(w.skipped[static_cast<std::size_t>(fetch::skip_reason::missing_metric)], 1u);
}

TEST(PopulationProperty, ManySessionsThroughDroppedAndResentPagesCountOnce) {
  // Thousands of sessions (the table of sightings grows several times), each page first
  // broken off, then sent whole with a tenth of it repeated from earlier pages: every
  // sighting a dropped page took back must leave the others findable.
  const config::rule_config rule = rule_from(R"(  - name: r
    qoefilter: "cirrbufferingratio > 2"
    group_by: [cdn]
    when: "ratio > 10%"
)");
  evaluate::population_accumulator acc(rule);
  std::mt19937 rng(7);
  const int sessions = 30000, page = 700;
  std::map<std::string, std::size_t> per_cdn, offending_per_cdn;
  for (int first = 0; first < sessions; first += page) {
    json::array rows;
    for (int i = first; i < std::min(first + page, sessions); ++i) {
      const std::string cdn(1, static_cast<char>('A' + i % 7));
      const bool offends = i % 3 == 0;
      rows.push_back({{"sessionid", "id" + std::to_string(i)},
                      {"endtime", 1},
                      {"cdn", cdn},
                      {"cirrbufferingratio", offends ? 5 : 1}});
      ++per_cdn[cdn];
      offending_per_cdn[cdn] += offends;
      if (first > 0 && i % 10 == 0) {
        const int again = std::uniform_int_distribution<int>(0, first - 1)(rng);
        rows.push_back({{"sessionid", "id" + std::to_string(again)},
                        {"endtime", 1},
                        {"cdn", "repeat"},
                        {"cirrbufferingratio", 5}});
      }
    }
    const std::string body = json::serialize(json::object{{"response", rows}});
    ASSERT_FALSE(acc.add_body(body.substr(0, body.size() - 2)));
    ASSERT_TRUE(acc.add_body(body));
  }
  evaluate::window_figures w = acc.finish();
  EXPECT_EQ(w.sessions, static_cast<std::size_t>(sessions));
  ASSERT_EQ(w.groups.size(), 7u) << "no repeat made a group of its own";
  for (const evaluate::group_figures& g : w.groups) {
    EXPECT_EQ(g.sessions, per_cdn[g.values.at(0)]) << g.values.at(0);
    EXPECT_EQ(g.offending, offending_per_cdn[g.values.at(0)]) << g.values.at(0);
  }
}

TEST(NearestRank, IsTheSmallestValueWithPPercentAtOrBelowIt) {
  auto one_to = [](int n) {
    std::vector<double> v;
    for (int i = 1; i <= n; ++i) v.push_back(i);
    return v;
  };
  struct row {
    int n, p;
    double want;
  };
  const row rows[] = {
      {1, 50, 1},      {1, 99, 1},      {1, 1, 1},     {2, 50, 1},      {2, 51, 2},
      {3, 50, 2},      {4, 50, 2},      {4, 75, 3},    {4, 76, 4},      {7, 75, 6},
      {10, 90, 9},     {10, 99, 10},    {20, 95, 19},  {20, 99, 20},    {20, 5, 1},
      {60, 95, 57},    {100, 95, 95},   {100, 99, 99}, {100, 100, 100}, {101, 50, 51},
      {1000, 99, 990}, {1001, 99, 991}, {3, 1, 1},
  };
  for (const row& r : rows)
    EXPECT_EQ(evaluate::nearest_rank(one_to(r.n), r.p), r.want) << "n=" << r.n << " p" << r.p;
  // Ties and negative values: the value at the rank, whatever repeats around it.
  EXPECT_EQ(evaluate::nearest_rank({-3, -3, 0, 0, 0, 7}, 50), 0);
  EXPECT_EQ(evaluate::nearest_rank({-3, -3, 0, 0, 0, 7}, 33), -3);
  EXPECT_EQ(evaluate::nearest_rank({-3, -3, 0, 0, 0, 7}, 99), 7);
  // Where p / 100 * n in floating point comes out a hair above a whole number (0.07 * 100
  // is 7.000000000000001), the rank must still be 7, not 8.
  EXPECT_EQ(evaluate::nearest_rank(one_to(100), 7), 7);
  EXPECT_EQ(evaluate::nearest_rank(one_to(1000), 57), 570);
}

TEST(GroupLabel, JoinsDimensionsInGroupByOrder) {
  config::rule_config rule;
  EXPECT_EQ(evaluate::group_label(rule, {}), "");
  rule.group_by = {"cdn"};
  EXPECT_EQ(evaluate::group_label(rule, {"edgeB"}), "cdn=edgeB");
  rule.group_by = {"cdn", "platform"};
  EXPECT_EQ(evaluate::group_label(rule, {"edgeB", "Android"}), "cdn=edgeB,platform=Android");
  EXPECT_EQ(evaluate::group_label(rule, {"unknown", "iOS"}), "cdn=unknown,platform=iOS");
}

TEST(PopulationProperty, AGroupByFieldTheQoefilterAlsoReadsGroupsByItsValue) {
  const config::rule_config rule = rule_from(R"(  - name: r
    qoefilter: "errors > 0"
    group_by: [errors]
    when: "ratio > 10%"
)");
  evaluate::population_accumulator acc(rule);
  ASSERT_TRUE(acc.add_body(R"({"response":[{"sessionid":"a","endtime":1,"errors":2},
    {"sessionid":"b","endtime":1,"errors":"2"},{"sessionid":"c","endtime":1,"errors":0}]})"));
  evaluate::window_figures w = acc.finish();
  ASSERT_EQ(w.groups.size(), 2u);
  EXPECT_EQ(w.groups[0].values, std::vector<std::string>{"2"});
  EXPECT_EQ(w.groups[0].sessions, 2u);
  EXPECT_EQ(w.groups[0].offending, 2u);
  EXPECT_EQ(w.groups[1].values, std::vector<std::string>{"0"});
  EXPECT_EQ(w.groups[1].offending, 0u);
}
