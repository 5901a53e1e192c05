// --test-rules FILE...: runs rule unit tests (core/ruletest) with the metrics the daemon
// exports: each test feeds a registry of its own exactly as the rule runner does after a poll
// (run/poll_metrics.hpp), and its metric expectations read that registry's /metrics text.
// Prints on stdout each failure (file:line, the test, the time, expected and got) and a
// summary line per file; a test file that cannot be loaded prints its errors on stderr
// (file:line:column: key.path: message) and runs none of its tests. No network, no state
// database, no secrets. Blocking; call from main's thread.
#pragma once

#include <string>
#include <vector>

namespace qoewatch::run {

/// Runs every test of every file; returns 0 when all of them pass, 1 when a test fails or a
/// file cannot be loaded.
int test_rules(const std::vector<std::string>& files);

}  // namespace qoewatch::run
