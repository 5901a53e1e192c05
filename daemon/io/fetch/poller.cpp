#include "fetch/poller.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <system_error>

#include "http/client.hpp"
#include "http/retry_after.hpp"
#include "redact.hpp"
#include "state/spill_file.hpp"

namespace qoewatch::fetch {

namespace {

namespace net = boost::asio;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
// Bytes of a poll's offending rows held in memory; more go to its spill file.
constexpr std::size_t offending_rows_in_memory = 8u << 20;

// A request sent now and awaited later: its exchange goes on while the caller works (the next
// page of a poll arrives while this one is judged). Dropping it unawaited is fine; the
// request still finishes, and its result is discarded.
class in_flight {
 public:
  static std::shared_ptr<in_flight> start(net::any_io_executor ex, std::shared_ptr<http::client> c,
                                          http::request req) {
    auto f = std::make_shared<in_flight>(ex);
    net::co_spawn(
        ex,
        [f, c = std::move(c), req = std::move(req)]() mutable -> net::awaitable<void> {
          try {
            f->result_ = co_await c->send(std::move(req));
          } catch (const std::exception& e) {
            f->result_ = http::failure{http::failure_kind::protocol, e.what()};
          }
          f->ready_.cancel();
        },
        net::detached);
    return f;
  }

  explicit in_flight(net::any_io_executor ex)
      : ready_(ex, net::steady_timer::time_point::max()) {}

  net::awaitable<http::result> take() {
    // One thread: the result cannot arrive between this check and the wait.
    if (!result_) co_await ready_.async_wait(use_tuple);
    co_return std::move(*result_);
  }

 private:
  std::optional<http::result> result_;
  net::steady_timer ready_;  // cancelled when result_ is set
};

// Offending rows beyond the budget go to a temporary file: a window where every one of a
// million sessions offends costs the poll a few megabytes of memory, not hundreds.
std::unique_ptr<evaluate::poll_accumulator> accumulator_for(const config::rule_config& rule) {
  evaluate::row_log::options keep;
  keep.memory_budget = offending_rows_in_memory;
  keep.make_spill = [] { return std::make_unique<state::spill_file>(); };
  return std::make_unique<evaluate::poll_accumulator>(rule, std::move(keep));
}

// What a poll of `rule` folds its pages into.
void prepare(evaluate::poll_outcome& out, const config::rule_config& rule,
             const config::smartsight_config& api) {
  if (rule.population())
    out.groups = std::make_unique<evaluate::population_accumulator>(
        rule, static_cast<std::size_t>(api.page_size) * static_cast<std::size_t>(api.max_pages));
  else
    out.acc = accumulator_for(rule);
}

// A population poll's last page is in: the groups' figures replace their accumulators.
void conclude_groups(evaluate::poll_outcome& out) {
  out.figures = std::make_unique<evaluate::window_figures>(out.groups->finish());
  out.groups.reset();
}

// Judges a page's rows into `acc`, or a population rule's into `groups`. A spill file that cannot be written leaves its message in
// `spill_error`.
fetch::scan_result judge(evaluate::poll_accumulator* acc,
                         evaluate::population_accumulator* groups, std::string_view body,
                         std::string& spill_error) {
  if (groups) return groups->add_body(body);
  try {
    return acc->add_body(body);
  } catch (const std::system_error& e) {
    spill_error = e.what();
    return {};
  }
}

}  // namespace

std::shared_ptr<http::client> smartsight_client(net::any_io_executor ex,
                                                const config::smartsight_config& s) {
  http::client_options o;
  o.connect_timeout = s.timeout;
  o.io_timeout = s.timeout;
  o.deadline = s.timeout;
  o.max_body_bytes = static_cast<std::size_t>(s.max_response_bytes);
  o.max_connections = static_cast<std::size_t>(s.max_concurrency);
  o.ca_file = s.ca_file;
  std::optional<http::origin> origin = http::parse_origin(s.base_url);
  return std::make_shared<http::client>(std::move(ex), origin.value_or(http::origin{}), o);
}

// GCC 12 reports the coroutine frame's own operator delete as mismatched with its allocation
// (a false positive that comes and goes with what the frame inlines); Asio's frames pair
// them correctly.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
net::awaitable<pages_read> read_pages(
    const page_source& src, window w, std::size_t max_pages,
    const std::function<page_verdict(std::string_view body, std::int64_t offset)>& on_page,
    std::int64_t first_offset) {
  const config::smartsight_config& api = *src.api;
  net::any_io_executor ex = co_await net::this_coro::executor;
  pages_read out;
  auto page_request = [&](std::int64_t offset) {
    http::request req;
    req.target = src.query->target(w, offset);
    req.headers = {{"X-API-Key", src.api_key}, {"Accept", "application/json"}};
    return req;
  };
  // Once a page came back full, each next page is requested before the one in hand is
  // judged, so SmartSight sends it meanwhile. A window that ends on the page in hand wastes
  // that one request: the API has no counter trustworthy enough to stop on.
  bool window_spans_pages = false;
  std::shared_ptr<in_flight> next;
  for (std::int64_t offset = first_offset;; offset += api.page_size) {
    out.failed_offset = offset;
    if (src.cancelled && src.cancelled()) {
      out.error = "cancelled by a reload or shutdown";
      co_return out;
    }
    if (out.pages >= max_pages) {
      out.error = too_many_pages(max_pages, api.page_size);
      co_return out;
    }
    // (Not a conditional expression: GCC 12 miscompiles co_await inside one.)
    std::optional<http::result> awaited;
    if (next)
      awaited = co_await next->take();
    else
      awaited = co_await src.client->send(page_request(offset));
    next.reset();
    http::result& r = *awaited;
    ++out.pages;
    spdlog::debug("window {}..{}: page at offset {}: {}", w.start, w.end, offset,
                  http::describe(r));
    if (auto* f = std::get_if<http::failure>(&r)) {
      out.error = f->message;
      co_return out;
    }
    const http::response& res = std::get<http::response>(r);
    if (res.status < 200 || res.status >= 300) {
      // Redacted before it is cut short: a cut must not leave half a key behind.
      out.error = "SmartSight answered HTTP " + std::to_string(res.status) + ": " +
                  redact(res.body, {src.api_key}).substr(0, 300);
      out.retry_after = http::retry_after(res);
      co_return out;
    }
    if (window_spans_pages && out.pages < max_pages) {
      next = in_flight::start(ex, src.client, page_request(offset + api.page_size));
      co_await net::post(ex, net::use_awaitable);  // it sends its request now
    }
    page_verdict v = on_page(res.body, offset);
    if (!v.error.empty()) {
      out.error = std::move(v.error);
      co_return out;
    }
    if (v.rows_in_page < static_cast<std::size_t>(api.page_size)) break;
    window_spans_pages = true;
  }
  out.ok = true;
  co_return out;
}

net::awaitable<evaluate::poll_outcome> poll(const config::rule_config& rule, const page_source& src,
                                            catchup c) {
  evaluate::poll_outcome out;
  out.what = evaluate::poll_outcome::kind::failed;
  out.window = c.w;
  out.catchup_skipped = c.skipped_seconds;
  out.behind = c.behind;
  // A per-session rule keeps its offending rows; a population rule folds every row into its
  // group's figures.
  prepare(out, rule, *src.api);
  auto on_page = [&out](std::string_view body, std::int64_t offset) -> page_verdict {
    std::string spill_error;
    fetch::scan_result page = judge(out.acc.get(), out.groups.get(), body, spill_error);
    // A spill file that cannot be written fails the poll as a whole: nothing of it is
    // committed or sent.
    if (!spill_error.empty())
      return {0, "cannot keep the offending sessions of offset " + std::to_string(offset) + ": " +
                     spill_error};
    if (!page)
      return {0, "unusable response for offset " + std::to_string(offset) + ": " + page.error};
    return {page.value->rows_in_page, {}};
  };
  pages_read read =
      co_await read_pages(src, out.window, static_cast<std::size_t>(src.api->max_pages), on_page);
  out.pages = read.pages;
  if (!read.ok) {
    out.error = std::move(read.error);
    out.retry_after = read.retry_after;
    co_return out;
  }
  if (out.groups) conclude_groups(out);
  out.what = evaluate::poll_outcome::kind::polled;
  co_return out;
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace qoewatch::fetch
