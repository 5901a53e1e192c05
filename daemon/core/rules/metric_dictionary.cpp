#include "rules/metric_dictionary.hpp"

#include <array>

namespace qoewatch::rules {

namespace {
constexpr std::array<metric_info, 11> metrics{{
    {"latency", "seconds", "startup time, play attempt to first frame"},
    {"cirrbufferingratio", "percent", "share of watch time spent rebuffering"},
    {"bufferingratio", "percent", "share of watch time in any buffering state"},
    {"qualityofexperience", "score 0-100", "playback score"},
    {"playdur", "minutes", "content play time"},
    {"cdn_change_rate", "rate", "CDN switches"},
    {"errors", "count", "errors during the session"},
    {"fatalerrors", "count", "fatal errors during the session"},
    {"watchtime", "seconds", "session watch time"},
    {"starttime", "epoch seconds", "session start"},
    {"endtime", "epoch seconds", "session end"},
}};
}  // namespace

std::span<const metric_info> known_metrics() {
  return metrics;
}

const metric_info* find_metric(std::string_view name) {
  for (const metric_info& m : metrics)
    if (m.name == name) return &m;
  return nullptr;
}

}  // namespace qoewatch::rules
