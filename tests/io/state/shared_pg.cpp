#include "shared_pg.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>

namespace qoewatch::test {

namespace {

std::unique_ptr<pg_server> server;
std::string start_failure;

class stop_at_the_end : public ::testing::Environment {
  void TearDown() override { server.reset(); }
};
const auto* const environment = ::testing::AddGlobalTestEnvironment(new stop_at_the_end);

}  // namespace

pg_server& shared_pg() {
  if (!server) {
    if (!start_failure.empty()) throw std::runtime_error(start_failure);
    try {
      server = std::make_unique<pg_server>();
    } catch (const std::exception& e) {
      start_failure = std::string("cannot start the tests' PostgreSQL server: ") + e.what();
      throw std::runtime_error(start_failure);
    }
  }
  return *server;
}

test_database fresh_database(const std::string& hint) {
  static int databases = 0;
  std::string name;
  for (char c : hint) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    name += ok ? c : (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : '_';
  }
  name = "t" + std::to_string(++databases) + "_" + name.substr(0, 40);
  std::string url = shared_pg().create_database(name);
  return {name, url};
}

}  // namespace qoewatch::test
