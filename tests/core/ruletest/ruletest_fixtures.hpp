// What the rule test tests share: a temporary folder holding rule files and test files, and
// loading a test file from it (the loader reads the rule files a test names, relative to it).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "ruletest/spec.hpp"

namespace qoewatch::testing_ruletest {

class temp_dir {
 public:
  temp_dir() {
    std::random_device rd;
    path_ =
        std::filesystem::temp_directory_path() / ("qoewatch-ruletest-test-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~temp_dir() { std::filesystem::remove_all(path_); }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  std::string write(const std::string& name, const std::string& text) const {
    std::filesystem::path p = path_ / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Two rules: one per session, one per CDN, polled every 60 s over a 5-minute window that
// ends 1 minute ago.
inline const char* const two_rules = R"(rules:
  - name: slow
    filter: "[platform=Android]"
    qoefilter: "latency > 5"
    fields: [cdn]
    interval: 60s
    window: 5m
    delay: 1m
    resolve_after: 2
  - name: cdn_rebuffering
    qoefilter: "cirrbufferingratio > 2"
    group_by: [cdn]
    when: "ratio > 20% AND p95(latency) > 0"
    resolve_when: "ratio < 10%"
    min_sample: 10
    for: 2
    resolve_after: 1
    evidence: 2
    interval: 60s
    window: 5m
    delay: 1m
)";

inline std::vector<std::string> texts(const ruletest::load_result& r) {
  std::vector<std::string> out;
  for (const config::diagnostic& d : r.errors) out.push_back(d.to_string());
  return out;
}

// Loads `tests` (the tests: section and what follows) as dir/t.yaml, testing two_rules
// (dir/rules.yaml) with an inline oncall webhook.
inline ruletest::load_result load_tests(const temp_dir& dir, const std::string& tests,
                                        const std::string& head = "") {
  dir.write("rules.yaml", two_rules);
  const std::string file =
      dir.write("t.yaml",
                "rule_files: [rules.yaml]\n"
                "sinks: [{name: oncall, type: webhook, url: \"http://h/\"}]\n" +
                    head + tests);
  return ruletest::load(file);
}

}  // namespace qoewatch::testing_ruletest
