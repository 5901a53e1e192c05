#include "run/rule_tests.hpp"

#include <iostream>

#include "export/metrics.hpp"
#include "ruletest/compare.hpp"
#include "ruletest/run.hpp"
#include "ruletest/spec.hpp"
#include "run/poll_metrics.hpp"

namespace qoewatch::run {

namespace {

// The test `t` of `f`, against a registry of its own; its failures, rendered.
std::vector<std::string> run_one(const ruletest::test_file& f, const ruletest::test_case& t) {
  metrics::registry m(QOEWATCH_VERSION);
  // As the daemon starts its rules: every series there before the first poll ends.
  for (const config::rule_config& rule : f.cfg.rules) {
    m.add_rule(rule.name);
    m.set_firing(rule.name, false);
  }
  ruletest::hooks h;
  h.polled = [&m](const ruletest::poll_done& p) {
    report_poll(m, p.rule, p.outcome, p.effects, p.now, 0);
    m.set_notified_sessions(p.notified_pairs);
  };
  h.metrics = [&m] { return m.serialize(); };
  return ruletest::check(f, t, h);
}

}  // namespace

int test_rules(const std::vector<std::string>& files) {
  bool ok = true;
  std::size_t all_tests = 0, all_passed = 0;
  for (const std::string& file : files) {
    ruletest::load_result loaded = ruletest::load(file);
    if (!loaded.value) {
      ok = false;
      for (const config::diagnostic& d : loaded.errors) std::cerr << d.to_string() << "\n";
      std::cerr << "qoewatchd: " << loaded.errors.size()
                << (loaded.errors.size() == 1 ? " error in " : " errors in ") << file
                << "; its tests were not run\n";
      continue;
    }
    std::size_t passed = 0;
    for (const ruletest::test_case& t : loaded.value->tests) {
      const std::vector<std::string> failures = run_one(*loaded.value, t);
      for (const std::string& failure : failures) std::cout << failure;
      if (failures.empty()) ++passed;
    }
    const std::size_t tests = loaded.value->tests.size();
    std::cout << ruletest::summary(file, tests, passed) << "\n";
    ok = ok && passed == tests;
    all_tests += tests;
    all_passed += passed;
  }
  if (files.size() > 1)
    std::cout << ruletest::summary(std::to_string(files.size()) + " files", all_tests, all_passed)
              << "\n";
  std::cout.flush();
  return ok ? 0 : 1;
}

}  // namespace qoewatch::run
