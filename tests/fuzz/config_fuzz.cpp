// Fuzz target: qoewatch.yaml as an operator (or a broken deploy) may write it, rules inline.
// The loader must answer every text with either a configuration or errors that each name the
// file, never both, never neither, never an exception or a crash.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/load.hpp"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "config_fuzz: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // A folder that does not exist: rule_files globs match nothing, nothing is read from disk.
  static const std::string file = "/nonexistent-qoewatch-fuzz/qoewatch.yaml";
  std::string_view yaml(reinterpret_cast<const char*>(data), size);
  qoewatch::config::load_result r = qoewatch::config::load_from_string(yaml, file);
  if (r.config.has_value() == !r.errors.empty()) fail("a configuration and errors, or neither");
  for (const auto& d : r.errors) {
    std::string line = d.to_string();
    if (line.rfind(file, 0) != 0) fail("an error that does not name the file");
    if (line.size() <= file.size() + 2) fail("an error without a message");
  }
  return 0;
}
