// The deterministic generator, its distributions, the store's live window and retention,
// and scenario incidents applied to generated sessions.
#include "core/generator.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "core/store.hpp"
#include "core/tables.hpp"

namespace {

using namespace qoewatch::sim;
using namespace std::chrono_literals;

constexpr std::int64_t minute0 = 29'595'833;  // an epoch minute (2026)

bool same(const generated_session& a, const generated_session& b) {
  return a.id == b.id && a.starttime == b.starttime && a.endtime == b.endtime &&
         a.m.latency == b.m.latency && a.m.cirrbufferingratio == b.m.cirrbufferingratio &&
         a.m.bufferingratio == b.m.bufferingratio &&
         a.m.qualityofexperience == b.m.qualityofexperience && a.m.playdur == b.m.playdur &&
         a.m.cdn_change_rate == b.m.cdn_change_rate && a.m.errors == b.m.errors &&
         a.m.fatalerrors == b.m.fatalerrors && a.m.watchtime == b.m.watchtime &&
         a.device_profile == b.device_profile && a.location == b.location && a.cdn == b.cdn &&
         a.sourcetype == b.sourcetype && a.asset == b.asset && a.subscriber == b.subscriber &&
         a.deviceid == b.deviceid;
}

std::vector<generated_session> many(std::uint64_t seed, int minutes, double rate) {
  std::vector<generated_session> all;
  for (int i = 0; i < minutes; ++i) {
    auto b = generate_bucket(seed, rate, minute0 + i);
    all.insert(all.end(), b.begin(), b.end());
  }
  return all;
}

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
}

TEST(Generator, SameSeedSameSessionsDifferentSeedDifferent) {
  auto a = generate_bucket(1, 60, minute0);
  auto b = generate_bucket(1, 60, minute0);
  ASSERT_EQ(a.size(), 60u);
  ASSERT_EQ(b.size(), a.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(same(a[i], b[i])) << i;

  auto c = generate_bucket(2, 60, minute0);
  std::set<std::uint64_t> ids_a, ids_c;
  for (auto& s : a) ids_a.insert(s.id);
  for (auto& s : c) ids_c.insert(s.id);
  EXPECT_EQ(ids_a.size(), 60u);  // no collisions within a bucket
  std::vector<std::uint64_t> common;
  std::set_intersection(ids_a.begin(), ids_a.end(), ids_c.begin(), ids_c.end(),
                        std::back_inserter(common));
  EXPECT_TRUE(common.empty());
  // Another minute, same seed: other sessions.
  auto d = generate_bucket(1, 60, minute0 + 1);
  EXPECT_NE(d.front().id, a.front().id);
}

TEST(Generator, BucketsEndInTheirMinuteWithHexIds) {
  for (const generated_session& s : generate_bucket(7, 60, minute0)) {
    EXPECT_GE(s.endtime, minute0 * 60);
    EXPECT_LT(s.endtime, minute0 * 60 + 60);
    EXPECT_EQ(s.starttime, s.endtime - s.m.watchtime);
    std::string id = session_id_text(s.id);
    EXPECT_EQ(id.size(), 16u);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
  }
  EXPECT_EQ(session_id_text(0x00ab), "00000000000000ab");
}

TEST(Generator, FractionalRatesAverageOut) {
  std::int64_t total = 0;
  for (int i = 0; i < 2000; ++i) total += bucket_count(3, 2.5, minute0 + i);
  EXPECT_GT(total, 4800);
  EXPECT_LT(total, 5200);
  EXPECT_EQ(bucket_count(3, 0, minute0), 0);
  EXPECT_EQ(bucket_count(3, 7, minute0), 7);
}

TEST(Generator, DistributionsAreRealistic) {
  std::vector<generated_session> all = many(11, 100, 100);  // 10,000 sessions
  ASSERT_EQ(all.size(), 10'000u);
  std::vector<double> latency, watch;
  int zero_cirr = 0, zero_errors = 0, fatal = 0;
  std::set<std::string_view> cdn_seen, source_seen, platform_seen;
  for (const generated_session& s : all) {
    const generated_metrics& m = s.m;
    latency.push_back(m.latency);
    watch.push_back(static_cast<double>(m.watchtime));
    if (m.cirrbufferingratio == 0) ++zero_cirr;
    if (m.errors == 0) ++zero_errors;
    if (m.fatalerrors > 0) ++fatal;
    EXPECT_GE(m.bufferingratio, m.cirrbufferingratio);
    EXPECT_LE(m.bufferingratio, 100);
    EXPECT_GE(m.qualityofexperience, 0);
    EXPECT_LE(m.qualityofexperience, 100);
    EXPECT_GE(m.errors, m.fatalerrors);
    EXPECT_GE(m.watchtime, 5);
    EXPECT_LE(m.watchtime, max_watchtime_seconds);
    EXPECT_GE(m.playdur, 0);
    EXPECT_LE(m.playdur, static_cast<double>(m.watchtime) / 60.0 + 0.01);
    EXPECT_GE(m.cdn_change_rate, 0);
    EXPECT_EQ(m.latency, std::round(m.latency * 100) / 100);  // two decimals
    cdn_seen.insert(cdns()[s.cdn].name);
    source_seen.insert(sourcetypes()[s.sourcetype].name);
    platform_seen.insert(device_profiles()[s.device_profile].platform);
  }
  double median = quantile(latency, 0.5);
  EXPECT_GE(median, 1.0);
  EXPECT_LE(median, 2.5);
  EXPECT_GT(quantile(latency, 0.99), 3 * median);
  EXPECT_GT(zero_cirr, 6000);
  EXPECT_LT(zero_cirr, 9000);  // but there is a tail
  EXPECT_GT(zero_errors, 7000);
  EXPECT_GT(fatal, 0);
  EXPECT_LT(fatal, 600);
  double watch_median = quantile(watch, 0.5);
  EXPECT_GT(watch_median, 420);
  EXPECT_LT(watch_median, 840);
  EXPECT_EQ(cdn_seen, (std::set<std::string_view>{"edgeA", "edgeB", "edgeC"}));
  EXPECT_EQ(source_seen, (std::set<std::string_view>{"HLS", "DASH", "MP4"}));
  EXPECT_GE(platform_seen.size(), 6u);

  // QoE is derived from the others: slow starts score lower.
  double qoe_fast = 0, qoe_slow = 0;
  int n_fast = 0, n_slow = 0;
  for (const generated_session& s : all) {
    if (s.m.latency < 1.5) {
      qoe_fast += s.m.qualityofexperience;
      ++n_fast;
    }
    if (s.m.latency > 6) {
      qoe_slow += s.m.qualityofexperience;
      ++n_slow;
    }
  }
  ASSERT_GT(n_slow, 0);
  EXPECT_GT(qoe_fast / n_fast, qoe_slow / n_slow + 10);
}

TEST(Generator, EveryDimensionIsText) {
  generated_session s = generate_bucket(1, 1, minute0).front();
  std::string scratch;
  for (std::string_view dim : generated_dimension_names()) {
    field f = get_field(s, dim, 0);
    auto text = text_of(f, scratch);
    ASSERT_TRUE(text) << dim;
    EXPECT_FALSE(text->empty()) << dim;
    EXPECT_FALSE(number_of(f)) << dim << " should be text, not a number";
  }
  for (std::string_view metric : generated_metric_names())
    EXPECT_TRUE(number_of(get_field(s, metric, 0))) << metric;
  EXPECT_TRUE(std::holds_alternative<std::monostate>(get_field(s, "unknown", 0)));
}

TEST(Generator, BacklogEndsWithinTheWindowBeforeStart) {
  const std::int64_t start = minute0 * 60 + 17;
  auto a = generate_backlog(5, 200, 600, start);
  auto b = generate_backlog(5, 200, 600, start);
  ASSERT_EQ(a.size(), 200u);
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(same(a[i], b[i]));
    EXPECT_GE(a[i].endtime, start - 600);
    EXPECT_LT(a[i].endtime, start);
    if (i > 0) {
      EXPECT_LE(a[i - 1].endtime, a[i].endtime);
    }
  }
  EXPECT_NE(generate_backlog(6, 1, 600, start).front().id,
            generate_backlog(5, 1, 600, start).front().id);
  EXPECT_TRUE(generate_backlog(5, 0, 600, start).empty());
}

TEST(Store, GeneratesLiveSessionsFromStartAndAheadForRunningOnes) {
  generator_config c;
  c.seed = 9;
  c.rate_per_min = 20;
  c.backlog = 50;
  c.backlog_window = 1800;
  const std::int64_t start = minute0 * 60 + 30;  // mid-minute
  session_store st(c, start);
  EXPECT_TRUE(st.generated().empty());
  st.advance(start + 600);
  int backlog = 0, ended = 0, running = 0, pending = 0;
  for (const generated_session& s : st.generated()) {
    if (s.endtime < start) {
      ++backlog;
      EXPECT_GE(s.endtime, start - 1800);
      continue;
    }
    switch (status_at(s.starttime, s.endtime, start + 600)) {
      case session_status::ended:
        ++ended;
        break;
      case session_status::running:
        ++running;
        break;
      case session_status::pending:
        ++pending;
        break;
    }
  }
  EXPECT_EQ(backlog, 50);
  EXPECT_GT(ended, 170);  // ~10 minutes at 20/min, the first minute half
  EXPECT_LT(ended, 230);
  EXPECT_GT(running, 20);
  EXPECT_GT(pending, 0);

  // Same seed and start: the same sessions, even when advanced in other steps.
  session_store again(c, start);
  again.advance(start + 60);
  again.advance(start + 600);
  ASSERT_EQ(again.generated().size(), st.generated().size());
  for (std::size_t i = 0; i < st.generated().size(); ++i)
    EXPECT_TRUE(same(st.generated()[i], again.generated()[i]));
}

TEST(Store, DropsOldSessionsAndStopsAfterClear) {
  generator_config c;
  c.rate_per_min = 10;
  c.retention = 3600;
  const std::int64_t start = minute0 * 60;
  session_store st(c, start);
  st.advance(start + 7200);
  for (const generated_session& s : st.generated()) EXPECT_GE(s.endtime, start + 3600);
  EXPECT_FALSE(st.generated().empty());

  control_session cs;
  cs.sessionid = "x";
  st.add_control({cs});
  cs.endtime = 5;
  st.add_control({cs});  // same id replaces
  ASSERT_EQ(st.control().size(), 1u);
  EXPECT_EQ(st.control()[0].endtime, 5);

  st.clear();
  EXPECT_TRUE(st.generated().empty());
  EXPECT_TRUE(st.control().empty());
  EXPECT_FALSE(st.generating());
  st.advance(start + 9000);
  EXPECT_TRUE(st.generated().empty());
}

TEST(Scenario, IncidentChangesMatchingSessionsInItsWindowOnly) {
  const std::int64_t start = minute0 * 60;
  scenario sc;
  incident inc;
  inc.name = "edgeB_slow_start";
  inc.start = 2min;
  inc.length = 5min;
  inc.match = {{"cdn", "edgeB"}};
  inc.multiply = {{"latency", 4}};
  inc.add = {{"cirrbufferingratio", 6}};
  inc.set = {{"fatalerrors", 1}};
  sc.incidents.push_back(inc);

  int changed = 0, checked = 0;
  for (std::int64_t minute = minute0; minute < minute0 + 10; ++minute) {
    for (generated_session s : generate_bucket(4, 60, minute)) {
      const generated_session before = s;
      bool applied = apply_scenario(sc, start, s);
      bool in_window = s.endtime >= start + 120 && s.endtime < start + 420;
      bool edge_b = cdns()[s.cdn].name == "edgeB";
      EXPECT_EQ(applied, in_window && edge_b);
      ++checked;
      if (!applied) {
        EXPECT_TRUE(same(before, s));
        continue;
      }
      ++changed;
      EXPECT_NEAR(s.m.latency, before.m.latency * 4, 0.006);
      EXPECT_NEAR(s.m.cirrbufferingratio, std::min(100.0, before.m.cirrbufferingratio + 6), 0.006);
      EXPECT_GE(s.m.bufferingratio, s.m.cirrbufferingratio);
      EXPECT_EQ(s.m.fatalerrors, 1);
      EXPECT_GE(s.m.errors, 1);
      EXPECT_LE(s.m.qualityofexperience, before.m.qualityofexperience);
      EXPECT_EQ(s.m.qualityofexperience, derive_qoe(s.m));
    }
  }
  EXPECT_EQ(checked, 600);
  EXPECT_GT(changed, 50);  // ~30% of 300 sessions in the window
}

TEST(Scenario, WindowIsHalfOpenAndMatchNeedsEveryDimension) {
  const std::int64_t start = minute0 * 60;
  scenario sc;
  incident inc;
  inc.name = "all";
  inc.start = 60s;
  inc.length = 60s;
  inc.set = {{"errors", 3}, {"latency", 9.99}};
  sc.incidents.push_back(inc);
  auto at = [&](std::int64_t end) {
    generated_session s = generate_session(hash_mix(1, 2), 42, end);
    return apply_scenario(sc, start, s) ? s.m.latency : -1.0;
  };
  EXPECT_EQ(at(start + 59), -1.0);
  EXPECT_EQ(at(start + 60), 9.99);
  EXPECT_EQ(at(start + 119), 9.99);
  EXPECT_EQ(at(start + 120), -1.0);

  generated_session s = generate_session(hash_mix(1, 2), 42, start + 90);
  std::string scratch;
  std::string cdn(*text_of(get_field(s, "cdn", 0), scratch));
  std::string country(*text_of(get_field(s, "country", 0), scratch));
  sc.incidents[0].match = {{"cdn", cdn}, {"country", country}};
  generated_session t = s;
  EXPECT_TRUE(apply_scenario(sc, start, t));
  EXPECT_EQ(t.m.errors, 3);
  sc.incidents[0].match = {{"cdn", cdn}, {"country", "Atlantis"}};
  t = s;
  EXPECT_FALSE(apply_scenario(sc, start, t));
  EXPECT_TRUE(same(t, s));
}

TEST(Scenario, StoreAppliesIncidentsToGeneratedSessions) {
  const std::int64_t start = minute0 * 60;
  generator_config c;
  c.rate_per_min = 30;
  incident inc;
  inc.name = "everything";
  inc.start = 0s;
  inc.length = 10min;
  inc.set = {{"latency", 42}};
  c.incidents.incidents.push_back(inc);
  session_store st(c, start);
  st.advance(start + 1200);
  int in = 0, out = 0;
  for (const generated_session& s : st.generated()) {
    if (s.endtime < start + 600) {
      EXPECT_EQ(s.m.latency, 42);
      ++in;
    } else {
      EXPECT_NE(s.m.latency, 42);
      ++out;
    }
  }
  EXPECT_GT(in, 250);
  EXPECT_GT(out, 250);
}

}  // namespace
