// What the config tests share: a temporary folder to write config, rule and secret files
// into, the smallest valid config, error texts of a load, and a secret_source whose
// environment is made up (no test reads or changes the process's own).
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "config/load.hpp"

namespace qoewatch::testing_config {

class temp_dir {
 public:
  temp_dir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("qoewatch-config-test-" + std::to_string(rd()));
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
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline const char* const minimal = R"(smartsight:
  customer_id: 42
  api_key_env: QW_TEST_KEY
rules:
  - name: slow
    qoefilter: latency > 5
)";

inline std::vector<std::string> texts(const config::load_result& r) {
  std::vector<std::string> out;
  for (const config::diagnostic& d : r.errors) out.push_back(d.to_string());
  return out;
}

// Loads `yaml` as c.yaml and returns the error texts (empty when it loaded).
inline std::vector<std::string> errors_of(const std::string& yaml) {
  return texts(config::load_from_string(yaml, "c.yaml"));
}

// Secrets from the real files the test wrote, but from the made-up environment `vars`.
inline config::secret_source with_env(std::map<std::string, std::string> vars) {
  config::secret_source source = config::secret_source::system();
  source.env = [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  return source;
}

}  // namespace qoewatch::testing_config
