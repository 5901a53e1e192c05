// Fuzz target: a listsessions response body, as SmartSight (or anything pretending to be it)
// may send. Checks that the two readers the daemon has agree on every input: parse_page (the
// DOM-like reference) and scan_page (the streaming reader the poller uses), in usable/unusable,
// row count, skip counts and every row's values.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "fetch/page.hpp"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "page_fuzz: %s\n", what);
  std::abort();
}

bool same_number(double a, double b) {
  return a == b || (std::isnan(a) && std::isnan(b));
}

bool same_row(const qoewatch::fetch::session_row& a, const qoewatch::fetch::session_row& b) {
  if (a.sessionid != b.sessionid || !same_number(a.endtime, b.endtime)) return false;
  if (a.metrics.size() != b.metrics.size() || a.fields != b.fields) return false;
  for (std::size_t i = 0; i < a.metrics.size(); ++i) {
    if (!same_number(a.metrics[i], b.metrics[i])) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace qoewatch::fetch;
  static const row_schema schema{{"latency", "bufferingratio"}, {"cdn", "assetname"}};
  std::string_view body(reinterpret_cast<const char*>(data), size);

  page_result dom = parse_page(body, schema);
  std::vector<session_row> streamed;
  scan_result scan = scan_page(
      body, schema, [&](const session_row& r) { streamed.push_back(r); },
      [&] { streamed.clear(); });

  if (static_cast<bool>(dom) != static_cast<bool>(scan)) fail("readers disagree on usable");
  if (!dom) {
    if (dom.error.empty() || scan.error.empty()) fail("an unusable body without a reason");
    return 0;
  }
  const page& p = *dom.value;
  if (p.rows_in_page != scan.value->rows_in_page) fail("readers disagree on rows_in_page");
  if (p.skipped != scan.value->skipped) fail("readers disagree on skipped rows");
  if (p.rows.size() != streamed.size()) fail("readers disagree on usable rows");
  std::size_t skipped = 0;
  for (std::size_t s : p.skipped) skipped += s;
  if (p.rows.size() + skipped != p.rows_in_page) fail("rows and skips do not add up");
  for (std::size_t i = 0; i < p.rows.size(); ++i) {
    if (!same_row(p.rows[i], streamed[i])) fail("readers disagree on a row");
    for (double m : p.rows[i].metrics) {
      if (!std::isfinite(m)) fail("a metric that is not a finite number");
    }
  }
  return 0;
}
