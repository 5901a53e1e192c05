#include "core/tables.hpp"

#include <array>

namespace qoewatch::sim {

namespace {

constexpr std::array device_profiles_{
    device_profile{"Android", "Mobile", "ExoPlayer", "Samsung", "Galaxy S23", 14},
    device_profile{"Android", "Mobile", "ExoPlayer", "Google", "Pixel 8", 6},
    device_profile{"Android", "Mobile", "ExoPlayer", "Xiaomi", "Redmi Note 12", 6},
    device_profile{"Android", "Tablet", "ExoPlayer", "Samsung", "Galaxy Tab S9", 3},
    device_profile{"iOS", "Mobile", "AVPlayer", "Apple", "iPhone 15", 14},
    device_profile{"iOS", "Mobile", "AVPlayer", "Apple", "iPhone 13", 6},
    device_profile{"iOS", "Tablet", "AVPlayer", "Apple", "iPad Air", 4},
    device_profile{"Web", "Desktop", "Shaka Player", "Google", "Chrome", 10},
    device_profile{"Web", "Desktop", "hls.js", "Mozilla", "Firefox", 3},
    device_profile{"Web", "Desktop", "AVPlayer", "Apple", "Safari", 3},
    device_profile{"Roku", "STB", "Roku Video Node", "Roku", "Streaming Stick 4K", 8},
    device_profile{"FireTV", "STB", "ExoPlayer", "Amazon", "Fire TV Stick 4K", 7},
    device_profile{"tvOS", "STB", "AVPlayer", "Apple", "Apple TV 4K", 5},
    device_profile{"Tizen", "SmartTV", "AVPlay", "Samsung", "QN90C", 6},
    device_profile{"webOS", "SmartTV", "webOS Media", "LG", "OLED C3", 5},
};

constexpr std::array locations_{
    location{"US", "New York", 12},     location{"US", "Los Angeles", 9},
    location{"US", "Chicago", 6},       location{"US", "Dallas", 5},
    location{"Canada", "Toronto", 5},   location{"Canada", "Vancouver", 3},
    location{"UK", "London", 8},        location{"UK", "Manchester", 3},
    location{"Germany", "Berlin", 4},   location{"Germany", "Munich", 3},
    location{"India", "Mumbai", 7},     location{"India", "Bangalore", 5},
    location{"Brazil", "Sao Paulo", 5}, location{"Australia", "Sydney", 4},
};

constexpr std::array cdns_{
    weighted_name{"edgeA", 50},
    weighted_name{"edgeB", 30},
    weighted_name{"edgeC", 20},
};

constexpr std::array sourcetypes_{
    weighted_name{"HLS", 60},
    weighted_name{"DASH", 30},
    weighted_name{"MP4", 10},
};

constexpr std::array assets_{
    asset{"Finale", "a1001", 20},
    asset{"Morning News", "a1002", 14},
    asset{"Champions League: Semi-final", "a1003", 12},
    asset{"The Long Road", "a1004", 9},
    asset{"Cooking with Ana S2E4", "a1005", 7},
    asset{"Ocean Deep", "a1006", 6},
    asset{"Stand-up Night", "a1007", 5},
    asset{"Kids Corner", "a1008", 5},
    asset{"Market Watch Live", "a1009", 4},
    asset{"Night Train", "a1010", 4},
    asset{"Tour de France Stage 12", "a1011", 3},
    asset{"Jazz at the Park", "a1012", 2},
};

constexpr std::array<std::string_view, 9> metric_names_{
    "latency",  "cirrbufferingratio", "bufferingratio", "qualityofexperience",
    "playdur",  "cdn_change_rate",    "errors",         "fatalerrors",
    "watchtime"};

constexpr std::array<std::string_view, 13> dimension_names_{
    "platform", "device", "cdn",          "country",  "city",  "sourcetype", "assetname",
    "assetid",  "player", "subscriberid", "deviceid", "brand", "model"};

}  // namespace

std::span<const device_profile> device_profiles() {
  return device_profiles_;
}
std::span<const location> locations() {
  return locations_;
}
std::span<const weighted_name> cdns() {
  return cdns_;
}
std::span<const weighted_name> sourcetypes() {
  return sourcetypes_;
}
std::span<const asset> assets() {
  return assets_;
}
std::span<const std::string_view> generated_metric_names() {
  return metric_names_;
}
std::span<const std::string_view> generated_dimension_names() {
  return dimension_names_;
}

}  // namespace qoewatch::sim
