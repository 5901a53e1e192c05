// Deterministic session generation. Every generated session is a pure function of the seed
// and where it comes from: live sessions from (seed, epoch minute of endtime, index in that
// minute), backlog sessions from (seed, backlog index). The same seed therefore gives the
// same sessions for the same minute, in every process. Pure code.
//
// Distributions (per session):
//   latency             log-normal, median ~1.5 s; ~3% "slow starts" 3-15x slower
//   cirrbufferingratio  0 for ~75% of sessions, log-normal tail otherwise (percent)
//   bufferingratio      cirrbufferingratio + startup share of watch time (percent)
//   watchtime           log-normal, median ~10 min, 5 s .. 3 h; starttime = endtime - watchtime
//   playdur             watch time minus startup and buffering, minutes
//   cdn_change_rate     0 for ~85%, else CDN switches per minute of watch time
//   errors, fatalerrors mostly 0; fatalerrors <= errors
//   qualityofexperience 100 minus penalties for the above, 0..100
#pragma once

#include <cstdint>
#include <vector>

#include "core/scenario.hpp"
#include "core/session.hpp"

namespace qoewatch::sim {

/// Longest generated watch time (seconds): sessions are generated this far ahead of now so
/// that running sessions exist.
inline constexpr std::int64_t max_watchtime_seconds = 3 * 3600;

/// A 64-bit mix of the inputs (splitmix64 finaliser chained); stable across platforms.
std::uint64_t hash_mix(std::uint64_t a, std::uint64_t b, std::uint64_t c = 0, std::uint64_t d = 0);

/// How many sessions end in epoch minute `minute` at `rate_per_min`: floor(rate) plus one
/// more with probability frac(rate), drawn from (seed, minute).
std::int64_t bucket_count(std::uint64_t seed, double rate_per_min, std::int64_t minute);

/// The sessions ending in epoch minute `minute` (endtime in [minute*60, minute*60+59]),
/// without incidents applied. Deterministic in (seed, rate, minute).
std::vector<generated_session> generate_bucket(std::uint64_t seed, double rate_per_min,
                                               std::int64_t minute);

/// `count` sessions ending within the `window_seconds` before `sim_start` (endtime in
/// [sim_start - window, sim_start - 1]), sorted by endtime. Session i is deterministic in
/// (seed, i) and its offset before sim_start.
std::vector<generated_session> generate_backlog(std::uint64_t seed, std::int64_t count,
                                                std::int64_t window_seconds,
                                                std::int64_t sim_start);

/// One session with the given id and endtime whose attributes are drawn from `stream`.
generated_session generate_session(std::uint64_t stream, std::uint64_t id, std::int64_t endtime);

/// Applies every incident whose window contains s.endtime and whose match holds: multiply,
/// then add, then set; then re-derives what the incident did not name (bufferingratio keeps
/// >= cirrbufferingratio, playdur, errors >= fatalerrors, starttime, qualityofexperience) and
/// rounds. Returns true when any incident applied.
bool apply_scenario(const scenario& sc, std::int64_t sim_start, generated_session& s);

/// The quality-of-experience score (0..100, one decimal) the generator derives from the
/// other metrics.
double derive_qoe(const generated_metrics& m);

}  // namespace qoewatch::sim
