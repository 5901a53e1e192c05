// Inside the config module: one parser per section of the main file (and of rule files, which
// hold a rules: section). Each reads its node with the yaml_reader toolkit, fills in what is
// valid, and reports the rest into the document's errors; none throws. load.cpp calls them in
// file order.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "config/yaml_reader.hpp"

namespace qoewatch::config::sections {

/// smartsight: where the API is, whose data, where the key is, fetch limits.
void smartsight(const yaml::node& n, smartsight_config& out);

/// listen: HOST:PORT of the daemon's own endpoints.
void listen(const yaml::node& n, std::string& out);

/// web: TLS files and basic-auth users for those endpoints.
void web(const yaml::node& n, web_config& out);

/// Every name declared in a section (sinks, time_intervals), valid or not, with its line: a
/// rule that names an invalid entry gets no second error, and a repeated name is reported with
/// the line of the first.
using name_list = std::vector<std::pair<std::string, int>>;
using sink_name_list = name_list;

/// state: where the state lives (backend, url_file, lease_ttl, lease_renew). `state_dir` is
/// the top-level state_dir entry (absent when not written), which the postgresql backend
/// reports as a mistake: it would be ignored.
void state(const yaml::node& n, const yaml::node& state_dir, state_config& out);

/// sinks: the list of notification targets. Only valid sinks reach `out`; every name goes to
/// `names`.
void sinks(const yaml::node& n, std::vector<sink_config>& out, sink_name_list& names);

/// time_intervals: Alertmanager's named time intervals (intervals.cpp). Only valid entries
/// reach `out`; every name goes to `names`.
void time_intervals(const yaml::node& n, std::vector<named_time_interval>& out, name_list& names);

/// defaults: interval, window and delay of rules that do not set their own.
void defaults(const yaml::node& n, rule_defaults& out);

/// What a rule is checked against: the defaults, the metrics it may use, the sinks and the
/// time intervals its mute_time_intervals and active_time_intervals may name.
struct rule_context {
  const rule_defaults* defaults = nullptr;
  std::vector<std::string_view> metrics;  // the dictionary plus extra_metrics
  const std::vector<sink_config>* sinks = nullptr;
  const sink_name_list* sink_names = nullptr;
  const name_list* time_interval_names = nullptr;
};

/// A rule's population settings (when, resolve_when, group_by, min_sample, for, evidence,
/// max_groups), in population.cpp; reports them as mistakes on a rule without when.
void population(const yaml::node& n, const rule_context& ctx, rule_config& r);

/// rules: (in the main file or a rule file). Only valid rules are appended to `out`.
void rules(const yaml::node& n, const rule_context& ctx, std::vector<rule_config>& out);

/// The names a file declares under sinks: and time_intervals: (valid or not), which its rules
/// may name.
struct declared_names {
  sink_name_list sinks;
  name_list time_intervals;
};

/// The names of the sinks and time intervals of a config already loaded (every entry valid).
declared_names declared_in(const daemon_config& cfg);

/// What rules are checked against: cfg's defaults, sinks and extra metrics, and `names`.
/// Points into both: they outlive the context.
rule_context context_for(const daemon_config& cfg, const declared_names& names);

/// rule_files: (in the main file, or in a rule test file of core/ruletest): the rules of the
/// files the globs of `n` match, relative to the folder of `n`'s document, each file once,
/// appended to cfg.rules (the patterns to cfg.rule_files). A name that is no glob and matches
/// no file is an error.
void rule_files(const yaml::node& n, const rule_context& ctx, daemon_config& cfg);

/// A rule name used twice among `rules` is an error at its second use.
void unique_rule_names(const std::vector<rule_config>& rules, std::vector<diagnostic>& errors);

}  // namespace qoewatch::config::sections
