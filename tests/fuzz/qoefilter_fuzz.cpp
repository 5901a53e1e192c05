// Fuzz target: the rule language (qoefilter conditions and dimension filters) as written by
// operators in rule files. Beyond "no crash", it checks what the daemon relies on: a parsed
// condition prints canonically and reads back to the same tree, its server-side filter is
// itself a valid condition, evaluation never crashes, and errors point inside the text.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "rules/aggregate.hpp"
#include "rules/dimension_filter.hpp"
#include "rules/expr.hpp"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "qoefilter_fuzz: %s\n", what);
  std::abort();
}

void check_condition(std::string_view text) {
  using namespace qoewatch::rules;
  parse_result r = parse(text);
  if (!r) {
    if (r.error.column < 1 || r.error.column > text.size() + 1) fail("error column outside");
    if (r.error.message.empty()) fail("error without a message");
    return;
  }
  const expr& e = *r.value;
  std::string printed = to_string(e);
  parse_result again = parse(printed);
  if (!again || !(*again.value == e)) fail("print then parse changed the tree");
  if (to_string(*again.value) != printed) fail("printing is not canonical");

  std::string server = server_side_filter(e);
  if (!server.empty() && !parse(server)) fail("server-side filter does not parse");

  // Every metric known, with a value derived from its name; then one missing.
  auto known = [](std::string_view m) -> std::optional<double> {
    return static_cast<double>(m.size()) - 3.5;
  };
  if (!evaluate(e, known)) fail("a row with every metric could not be judged");
  auto none = [](std::string_view) -> std::optional<double> { return std::nullopt; };
  if (evaluate(e, none)) fail("a row with no metric was judged");
  (void)metrics_of(e);
}

// A population rule's when: operands name(metric), numbers with %, each operand's place in
// the text, and what read_aggregate makes of it.
void check_population(std::string_view text) {
  using namespace qoewatch::rules;
  parse_result r = parse(text, {.aggregates = true});
  if (!r) {
    if (r.error.column < 1 || r.error.column > text.size() + 1) fail("error column outside");
    if (r.error.message.empty()) fail("error without a message");
    return;
  }
  const std::vector<std::string_view> metrics = {"latency", "cirrbufferingratio"};
  for (const operand_use& use : r.operands) {
    if (use.column < 1 || use.column > text.size()) fail("operand column outside");
    if (use.value_column <= use.column || use.value_column > text.size())
      fail("number column outside");
    aggregate_result a = read_aggregate(use.operand, metrics);
    if (!a.value && a.error.empty()) fail("an operand refused without a message");
    if (a.offset > use.operand.size()) fail("operand error offset outside");
  }
  parse_result again = parse(to_string(*r.value), {.aggregates = true});
  if (!again || !(*again.value == *r.value)) fail("population: print then parse changed the tree");
}

void check_dimensions(std::string_view text) {
  using namespace qoewatch::rules;
  dimension_filter_result r = parse_dimension_filter(text);
  if (!r) {
    if (r.column < 1 || r.column > text.size() + 1) fail("error column outside");
    if (r.message.empty()) fail("error without a message");
    return;
  }
  auto lookup = [](std::string_view) -> std::optional<std::string_view> { return "x"; };
  (void)matches(*r.value, lookup);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  check_condition(text);
  check_population(text);
  check_dimensions(text);
  return 0;
}
