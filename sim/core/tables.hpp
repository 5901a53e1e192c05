// The fixed value tables generated sessions draw their dimensions from, and the names of the
// metrics and dimensions the generator produces. Pure data.
#pragma once

#include <span>
#include <string_view>

namespace qoewatch::sim {

struct device_profile {
  std::string_view platform, device, player, brand, model;
  double weight;
};

struct location {
  std::string_view country, city;
  double weight;
};

struct weighted_name {
  std::string_view name;
  double weight;
};

struct asset {
  std::string_view name, id;
  double weight;
};

std::span<const device_profile> device_profiles();
std::span<const location> locations();
std::span<const weighted_name> cdns();         // edgeA, edgeB, edgeC
std::span<const weighted_name> sourcetypes();  // HLS, DASH, MP4
std::span<const asset> assets();

/// Metric names a generated session carries (latency, ..., watchtime).
std::span<const std::string_view> generated_metric_names();

/// Dimension names a generated session carries (platform, device, cdn, ...).
std::span<const std::string_view> generated_dimension_names();

}  // namespace qoewatch::sim
