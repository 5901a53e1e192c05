// The population part of a rule: group_by, when, resolve_when and their settings. A rule with
// `when` judges groups of sessions by their aggregates; see config.hpp and docs/rules.md.
#include <algorithm>

#include "config/common.hpp"
#include "config/diagnostic.hpp"
#include "config/sections.hpp"
#include "rules/aggregate.hpp"
#include "rules/expr.hpp"
#include "rules/identifier.hpp"

namespace qoewatch::config::sections {

namespace {

// The comparisons of `e` in text order (the order of parse_result::operands).
void comparisons(const rules::expr& e, std::vector<const rules::comparison*>& out) {
  if (e.k == rules::expr::kind::compare) out.push_back(&e.cmp);
  for (const rules::expr& c : e.children) comparisons(c, out);
}

// Parses a population condition and checks every operand; adds its metric aggregates to
// the rule's list. std::nullopt after reporting an error. `ratio_example` shows a ratio
// compared right, for the message about one compared with a number outside 0-1.
std::optional<rules::expr> condition(const yaml::node& v, const rule_context& ctx,
                                     bool has_qoefilter, std::string_view ratio_example,
                                     rule_config& r) {
  auto text = v.text();
  if (!text) return std::nullopt;
  rules::parse_result parsed = rules::parse(*text, {.aggregates = true});
  if (!parsed) {
    v.error_at(parsed.error.column - 1, parsed.error.message);
    return std::nullopt;
  }
  std::vector<const rules::comparison*> compared;
  comparisons(*parsed.value, compared);
  bool ok = true;
  for (std::size_t i = 0; i < parsed.operands.size(); ++i) {
    const rules::operand_use& use = parsed.operands[i];
    rules::aggregate_result a = rules::read_aggregate(use.operand, ctx.metrics);
    if (!a.value) {
      std::string message = a.error;
      if (a.offset > 0) {  // an unknown metric
        const std::string m = use.operand.substr(a.offset, use.operand.size() - a.offset - 1);
        const std::string near = nearest(m, ctx.metrics);
        message += " (" + (near.empty() ? std::string{} : "did you mean " + in_quotes(near) + "? ") +
                   "known: " + join_list(ctx.metrics) +
                   "; declare others in smartsight.extra_metrics)";
      }
      v.error_at(use.column - 1 + a.offset, message);
      ok = false;
      continue;
    }
    const rules::aggregate_fn fn = a.value->fn;
    if ((fn == rules::aggregate_fn::offending || fn == rules::aggregate_fn::ratio) &&
        !has_qoefilter) {
      v.error_at(use.column - 1,
                 "'" + use.operand +
                     "' counts the sessions that match the qoefilter, and this rule has none "
                     "(add qoefilter: \"cirrbufferingratio > 2\", or judge sessions or a "
                     "metric aggregate)");
      ok = false;
      continue;
    }
    // A ratio is a fraction: compared with a number above 1 (or below 0) it can never (or
    // always) hold.
    if (fn == rules::aggregate_fn::ratio && i < compared.size() &&
        (compared[i]->value > 1 || compared[i]->value < 0)) {
      v.error_at(use.value_column - 1, "ratio is a fraction from 0 to 1, compared here with " +
                                           rules::format_number(compared[i]->value) +
                                           " (write a percentage, e.g. " +
                                           std::string(ratio_example) + ")");
      ok = false;
      continue;
    }
    if (use.percent && fn != rules::aggregate_fn::ratio) {
      v.error_at(use.value_column - 1,
                 "a percentage compares with ratio only (a fraction 0-1); '" + use.operand +
                     "' is " +
                     (rules::of_metric(fn) ? "in the metric's own unit" : "a count of sessions") +
                     ": write a plain number");
      ok = false;
      continue;
    }
    if (rules::of_metric(fn) &&
        std::none_of(r.aggregates.begin(), r.aggregates.end(),
                     [&](const rules::aggregate& x) { return x.text == a.value->text; }))
      r.aggregates.push_back(std::move(*a.value));
  }
  if (!ok) return std::nullopt;
  return std::move(parsed.value);
}

void group_by(const yaml::node& v, rule_config& r) {
  auto list = v.string_list("[cdn, platform]");
  if (!list) return;
  for (const auto& [field, item] : *list) {
    if (!rules::is_identifier(field))
      item.error(in_quotes(field) + " is not a field name (letters, digits, _)");
    else if (std::find(r.group_by.begin(), r.group_by.end(), field) != r.group_by.end())
      item.error(in_quotes(field) + " is listed twice");
    else if (field == "sessionid")
      item.error("a group per session is a per-session rule: remove group_by and when");
    else if (field == "alertname" || field == "severity" || field == "incident" ||
             field == "rule")
      // Each dimension becomes a label of the group's alerts, next to the ones qoewatch sets.
      item.error(in_quotes(field) +
                 " is a label qoewatch sets on every alert, so it cannot name a dimension");
    else
      r.group_by.push_back(field);
  }
}

}  // namespace

void population(const yaml::node& n, const rule_context& ctx, rule_config& r) {
  yaml::node when = n["when"];
  if (!when) {
    // Settings that only a population rule reads are mistakes elsewhere: say so.
    for (std::string_view key :
         {"group_by", "resolve_when", "min_sample", "for", "evidence", "max_groups"})
      if (yaml::node v = n[std::string(key)])
        v.error(std::string(key) +
                " is for a population rule, which needs when: (e.g. when: \"ratio > 10% AND "
                "sessions >= 200\"); without when the rule judges sessions one by one");
    return;
  }
  const bool has_qoefilter = static_cast<bool>(n["qoefilter"]);
  if (auto c = condition(when, ctx, has_qoefilter, "ratio > 10%, or a fraction, ratio > 0.1", r)) {
    r.when = std::move(*c);
    r.when_text = *when.text();
  }
  if (yaml::node v = n["resolve_when"]) {
    if (auto c = condition(v, ctx, has_qoefilter, "ratio < 5%, or a fraction, ratio < 0.05", r)) {
      r.resolve_when = std::move(*c);
      r.resolve_when_text = *v.text();
    }
  }
  if (yaml::node v = n["group_by"]) group_by(v, r);
  if (yaml::node v = n["min_sample"])
    if (auto m = v.whole_number(1, 100000000, "sessions a group needs in the window to be judged"))
      r.min_sample = static_cast<int>(*m);
  if (yaml::node v = n["for"])
    if (auto m = v.whole_number(1, 1000, "successful polls in a row when must hold to fire"))
      r.for_polls = static_cast<int>(*m);
  if (yaml::node v = n["evidence"])
    if (auto m = v.whole_number(0, 1000, "offending sessions sent with a firing group"))
      r.evidence = static_cast<int>(*m);
  if (yaml::node v = n["max_groups"])
    if (auto m = v.whole_number(1, 100000, "groups exported as metrics"))
      r.max_groups = static_cast<int>(*m);
  if (yaml::node v = n["min_sessions"])
    v.error("min_sessions counts offending sessions of a per-session rule; a population rule "
            "guards its groups with min_sample (sessions in the window) and when");
}

}  // namespace qoewatch::config::sections
