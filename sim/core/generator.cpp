#include "core/generator.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <span>
#include <string>

#include "core/tables.hpp"

namespace qoewatch::sim {

namespace {

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A small deterministic generator. std::*_distribution is implementation-defined, so the
// transforms are written out here to keep sessions identical across standard libraries.
class rng {
 public:
  explicit rng(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    return splitmix(state_);
  }
  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Standard normal (Box-Muller).
  double normal() {
    double u1 = 1.0 - uniform();  // (0, 1]
    double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }
  double lognormal(double median, double sigma) { return median * std::exp(sigma * normal()); }
  // 0 with probability 1-p, else 1 + a geometric count with continuation probability q.
  std::int64_t small_count(double p, double q, std::int64_t cap) {
    if (uniform() >= p) return 0;
    std::int64_t n = 1;
    while (n < cap && uniform() < q) ++n;
    return n;
  }
  template <class T>
  std::uint8_t pick(std::span<const T> table) {
    double total = 0;
    for (const T& e : table) total += e.weight;
    double x = uniform() * total;
    for (std::size_t i = 0; i < table.size(); ++i) {
      x -= table[i].weight;
      if (x < 0) return static_cast<std::uint8_t>(i);
    }
    return static_cast<std::uint8_t>(table.size() - 1);
  }

 private:
  std::uint64_t state_;
};

double round_to(double v, double scale) {
  return std::round(v * scale) / scale;
}

// Watch time not spent buffering (startup included in bufferingratio), in minutes.
double compute_playdur(const generated_metrics& m) {
  double seconds = static_cast<double>(m.watchtime) * (1.0 - m.bufferingratio / 100.0);
  return round_to(std::max(0.0, seconds) / 60.0, 100);
}

bool apple(std::string_view brand) {
  return brand == "Apple";
}

// Reads or writes a metric by name; false for names the generator does not produce.
bool get_metric(const generated_metrics& m, std::string_view name, double& out) {
  if (name == "latency")
    out = m.latency;
  else if (name == "cirrbufferingratio")
    out = m.cirrbufferingratio;
  else if (name == "bufferingratio")
    out = m.bufferingratio;
  else if (name == "qualityofexperience")
    out = m.qualityofexperience;
  else if (name == "playdur")
    out = m.playdur;
  else if (name == "cdn_change_rate")
    out = m.cdn_change_rate;
  else if (name == "errors")
    out = static_cast<double>(m.errors);
  else if (name == "fatalerrors")
    out = static_cast<double>(m.fatalerrors);
  else if (name == "watchtime")
    out = static_cast<double>(m.watchtime);
  else
    return false;
  return true;
}

std::int64_t to_count(double v) {
  if (!(v > 0)) return 0;
  return static_cast<std::int64_t>(std::llround(std::min(v, 1e9)));
}

void set_metric(generated_metrics& m, std::string_view name, double v) {
  if (name == "latency")
    m.latency = v;
  else if (name == "cirrbufferingratio")
    m.cirrbufferingratio = v;
  else if (name == "bufferingratio")
    m.bufferingratio = v;
  else if (name == "qualityofexperience")
    m.qualityofexperience = v;
  else if (name == "playdur")
    m.playdur = v;
  else if (name == "cdn_change_rate")
    m.cdn_change_rate = v;
  else if (name == "errors")
    m.errors = to_count(v);
  else if (name == "fatalerrors")
    m.fatalerrors = to_count(v);
  else if (name == "watchtime")
    m.watchtime = to_count(v);
}

}  // namespace

std::uint64_t hash_mix(std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint64_t d) {
  std::uint64_t h = splitmix(a ^ 0x5151'5eedULL);
  h = splitmix(h ^ b);
  h = splitmix(h ^ c);
  return splitmix(h ^ d);
}

std::int64_t bucket_count(std::uint64_t seed, double rate_per_min, std::int64_t minute) {
  if (!(rate_per_min > 0)) return 0;
  double whole = std::floor(rate_per_min);
  double frac = rate_per_min - whole;
  rng r(hash_mix(seed, static_cast<std::uint64_t>(minute), 0xC0C0));
  return static_cast<std::int64_t>(whole) + (r.uniform() < frac ? 1 : 0);
}

double derive_qoe(const generated_metrics& m) {
  double score = 100.0;
  score -= std::min(30.0, 6.0 * std::max(0.0, m.latency - 2.0));
  score -= std::min(40.0, 4.0 * m.cirrbufferingratio);
  score -= std::min(10.0, 0.5 * std::max(0.0, m.bufferingratio - m.cirrbufferingratio));
  score -= m.fatalerrors > 0 ? 30.0 : 0.0;
  score -= std::min(10.0, 2.0 * static_cast<double>(m.errors - m.fatalerrors));
  score -= std::min(10.0, 20.0 * m.cdn_change_rate);
  return round_to(std::clamp(score, 0.0, 100.0), 10);
}

generated_session generate_session(std::uint64_t stream, std::uint64_t id, std::int64_t endtime) {
  rng r(stream);
  generated_session s;
  s.id = id;
  s.endtime = endtime;
  s.device_profile = r.pick(device_profiles());
  s.location = r.pick(locations());
  s.cdn = r.pick(cdns());
  s.sourcetype = r.pick(sourcetypes());
  const device_profile& dev = device_profiles()[s.device_profile];
  if (apple(dev.brand)) s.sourcetype = 0;  // Apple players get HLS
  s.asset = r.pick(assets());
  s.subscriber = static_cast<std::uint32_t>(1 + r.next() % 50'000);
  s.deviceid = hash_mix(s.subscriber, s.device_profile, 0xDE71CE);

  generated_metrics& m = s.m;
  double watch = std::clamp(r.lognormal(600.0, 1.0), 5.0, double(max_watchtime_seconds));
  m.watchtime = static_cast<std::int64_t>(std::llround(watch));

  double latency = r.lognormal(1.45, 0.42);
  if (dev.device == "SmartTV") latency *= 1.15;
  if (cdns()[s.cdn].name == "edgeC") latency *= 1.08;
  bool slow = r.uniform() < 0.03;
  if (slow) latency *= 3.0 + 12.0 * r.uniform();
  m.latency = std::max(0.05, round_to(latency, 100));

  double cirr = 0;
  if (r.uniform() < (slow ? 0.5 : 0.25)) cirr = std::min(60.0, r.lognormal(0.8, 1.1));
  m.cirrbufferingratio = round_to(cirr, 100);
  double startup_share = std::min(100.0, m.latency / static_cast<double>(m.watchtime) * 100.0);
  double seek = r.uniform() < 0.4 ? r.lognormal(0.3, 0.8) : 0.0;
  m.bufferingratio = round_to(std::min(100.0, m.cirrbufferingratio + startup_share + seek), 100);
  m.bufferingratio = std::max(m.bufferingratio, m.cirrbufferingratio);

  m.errors = r.small_count(0.18, 0.45, 20);
  m.fatalerrors = m.errors > 0 && r.uniform() < 0.12 ? 1 : 0;
  std::int64_t switches = r.small_count(0.15, 0.35, 10);
  m.cdn_change_rate = round_to(
      static_cast<double>(switches) / std::max(1.0, static_cast<double>(m.watchtime) / 60.0), 1000);
  m.playdur = compute_playdur(m);
  m.qualityofexperience = derive_qoe(m);
  s.starttime = s.endtime - m.watchtime;
  return s;
}

std::vector<generated_session> generate_bucket(std::uint64_t seed, double rate_per_min,
                                               std::int64_t minute) {
  std::int64_t n = bucket_count(seed, rate_per_min, minute);
  std::vector<generated_session> out;
  out.reserve(static_cast<std::size_t>(n));
  for (std::int64_t j = 0; j < n; ++j) {
    std::uint64_t stream =
        hash_mix(seed, static_cast<std::uint64_t>(minute), static_cast<std::uint64_t>(j), 0xB0C4);
    std::int64_t second = static_cast<std::int64_t>(hash_mix(stream, 0xE7) % 60);
    out.push_back(generate_session(stream, hash_mix(stream, 0x1D), minute * 60 + second));
  }
  return out;
}

std::vector<generated_session> generate_backlog(std::uint64_t seed, std::int64_t count,
                                                std::int64_t window_seconds,
                                                std::int64_t sim_start) {
  std::vector<generated_session> out;
  if (count <= 0 || window_seconds <= 0) return out;
  out.reserve(static_cast<std::size_t>(count));
  for (std::int64_t i = 0; i < count; ++i) {
    std::uint64_t stream = hash_mix(seed, static_cast<std::uint64_t>(i), 0xBAC7, 0x106);
    auto before = static_cast<std::int64_t>(1 + hash_mix(stream, 0x0F) %
                                                    static_cast<std::uint64_t>(window_seconds));
    out.push_back(generate_session(stream, hash_mix(stream, 0x1D), sim_start - before));
  }
  std::sort(out.begin(), out.end(), [](const generated_session& a, const generated_session& b) {
    return a.endtime != b.endtime ? a.endtime < b.endtime : a.id < b.id;
  });
  return out;
}

bool apply_scenario(const scenario& sc, std::int64_t sim_start, generated_session& s) {
  std::vector<std::string_view> touched;
  const double old_cirr = s.m.cirrbufferingratio;
  const std::int64_t end_ms = s.endtime * 1000;
  std::string scratch;
  for (const incident& inc : sc.incidents) {
    std::int64_t from = sim_start * 1000 + inc.start.count();
    if (end_ms < from || end_ms >= from + inc.length.count()) continue;
    bool all = true;
    for (const auto& [dim, want] : inc.match) {
      field f = get_field(s, dim, 0);
      std::optional<std::string_view> have = text_of(f, scratch);
      if (!have || *have != want) {
        all = false;
        break;
      }
    }
    if (!all) continue;
    double v = 0;
    for (const auto& [name, factor] : inc.multiply) {
      if (!get_metric(s.m, name, v)) continue;
      set_metric(s.m, name, v * factor);
      touched.push_back(name);
    }
    for (const auto& [name, delta] : inc.add) {
      if (!get_metric(s.m, name, v)) continue;
      set_metric(s.m, name, v + delta);
      touched.push_back(name);
    }
    for (const auto& [name, value] : inc.set) {
      if (!get_metric(s.m, name, v)) continue;
      set_metric(s.m, name, value);
      touched.push_back(name);
    }
  }
  if (touched.empty()) return false;

  auto was = [&touched](std::string_view n) {
    return std::find(touched.begin(), touched.end(), n) != touched.end();
  };
  generated_metrics& m = s.m;
  m.watchtime = std::clamp<std::int64_t>(m.watchtime, 1, max_watchtime_seconds);
  m.latency = std::max(0.01, round_to(m.latency, 100));
  m.cirrbufferingratio = round_to(std::clamp(m.cirrbufferingratio, 0.0, 100.0), 100);
  if (was("cirrbufferingratio") && !was("bufferingratio"))
    m.bufferingratio += m.cirrbufferingratio - old_cirr;
  m.bufferingratio = round_to(std::clamp(m.bufferingratio, m.cirrbufferingratio, 100.0), 100);
  m.cdn_change_rate = round_to(std::max(0.0, m.cdn_change_rate), 1000);
  m.errors = std::max(m.errors, m.fatalerrors);
  if (!was("playdur")) m.playdur = compute_playdur(m);
  m.playdur = round_to(std::max(0.0, m.playdur), 100);
  if (!was("qualityofexperience")) m.qualityofexperience = derive_qoe(m);
  m.qualityofexperience = round_to(std::clamp(m.qualityofexperience, 0.0, 100.0), 10);
  s.starttime = s.endtime - m.watchtime;
  return true;
}

}  // namespace qoewatch::sim
