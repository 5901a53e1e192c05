// Test support: a free loopback port, held so that no one else takes it while a test's server
// comes and goes on it. Shared by the end-to-end harness and the PostgreSQL test server.
#pragma once

#include <string>

namespace qoewatch::test {

/// A loopback port held by a socket that is bound and never listens, for the object's
/// lifetime: connecting to it is refused (ECONNREFUSED), and the kernel hands it to no other
/// socket meanwhile. SO_REUSEADDR is set, so a server that sets it too (smartsight-sim, the
/// webhook receiver, Alertmanager, PostgreSQL) can bind the port and listen while it is held,
/// and bind it again after a restart without a window in which someone else may take it.
/// Throws std::runtime_error when no socket can be bound.
class reserved_port {
 public:
  reserved_port();
  ~reserved_port();
  reserved_port(const reserved_port&) = delete;
  reserved_port& operator=(const reserved_port&) = delete;
  const std::string& port() const { return port_; }

 private:
  int fd_ = -1;
  std::string port_;
};

}  // namespace qoewatch::test
