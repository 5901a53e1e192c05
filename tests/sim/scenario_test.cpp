// The scenario YAML loader: the sample file, a full incident, and exact error texts.
#include "core/scenario.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace qoewatch::sim;
using namespace std::chrono_literals;

std::string error_of(const std::string& yaml) {
  scenario_result r = parse_scenario(yaml, "s.yaml");
  EXPECT_FALSE(r) << "parsed: " << yaml;
  return r.error;
}

TEST(ScenarioYaml, ParsesAFullIncident) {
  scenario_result r = parse_scenario(R"(incidents:
  - name: edgeB_slow_start
    start: 2m          # offset from simulator start
    duration: 5m
    match: {cdn: edgeB, country: US}
    multiply: {latency: 4}
    add: {cirrbufferingratio: 6, errors: 2}
    set: {fatalerrors: 1}
  - name: second
    start: 1h30m
    duration: 90s
    set:
      qualityofexperience: 10.5
)",
                                     "s.yaml");
  ASSERT_TRUE(r) << r.error;
  ASSERT_EQ(r.value->incidents.size(), 2u);
  const incident& a = r.value->incidents[0];
  EXPECT_EQ(a.name, "edgeB_slow_start");
  EXPECT_EQ(a.start, 2min);
  EXPECT_EQ(a.length, 5min);
  EXPECT_EQ(a.match, (std::vector<std::pair<std::string, std::string>>{{"cdn", "edgeB"},
                                                                       {"country", "US"}}));
  EXPECT_EQ(a.multiply, (std::vector<std::pair<std::string, double>>{{"latency", 4}}));
  EXPECT_EQ(a.add, (std::vector<std::pair<std::string, double>>{{"cirrbufferingratio", 6},
                                                                {"errors", 2}}));
  EXPECT_EQ(a.set, (std::vector<std::pair<std::string, double>>{{"fatalerrors", 1}}));
  const incident& b = r.value->incidents[1];
  EXPECT_EQ(b.start, 90min);
  EXPECT_EQ(b.length, 90s);
  EXPECT_TRUE(b.match.empty());
  EXPECT_EQ(b.set, (std::vector<std::pair<std::string, double>>{{"qualityofexperience", 10.5}}));
}

TEST(ScenarioYaml, TheSampleFileLoads) {
  std::string path = std::string(SIM_SCENARIO_DIR) + "/edgeB-incident.yaml";
  scenario_result r = load_scenario_file(path);
  ASSERT_TRUE(r) << r.error;
  ASSERT_EQ(r.value->incidents.size(), 1u);
  EXPECT_EQ(r.value->incidents[0].name, "edgeB_slow_start");
  EXPECT_EQ(r.value->incidents[0].start, 1min);
  EXPECT_EQ(r.value->incidents[0].length, 5min);
}

TEST(ScenarioYaml, EmptyIncidentListIsFine) {
  scenario_result r = parse_scenario("incidents: []\n", "s.yaml");
  ASSERT_TRUE(r) << r.error;
  EXPECT_TRUE(r.value->incidents.empty());
}

TEST(ScenarioYaml, ErrorsNameFileLineColumnAndKeyPath) {
  const std::string head = "incidents:\n  - name: x\n    start: 2m\n    duration: 5m\n";
  EXPECT_EQ(error_of(head + "    mulitply: {latency: 4}\n"),
            "s.yaml:5:5: incidents[0].mulitply: unknown key (did you mean multiply?)");
  EXPECT_EQ(error_of(head + "    colour: red\n"),
            "s.yaml:5:5: incidents[0].colour: unknown key (expected one of name, start, duration, "
            "match, multiply, add, set)");
  EXPECT_EQ(
      error_of("incidents:\n  - name: x\n    start: 2x\n    duration: 5m\n    set: {errors: 1}\n"),
      "s.yaml:3:12: incidents[0].start: \"2x\" is not a duration (use 30s, 5m, 1h)");
  EXPECT_EQ(
      error_of("incidents:\n  - name: x\n    start: 2m\n    duration: 0s\n    set: {errors: 1}\n"),
      "s.yaml:4:15: incidents[0].duration: must be longer than 0s");
  EXPECT_EQ(error_of(head + "    multiply: {latncy: 4}\n"),
            "s.yaml:5:16: incidents[0].multiply.latncy: unknown metric (did you mean latency?)");
  EXPECT_EQ(error_of(head + "    multiply: {latency: four}\n"),
            "s.yaml:5:25: incidents[0].multiply.latency: \"four\" is not a number");
  EXPECT_EQ(error_of(head + "    multiply: [latency, 4]\n"),
            "s.yaml:5:15: incidents[0].multiply: expected a map of metric: number ({latency: 4})");
  EXPECT_EQ(error_of(head + "    match: {cnd: edgeB}\n    set: {errors: 1}\n"),
            "s.yaml:5:13: incidents[0].match.cnd: unknown dimension (did you mean cdn?)");
  EXPECT_EQ(error_of(head + "    match: {cdn: [edgeB]}\n    set: {errors: 1}\n"),
            "s.yaml:5:18: incidents[0].match.cdn: expected a text value");
  EXPECT_EQ(error_of(head),
            "s.yaml:2:5: incidents[0]: no changes: give at least one of multiply, add, set");
  EXPECT_EQ(error_of("incidents:\n  - start: 2m\n    duration: 5m\n    set: {errors: 1}\n"),
            "s.yaml:2:5: incidents[0]: missing key name");
  EXPECT_EQ(error_of("incidents:\n  - name: x\n    duration: 5m\n    set: {errors: 1}\n"),
            "s.yaml:2:5: incidents[0]: missing key start (offset from simulator start, e.g. 2m)");
  EXPECT_EQ(error_of(head + "    set: {errors: 1}\n  - name: x\n    start: 1m\n    duration: 1m\n  "
                            "  set: {errors: 2}\n"),
            "s.yaml:6:11: incidents[1].name: \"x\" is already the name of incidents[0]");
  EXPECT_EQ(error_of(head + "    set: {errors: 1}\n    set: {errors: 2}\n"),
            "s.yaml:6:5: incidents[0].set: repeated key");
  EXPECT_EQ(error_of("incident:\n  - name: x\n"),
            "s.yaml:1:1: incident: unknown key (did you mean incidents?)");
  EXPECT_EQ(error_of("incidents: 3\n"),
            "s.yaml:1:12: incidents: expected a list of incidents (- name: ...)");
  EXPECT_EQ(
      error_of("incidents:\n  - just text\n"),
      "s.yaml:2:5: incidents[0]: expected a map with name, start, duration, match and changes");
  EXPECT_EQ(error_of("- a\n- b\n"),
            "s.yaml:1:1: a scenario is a map with the key incidents (incidents: [...])");
  EXPECT_EQ(error_of(""), "s.yaml:1:1: missing key incidents (the file is empty)");
  EXPECT_EQ(error_of("incidents: [\n  {name: x\n"),
            "s.yaml:3:1: invalid YAML: end of map flow not found");
}

TEST(ScenarioYaml, UnreadableFile) {
  scenario_result r = load_scenario_file("/nonexistent/dir/s.yaml");
  EXPECT_FALSE(r);
  EXPECT_EQ(r.error, "/nonexistent/dir/s.yaml: cannot read the scenario file");
}

}  // namespace
