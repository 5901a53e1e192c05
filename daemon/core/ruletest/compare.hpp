// Comparing what a rule test expects with what its rules did (ruletest/run.hpp), and the
// report `qoewatchd --test-rules` prints: each failure as
//   FILE:LINE: test "NAME", at +5m: rule R: fired
//     expected: [{group: {cdn: edgeB}, ratio: 0.2}]
//     got:      [{group: {cdn: edgeA}, sessions: 120, offending: 30, ratio: 0.25}]
//     missing: {group: {cdn: edgeB}, ratio: 0.2}
//     unexpected: {group: {cdn: edgeA}, sessions: 120, offending: 30, ratio: 0.25}
// where LINE is the line of the key that asked. Numbers agree when they differ by at most a
// billionth of the larger; they print with up to 10 significant digits. Pure code.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "ruletest/run.hpp"
#include "ruletest/spec.hpp"

namespace qoewatch::ruletest {

/// One way what the rules did differs from an expectation.
struct mismatch {
  int line = 0;
  std::string what;  // "rule cdn_rebuffering: fired", "metric qoewatch_rule_firing{rule=\"r\"}"
  std::string expected;
  std::string got;
  // For sets (fired, resolved, groups, sessions): the items expected and not seen, and seen
  // and not expected.
  std::vector<std::string> missing;
  std::vector<std::string> unexpected;
};

/// Every way `e` (the evaluation at x.at) differs from `x`, in the order of x's keys; none
/// when it holds.
std::vector<mismatch> compare(const config::daemon_config& cfg, const expectation& x,
                              const evaluation& e);

/// A failure as the report prints it (see above), ending in a newline.
std::string render(const std::string& file, const test_case& t, const expectation& x,
                   const mismatch& m);

/// Runs test `t` of `f` and compares every expectation: the failures, rendered (none: the
/// test passes).
std::vector<std::string> check(const test_file& f, const test_case& t, const hooks& h = {});

/// "FILE: 3 tests, 3 passed" or "FILE: 3 tests, 2 passed, 1 failed".
std::string summary(const std::string& file, std::size_t tests, std::size_t passed);

/// A number as the report prints it: whole numbers as such, others with up to 10
/// significant digits ("0.25", "12", "1.5e-07").
std::string number_text(double v);

/// Whether two numbers agree: equal, both NaN, or within a billionth of the larger.
bool same_number(double a, double b);

}  // namespace qoewatch::ruletest
