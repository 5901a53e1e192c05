// Inside the ruletest module: the pieces of the test file loader that its files share
// (spec.cpp reads the file and its tests, expect.cpp the expect: entries). Each reports its
// own problems into the document's errors, as the config's section parsers do.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/yaml_reader.hpp"
#include "ruletest/spec.hpp"

namespace qoewatch::ruletest::parts {

/// A time (see read_time) at `v`, or an error there.
std::optional<double> time_of(const config::yaml::node& v, double start);

/// `expect:` of test `t` (whose start is read), against the rules of `cfg`.
void expectations(const config::yaml::node& n, const config::daemon_config& cfg, test_case& t);

/// A time as failures and messages print it: RFC 3339 with milliseconds when it has some.
std::string time_text(double epoch_seconds);

}  // namespace qoewatch::ruletest::parts
