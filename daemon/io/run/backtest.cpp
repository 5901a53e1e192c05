#include "run/backtest.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>
#include <cstdio>
#include <deque>
#include <exception>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>

#include "backtest/feed.hpp"
#include "backtest/report.hpp"
#include "backtest/span.hpp"
#include "backtest/tally.hpp"
#include "config/time_interval.hpp"
#include "duration.hpp"
#include "evaluate/replay.hpp"
#include "fetch/poller.hpp"
#include "http/client.hpp"
#include "redact.hpp"
#include "text/join.hpp"

namespace qoewatch::run {

namespace {

namespace net = boost::asio;
using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Per chunk, the first included; a chunk after one that was given up is tried once until one
// arrives again (a source that is down costs one round of pauses, not one per chunk).
constexpr int attempts = 6;
constexpr auto first_pause = 500ms;  // doubled after each failure: 0.5, 1, 2, 4, 8 s
constexpr auto longest_pause = 60s;  // between two attempts, Retry-After included
constexpr std::size_t pages_per_chunk = 4;

// What stderr shows while the backtest runs: a bar redrawn in place on a terminal, a line
// every 10 s otherwise.
class progress {
 public:
  explicit progress(std::size_t windows) : total_(windows), tty_(isatty(STDERR_FILENO) == 1) {}

  void window_done() {
    ++done_;
    show(false);
  }
  void rows(std::size_t n) { rows_ += n; }
  void finish() {
    show(true);
    if (tty_) std::fputs("\n", stderr);
  }
  // A line of its own (a retry, a gap) that the bar must not overwrite.
  void say(const std::string& line) {
    std::fprintf(stderr, "%s%s\n", tty_ ? "\r\033[K" : "", line.c_str());
    shown_ = {};
  }

 private:
  void show(bool last) {
    const steady::time_point now = steady::now();
    if (!last && shown_ != steady::time_point{} && now - shown_ < (tty_ ? 200ms : 10s)) return;
    shown_ = now;
    const double elapsed = std::chrono::duration<double>(now - started_).count();
    const double share = total_ ? static_cast<double>(done_) / static_cast<double>(total_) : 1;
    // Rounded down: 100 % only once every window is judged.
    const double percent = std::floor(100 * share);
    std::string eta = "--";
    if (done_ > 0 && done_ < total_)
      eta = format_duration(
          duration(1000 * static_cast<std::int64_t>(elapsed * (1 - share) / share + 0.5)));
    else if (done_ >= total_)
      eta = "0s";
    char line[200];
    if (tty_) {
      constexpr int width = 30;
      const int filled = static_cast<int>(share * width);
      std::string bar(static_cast<std::size_t>(filled), '#');
      bar.resize(width, '.');
      std::snprintf(line, sizeof line, "\r\033[K[%s] %3.0f%%  windows %zu/%zu  rows %zu  ETA %s",
                    bar.c_str(), percent, done_, total_, rows_, eta.c_str());
      std::fputs(line, stderr);
    } else {
      std::snprintf(line, sizeof line,
                    "backtest: %.0f%% of windows (%zu/%zu), %zu rows fetched, %.0fs elapsed, "
                    "ETA %s\n",
                    percent, done_, total_, rows_, elapsed, eta.c_str());
      std::fputs(line, stderr);
    }
    std::fflush(stderr);
  }

  std::size_t total_ = 0, done_ = 0, rows_ = 0;
  bool tty_ = false;
  steady::time_point started_ = steady::now();
  steady::time_point shown_{};
};

struct rule_job {
  const config::rule_config* rule = nullptr;
  backtest::rule_span span;
  std::size_t next = 0;  // the next window to judge, in span.ends
  std::size_t feed = 0;  // in its group's feeds
  std::unique_ptr<evaluate::replay> replay;
  std::unique_ptr<backtest::rule_tally> tally;
  const backtest::fetch_facts* facts = nullptr;  // its group's
};

struct hole {
  std::int64_t lo = 0, hi = 0;  // the chunk (lo, hi] was not fetched
  std::string error;
};

// A chunk being fetched while the one before is judged.
struct ahead {
  explicit ahead(net::any_io_executor ex) : ready(ex, net::steady_timer::time_point::max()) {}
  std::optional<std::size_t> rows;  // set when it ended
  std::exception_ptr error;
  net::steady_timer ready;  // cancelled when it ended
};

struct group_job {
  backtest::fetch_group plan;
  std::vector<rule_job*> rules;
  std::vector<backtest::row_feed> feeds;  // one per distinct schema of its rules
  std::unique_ptr<fetch::listsessions_query> query;
  std::deque<hole> holes;
  bool down = false;  // the last chunk was given up
  backtest::fetch_facts facts;
};

class runner {
 public:
  runner(const config::daemon_config& cfg, std::string api_key, progress& shown)
      : cfg_(cfg), api_key_(std::move(api_key)), shown_(shown) {}

  net::awaitable<void> fetch(group_job& g, std::shared_ptr<http::client> client) {
    const std::int64_t page_size = cfg_.smartsight.page_size;
    std::int64_t shortest = std::numeric_limits<std::int64_t>::max();
    for (const rule_job* r : g.rules) shortest = std::min(shortest, r->span.window);
    std::int64_t length = std::max<std::int64_t>(60, shortest);
    fetch::page_source src{std::move(client), &cfg_.smartsight, g.query.get(), api_key_, {}};
    std::int64_t hi = std::min(g.plan.start + length, g.plan.end);
    std::size_t rows = co_await chunk(g, src, {g.plan.start, hi}, false);
    net::any_io_executor ex = co_await net::this_coro::executor;
    for (;;) {
      // The next chunk is asked for before this one is judged: SmartSight works on it while
      // this process judges (one thread: judging yields now and then to read its pages).
      const bool last = hi >= g.plan.end;
      std::shared_ptr<ahead> next;
      std::int64_t next_hi = hi;
      if (!last) {
        length = backtest::next_chunk(length, rows, pages_per_chunk * page_size, 60);
        next_hi = std::min(hi + length, g.plan.end);
        next = std::make_shared<ahead>(ex);
        net::co_spawn(ex, chunk(g, src, {hi, next_hi}, true),
                      [next](std::exception_ptr e, std::size_t n) {
                        next->error = e;
                        next->rows = n;
                        next->ready.cancel();
                      });
      }
      for (rule_job* r : g.rules) co_await judge_ready(g, *r, hi);
      forget(g);
      if (last) break;
      if (!next->rows) co_await next->ready.async_wait(net::as_tuple(net::use_awaitable));
      if (next->error) std::rethrow_exception(next->error);
      rows = *next->rows;
      hi = next_hi;
    }
  }

 private:
  // Fetches the chunk `c` into the group's feeds, each failed page again; the rows read.
  net::awaitable<std::size_t> chunk(group_job& g, const fetch::page_source& src, fetch::window c,
                                    bool lo_read) {
    net::steady_timer pause(co_await net::this_coro::executor);
    std::size_t rows = 0;
    std::int64_t offset = 0;
    auto on_page = [&](std::string_view body, std::int64_t) -> fetch::page_verdict {
      fetch::page_verdict v;
      for (backtest::row_feed& f : g.feeds) {
        std::string error = f.add_page(body, c.start, lo_read, v.rows_in_page);
        if (!error.empty()) return {0, "unusable response: " + error};
      }
      rows += v.rows_in_page;
      ++g.facts.pages;
      g.facts.rows_fetched += v.rows_in_page;
      shown_.rows(v.rows_in_page);
      return v;
    };
    // Attempts of the page at `offset`: a page that comes resets them for the next.
    for (int attempt = 1;; ++attempt) {
      fetch::pages_read read = co_await fetch::read_pages(
          src, c, std::numeric_limits<std::size_t>::max(), on_page, offset);
      if (read.ok) {
        for (backtest::row_feed& f : g.feeds) f.close_chunk();
        g.down = false;
        co_return rows;
      }
      if (read.failed_offset != offset) attempt = 1;
      offset = read.failed_offset;
      const std::string error = redact(read.error, {api_key_});
      const std::string what = "backtest: sessions " + utc_rfc3339(double(c.start)) + ".." +
                               utc_rfc3339(double(c.end)) + " (offset " + std::to_string(offset) +
                               ") for " + names(g) + ": " + error;
      if (attempt >= (g.down ? 1 : attempts)) {
        for (backtest::row_feed& f : g.feeds) f.drop_chunk();
        shown_.say(what + "; gave up after " + std::to_string(attempt) +
                   (attempt == 1 ? " attempt" : " attempts") + ": its windows are NOT judged");
        g.holes.push_back({c.start, c.end, error});
        g.down = true;
        co_return 0;
      }
      ++g.facts.retries;
      std::chrono::milliseconds wait = first_pause * (1 << (attempt - 1));
      if (read.retry_after) wait = std::max<std::chrono::milliseconds>(wait, *read.retry_after);
      wait = std::min<std::chrono::milliseconds>(wait, longest_pause);
      shown_.say(what + "; again in " + format_duration(wait));
      pause.expires_after(wait);
      co_await pause.async_wait(net::as_tuple(net::use_awaitable));
    }
  }

  static std::string names(const group_job& g) {
    std::vector<std::string> n;
    for (const rule_job* r : g.rules) n.push_back(r->rule->name);
    return text::join(n, ", ");
  }

  // Judges every window of `r` that ends by `fetched_to`.
  net::awaitable<void> judge_ready(group_job& g, rule_job& r, std::int64_t fetched_to) {
    net::any_io_executor ex = co_await net::this_coro::executor;
    const config::rule_config& rule = *r.rule;
    const backtest::row_feed& feed = g.feeds[r.feed];
    const auto cap = static_cast<std::size_t>(cfg_.smartsight.page_size) *
                     static_cast<std::size_t>(cfg_.smartsight.max_pages);
    for (; r.next < r.span.ends.size() && r.span.ends[r.next] <= fetched_to; ++r.next) {
      const std::int64_t end = r.span.ends[r.next];
      const fetch::window w{end - r.span.window, end};
      const double now = backtest::poll_time(rule, end);
      const hole* missing = nullptr;
      for (const hole& h : g.holes)
        if (h.lo < w.end && h.hi >= w.start) missing = &h;
      if (missing) {
        evaluate::poll_outcome out;
        out.what = evaluate::poll_outcome::kind::failed;
        out.window = w;
        out.error = missing->error;
        r.replay->poll(out, now);
        r.tally->unfetched(now, w, missing->error);
      } else if (const std::size_t rows = feed.count(w); rows >= cap) {
        // The daemon's poll would have failed at its page cap (fetch/poller.hpp).
        evaluate::poll_outcome out;
        out.what = evaluate::poll_outcome::kind::failed;
        out.window = w;
        out.pages = static_cast<std::size_t>(cfg_.smartsight.max_pages);
        out.error = fetch::too_many_pages(out.pages, cfg_.smartsight.page_size);
        r.tally->record(now, out, r.replay->poll(out, now));
      } else {
        evaluate::poll_outcome out = evaluate::prepare_outcome(rule, cfg_.smartsight, w);
        evaluate::expect_rows(out, rows);
        feed.feed(w, out);
        evaluate::conclude(out);
        out.pages = rows / static_cast<std::size_t>(cfg_.smartsight.page_size) + 1;
        r.tally->record(now, out, r.replay->poll(out, now));
      }
      shown_.window_done();
      // Now and then the pages of the chunk ahead are read (and the next one asked for).
      if (r.next % 32 == 31) co_await net::post(ex, net::use_awaitable);
    }
  }

  // Rows no window still to judge can hold are let go.
  static void forget(group_job& g) {
    for (std::size_t f = 0; f < g.feeds.size(); ++f) {
      std::int64_t keep_from = std::numeric_limits<std::int64_t>::max();
      for (const rule_job* r : g.rules)
        if (r->feed == f && r->next < r->span.ends.size())
          keep_from = std::min(keep_from, r->span.ends[r->next] - r->span.window);
      g.feeds[f].forget_before(keep_from);
    }
    while (!g.holes.empty() && g.holes.size() > 64) g.holes.pop_front();
  }

  const config::daemon_config& cfg_;
  std::string api_key_;
  progress& shown_;
};

}  // namespace

int backtest(const config::daemon_config& cfg, const std::string& api_key, const cli::options& opt,
             std::chrono::system_clock::time_point now) {
  const auto now_s = static_cast<std::int64_t>(epoch_seconds(now));
  backtest::time_result from = backtest::parse_time(opt.from, now_s);
  if (!from.value) {
    std::cerr << "qoewatchd: --from: " << from.error << "\n";
    return 2;
  }
  std::optional<std::int64_t> to;
  if (!opt.to.empty()) {
    backtest::time_result t = backtest::parse_time(opt.to, now_s);
    if (!t.value) {
      std::cerr << "qoewatchd: --to: " << t.error << "\n";
      return 2;
    }
    to = t.value;
    if (*to <= *from.value) {
      std::cerr << "qoewatchd: --to " << utc_rfc3339(double(*to)) << " is not after --from "
                << utc_rfc3339(double(*from.value)) << "\n";
      return 2;
    }
  }
  config::parsed<const date::time_zone*> zone = config::find_location(opt.timezone);
  if (!zone.ok) {
    std::cerr << "qoewatchd: --timezone: " << zone.error << "\n";
    return 2;
  }
  for (const std::string& name : opt.rules)
    if (!config::named(cfg.rules, name)) {
      std::vector<std::string> known;
      for (const config::rule_config& r : cfg.rules) known.push_back(r.name);
      std::cerr << "qoewatchd: --rule: no rule named '" << name << "' in " << cfg.file
                << " (rules: " << text::join(known, ", ") << ")\n";
      return 2;
    }

  // The rules and their polls.
  std::vector<std::unique_ptr<rule_job>> jobs;
  std::vector<backtest::rule_span> spans;
  for (std::size_t i = 0; i < cfg.rules.size(); ++i) {
    const config::rule_config& rule = cfg.rules[i];
    if (!opt.rules.empty() &&
        std::find(opt.rules.begin(), opt.rules.end(), rule.name) == opt.rules.end())
      continue;
    auto job = std::make_unique<rule_job>();
    job->rule = &rule;
    job->span = backtest::span_of(rule, i, *from.value, to, now_s);
    job->replay = std::make_unique<evaluate::replay>(cfg, rule);
    job->tally = std::make_unique<backtest::rule_tally>(rule, *zone.ok);
    spans.push_back(job->span);
    jobs.push_back(std::move(job));
  }
  std::vector<group_job> groups;
  for (backtest::fetch_group& plan : backtest::group_fetches(cfg, spans)) {
    group_job& g = groups.emplace_back();
    g.plan = std::move(plan);
    for (std::size_t index : g.plan.rules) {
      auto job = std::find_if(jobs.begin(), jobs.end(),
                              [&](const auto& j) { return j->span.rule == index; });
      rule_job& r = **job;
      g.rules.push_back(&r);
      const fetch::row_schema schema = fetch::schema_for(*r.rule);
      auto same = std::find_if(g.feeds.begin(), g.feeds.end(), [&](const backtest::row_feed& f) {
        return f.schema().metrics == schema.metrics && f.schema().fields == schema.fields;
      });
      r.feed = static_cast<std::size_t>(same - g.feeds.begin());
      if (same == g.feeds.end()) g.feeds.emplace_back(schema);
    }
    g.query = std::make_unique<fetch::listsessions_query>(cfg.smartsight, *g.rules.front()->rule);
  }
  for (group_job& g : groups)
    for (rule_job* r : g.rules) r->facts = &g.facts;
  std::size_t windows = 0;
  for (const auto& j : jobs) windows += j->span.ends.size();
  const std::int64_t until = to ? *to : now_s;
  spdlog::info("backtest of {} rule(s) from {} to {}: {} polls, {} fetch(es)", jobs.size(),
               utc_rfc3339(double(*from.value)), utc_rfc3339(double(until)), windows,
               groups.size());

  net::io_context ioc;
  std::shared_ptr<http::client> client =
      fetch::smartsight_client(ioc.get_executor(), cfg.smartsight);
  progress shown(windows);
  runner run(cfg, api_key, shown);
  for (group_job& g : groups)
    net::co_spawn(ioc, run.fetch(g, client), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
  ioc.run();
  client->close();
  shown.finish();

  bool complete = true;
  for (const auto& j : jobs) {
    // Shares of the group's rows: each rule reports its group's fetch.
    backtest::fetch_facts f;
    if (j->facts) f = *j->facts;
    for (const group_job& g : groups)
      for (const rule_job* other : g.rules)
        if (j->facts == &g.facts && other != j.get()) f.shared_with.push_back(other->rule->name);
    if (!j->tally->gaps().empty()) complete = false;
    if (opt.output == "json")
      std::cout << backtest::json_lines(*j->tally, f);
    else
      std::cout << backtest::text_report(*j->tally, f, opt.timezone) << "\n";
    if (j->span.ends.empty() && opt.output != "json")
      std::cout << "  (no window of " << j->rule->name << " fits the span)\n\n";
  }
  std::cout.flush();
  return complete ? 0 : 1;
}

}  // namespace qoewatch::run
