#include "run/daemon.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>

#include "config/load.hpp"
#include "evaluate/poll.hpp"
#include "export/metrics.hpp"
#include "export/status_server.hpp"
#include "fetch/page.hpp"
#include "fetch/query.hpp"
#include "hash.hpp"
#include "http/client.hpp"
#include "http/retry_after.hpp"
#include "incident/incident.hpp"
#include "notify/delivery.hpp"
#include "notify/payload.hpp"
#include "notify/render.hpp"
#include "redact.hpp"
#include "run/service_manager.hpp"
#include "schedule/schedule.hpp"
#include "service/status.hpp"
#include "state/store.hpp"

namespace qoewatch::run {

namespace {

namespace net = boost::asio;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using system_clock = std::chrono::system_clock;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr auto shutdown_grace = 10s;

// Equal settings, wherever in the files they were written: moving a rule or adding a comment
// above it must not restart its schedule.
template <class T>
bool same_settings(T a, T b) {
  a.where = {};
  b.where = {};
  return a == b;
}

bool has_rule(const config::daemon_config& cfg, const std::string& name) {
  return std::any_of(cfg.rules.begin(), cfg.rules.end(),
                     [&](const config::rule_config& r) { return r.name == name; });
}

// Completion handler for co_spawn: a coroutine that throws is a bug; log it with its name.
auto log_exception(std::string what) {
  return [what = std::move(what)](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::critical("{} stopped by an unexpected error: {}", what, ex.what());
    }
  };
}

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

  explicit in_flight(net::any_io_executor ex) : ready_(ex, steady::time_point::max()) {}

  net::awaitable<http::result> take() {
    // One thread: the result cannot arrive between this check and the wait.
    if (!result_) co_await ready_.async_wait(use_tuple);
    co_return std::move(*result_);
  }

 private:
  std::optional<http::result> result_;
  net::steady_timer ready_;  // cancelled when result_ is set
};

http::client_options smartsight_options(const config::smartsight_config& s) {
  http::client_options o;
  o.connect_timeout = s.timeout;
  o.io_timeout = s.timeout;
  o.deadline = s.timeout;
  o.max_body_bytes = static_cast<std::size_t>(s.max_response_bytes);
  o.max_connections = static_cast<std::size_t>(s.max_concurrency);
  o.ca_file = s.ca_file;
  return o;
}

metrics::status_security web_security(const config::daemon_config& cfg,
                                      const config::secrets& secrets) {
  return {secrets.tls_cert_pem, secrets.tls_key_pem, cfg.web.basic_auth_users};
}

// The address a receiver can use to reach this daemon's /metrics.
std::string external_url(const std::string& listen, std::uint16_t port, bool tls) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host == "0.0.0.0" || host == "[::]" || host == "::") {
    char name[256] = {};
    host = ::gethostname(name, sizeof name - 1) == 0 ? name : "localhost";
  }
  return (tls ? "https://" : "http://") + host + ":" + std::to_string(port);
}

// What one poll produced.
struct poll_outcome {
  bool success = false;
  std::string error;  // when !success
  std::optional<std::chrono::seconds> retry_after;
  fetch::window window;
  std::int64_t catchup_skipped = 0;                 // window seconds max_catchup left out
  bool behind = false;                              // a catch-up slice; more follow at once
  std::unique_ptr<evaluate::poll_accumulator> acc;  // when success
  std::size_t pages = 0;
};

}  // namespace

class daemon {
 public:
  daemon(const options& opt, config::daemon_config cfg, config::secrets secrets)
      : opt_(opt),
        cfg_(std::make_shared<const config::daemon_config>(std::move(cfg))),
        secrets_(std::move(secrets)),
        metrics_(QOEWATCH_VERSION),
        status_(ioc_.get_executor(), {.metrics = [this] { return metrics_.serialize(); },
                                      .not_ready = [this] { return not_ready(); }}),
        signals_(ioc_) {}

  int run() {
    metrics_.record_config_load(true, epoch_seconds(system_clock::now()));
    // The dry run touches no state: it must not mark sessions notified nor move checkpoints.
    if (!opt_.dry_run) {
      try {
        store_ = state::store::open(cfg_->state_dir);
      } catch (const state::store_error& e) {
        spdlog::critical("cannot use the state database: {}", e.what());
        return 1;
      }
    }
    if (!opt_.once) {
      std::string err = status_.secure(web_security(*cfg_, secrets_));
      if (err.empty()) err = status_.start(cfg_->listen);
      if (!err.empty()) {
        spdlog::critical("{}", err);
        return 1;
      }
      spdlog::info("serving /metrics, /healthz and /readyz on {} (port {}, {}{})", cfg_->listen,
                   status_.port(), cfg_->web.tls() ? "HTTPS" : "HTTP",
                   cfg_->web.basic_auth_users.empty() ? "" : ", basic auth");
    }
    external_url_ = external_url(cfg_->listen,
                                 opt_.once ? static_cast<std::uint16_t>(std::stoi(
                                                 cfg_->listen.substr(cfg_->listen.rfind(':') + 1)))
                                           : status_.port(),
                                 cfg_->web.tls());
    smartsight_ = make_smartsight(cfg_->smartsight);
    try {
      apply_sinks();
      if (store_) {
        requeue_outbox();
        resolve_orphans();
      }
      apply_rules(recall(*cfg_, false));
    } catch (const state::store_error& e) {
      spdlog::critical("cannot use the state database: {}", e.what());
      shutdown();
      return 1;
    }
    if (opt_.once) {
      net::co_spawn(ioc_, once(), log_exception("--once"));
    } else {
      signals_.add(SIGTERM);
      signals_.add(SIGINT);
      signals_.add(SIGHUP);
      net::co_spawn(ioc_, handle_signals(), log_exception("signal handling"));
      // Config, rules, the metrics port and every rule's schedule are up.
      service_.ready(status_line());
      if (service_.watchdog())
        net::co_spawn(ioc_, watchdog(*service_.watchdog()), log_exception("watchdog"));
    }
    ioc_.run();
    write_group();
    return exit_code_;
  }

 private:
  struct rule_task {
    config::rule_config rule;
    std::shared_ptr<http::client> smartsight;
    net::steady_timer timer;
    bool cancelled = false;
    bool polled_once = false;
    bool source_up = true;                           // for logging transitions only
    std::optional<std::int64_t> checkpoint;          // end of the last fully processed window
    std::optional<std::int64_t> durable_checkpoint;  // the checkpoint the database holds
    std::optional<state::incident_row> committed_incident;  // as last written by this task
    std::size_t last_offending = 0;  // in the last successfully polled window
    rule_task(net::any_io_executor ex, config::rule_config r, std::shared_ptr<http::client> c)
        : rule(std::move(r)), smartsight(std::move(c)), timer(ex) {}

    // The rule's listsessions request, prepared once for the SmartSight settings in use.
    const fetch::listsessions_query& query(const config::smartsight_config& api) {
      if (!query_ || !(query_api_ == api)) {
        query_.emplace(api, rule);
        query_api_ = api;
      }
      return *query_;
    }

   private:
    std::optional<fetch::listsessions_query> query_;
    config::smartsight_config query_api_;
  };

  std::shared_ptr<http::client> make_smartsight(const config::smartsight_config& s) {
    std::optional<http::origin> o = http::parse_origin(s.base_url);
    return std::make_shared<http::client>(ioc_.get_executor(), o.value_or(http::origin{}),
                                          smartsight_options(s));
  }

  std::string not_ready() const {
    std::string waiting;
    for (const auto& [name, t] : tasks_)
      if (!t->polled_once) waiting += (waiting.empty() ? "" : ", ") + name;
    return waiting.empty() ? std::string{} : "waiting for the first poll of " + waiting;
  }

  // ---- configuration ----

  notify::sink_secrets secrets_of(const std::string& sink) const {
    notify::sink_secrets out;
    if (auto it = secrets_.signing_keys.find(sink); it != secrets_.signing_keys.end())
      out.signing_key = it->second;
    if (auto it = secrets_.routing_keys.find(sink); it != secrets_.routing_keys.end())
      out.routing_key = it->second;
    if (auto it = secrets_.urls.find(sink); it != secrets_.urls.end()) out.url = it->second;
    return out;
  }

  // What the database remembers of a rule that gets a new task: its checkpoint and, when it
  // was not running (start-up, or a reload bringing a removed rule back), the sessions it
  // notified and its firing incident.
  struct memory {
    std::optional<std::int64_t> checkpoint;
    std::optional<std::int64_t> durable_checkpoint;
    std::vector<state::notified_row> notified;
    std::optional<state::incident_row> incident;
  };

  // A rule whose task must be (re)started: new, changed, or polling a changed SmartSight.
  bool needs_task(const config::rule_config& r, bool new_source) const {
    auto it = tasks_.find(r.name);
    return new_source || it == tasks_.end() || !same_settings(r, it->second->rule);
  }

  // Read before a start or reload changes anything: a database that cannot be read fails it
  // as a whole, and nothing is half applied.
  std::map<std::string, memory> recall(const config::daemon_config& next, bool new_source) const {
    std::map<std::string, memory> out;
    if (!store_) return out;
    std::optional<std::vector<state::incident_row>> incidents;
    for (const config::rule_config& r : next.rules) {
      if (!needs_task(r, new_source)) continue;
      memory& m = out[r.name];
      m.checkpoint = m.durable_checkpoint = store_->checkpoint(r.name);
      if (auto d = deferred_checkpoints_.find(r.name); d != deferred_checkpoints_.end())
        m.checkpoint = d->second;
      if (tasks_.count(r.name)) continue;  // running: what it remembers is in memory already
      if (!incidents) incidents = store_->incidents();
      m.notified = store_->notified(r.name);
      for (const state::incident_row& i : *incidents)
        if (i.rule == r.name) m.incident = i;
    }
    return out;
  }

  // Takes back what a rule that was not running remembers: the sessions a window can still
  // hold, and its firing incident.
  void remember(const rule_task& t, const memory& m) {
    const std::string& name = t.rule.name;
    auto now = static_cast<std::int64_t>(epoch_seconds(system_clock::now()));
    std::int64_t before = evaluate::forget_before(t.rule, now, t.checkpoint, cfg_->max_catchup);
    std::size_t kept = 0;
    for (const state::notified_row& n : m.notified)
      if (n.ended_at >= before && notified_.insert(name, n.sessionid, n.ended_at)) ++kept;
    if (m.incident)
      incidents_[name] = {true, m.incident->key, m.incident->started_at, m.incident->polls_below};
    metrics_.set_notified_sessions(notified_.size());
    if (t.checkpoint || kept || m.incident)
      spdlog::info("rule {}: state {}: checkpoint {}, {} notified session(s){}", name,
                   store_->path(), t.checkpoint ? std::to_string(*t.checkpoint) : "none", kept,
                   m.incident ? ", incident " + m.incident->key + " firing" : "");
  }

  // A rule removed from the config can no longer resolve its incident by itself: resolve it
  // now, so no PagerDuty incident or Alertmanager alert is left behind.
  void resolve_removed(const config::rule_config& rule) {
    const incident::state before = incident_of(rule.name);
    if (!before.firing) return;
    spdlog::warn("rule {} was removed from the config while incident {} fired: resolving it",
                 rule.name, before.key);
    incidents_.erase(rule.name);
    const double now = epoch_seconds(system_clock::now());
    evaluate::poll_accumulator nothing(rule);
    state::poll_commit c;
    c.rule = rule.name;
    c.outbox =
        render(rule, fetch::listsessions_query(cfg_->smartsight, rule), nothing,
               evaluate::decision{}, before, {incident::state{}, incident::transition::resolved},
               fetch::window_at(rule, system_clock::now()), now);
    c.clear_incident = true;
    // Until it is written, the incident stays in the database: it resumes if the rule comes
    // back before then.
    commit_and_hand(c, "the resolve of incident " + before.key);
  }

  // Writes what a commit holds (after the rule's queued commits, at once), then hands its
  // outbox rows to the sinks. When the database refuses it, it stays queued (write_group)
  // and nothing is sent; the failure is logged, naming `what`. A dry run has no database:
  // the rows are printed.
  void commit_and_hand(state::poll_commit& c, const std::string& what) {
    if (!store_) return hand_to_sinks(c.outbox);
    const std::string rule = c.rule;
    pending_commits_.push_back(std::move(c));
    if (!write_group()) spdlog::error("rule {}: {} waits for the state database", rule, what);
  }

  // Incidents of rules removed from the config while qoewatch was stopped: resolved at start,
  // to the sinks that were told they fire (those still configured). The rule's settings are
  // gone; the resolve carries its name, incident key and a description saying so.
  void resolve_orphans() {
    for (const state::incident_row& i : store_->incidents()) {
      if (has_rule(*cfg_, i.rule)) continue;
      config::rule_config gone;
      gone.name = i.rule;
      gone.description = "rule removed from the config while qoewatch was stopped";
      for (const std::string& sink : i.sinks)
        if (sinks_.count(sink)) gone.sinks.push_back(sink);
      incidents_[i.rule] = {true, i.key, i.started_at, i.polls_below};
      resolve_removed(gone);
    }
  }

  // Hands the outbox a previous run left to the sinks, in order.
  void requeue_outbox() {
    std::map<std::string, std::size_t> queued;
    for (state::outbox_row& row : store_->outbox()) {
      auto it = sinks_.find(row.sink);
      if (it == sinks_.end()) {
        notify::bury(*store_, metrics_, row, "sink " + row.sink + " is no longer in the config");
        continue;
      }
      const std::string type(config::to_string(it->second.config.type));
      if (!row.sink_type.empty() && row.sink_type != type) {
        notify::bury(*store_, metrics_, row,
                     "sink " + row.sink + " changed type from " + row.sink_type + " to " + type +
                         " while qoewatch was stopped");
        continue;
      }
      ++queued[row.sink];
      it->second.delivery->enqueue(std::move(row));
    }
    for (const auto& [sink, n] : queued)
      spdlog::info("sink {}: {} notification(s) left in the outbox by the last run", sink, n);
  }

  void apply_sinks() {
    std::vector<std::string> names;
    for (const config::sink_config& s : cfg_->sinks) names.push_back(s.name);
    std::erase_if(retired_sinks_, [](const auto& d) { return d->finished(); });
    for (auto it = sinks_.begin(); it != sinks_.end();) {
      auto now = std::find_if(cfg_->sinks.begin(), cfg_->sinks.end(),
                              [&](const config::sink_config& s) { return s.name == it->first; });
      notify::sink_secrets secrets = secrets_of(it->first);
      std::string retire_reason = "sink " + it->first + " was removed from the config";
      if (now != cfg_->sinks.end() && now->type != it->second.config.type) {
        // Its queued bodies are in the old format: kept as dead letters, not sent misshapen.
        retire_reason = "sink " + it->first + " changed type from " +
                        std::string(config::to_string(it->second.config.type)) + " to " +
                        std::string(config::to_string(now->type));
      } else if (now != cfg_->sinks.end()) {
        // A changed sink keeps its queue: what is owed to it is delivered to the new settings.
        if (it->second.delivery &&
            (!same_settings(*now, it->second.config) || !(secrets == it->second.secrets)))
          it->second.delivery->reconfigure(*now, secrets);
        it->second.config = *now;
        it->second.secrets = secrets;
        ++it;
        continue;
      }
      // What it still owes becomes dead letters once the POST in flight, if any, ends.
      if (it->second.delivery) {
        spdlog::warn("{}: its undelivered notifications become dead letters", retire_reason);
        it->second.delivery->retire(retire_reason);
        retired_sinks_.push_back(std::move(it->second.delivery));
      }
      it = sinks_.erase(it);
    }
    metrics_.retain_sinks(names);
    for (const config::sink_config& s : cfg_->sinks) {
      if (sinks_.count(s.name)) continue;
      metrics_.add_sink(s.name);
      sink_entry entry{s, secrets_of(s.name), nullptr};
      if (store_) {
        entry.delivery = std::make_shared<notify::delivery>(
            ioc_.get_executor(), s, entry.secrets, metrics_, *store_, cfg_->smartsight.timeout);
        net::co_spawn(
            ioc_, [d = entry.delivery]() -> net::awaitable<void> { co_await d->run(); },
            log_exception("sink " + s.name));
      }
      sinks_.emplace(s.name, std::move(entry));
    }
  }

  void apply_rules(const std::map<std::string, memory>& remembered) {
    std::vector<std::string> names;
    for (const config::rule_config& r : cfg_->rules) names.push_back(r.name);
    std::set<std::string> running;  // rules whose memory (notified, incident) is current
    for (auto it = tasks_.begin(); it != tasks_.end();) {
      auto now = std::find_if(cfg_->rules.begin(), cfg_->rules.end(),
                              [&](const config::rule_config& r) { return r.name == it->first; });
      if (now != cfg_->rules.end()) running.insert(it->first);
      if (now != cfg_->rules.end() && same_settings(*now, it->second->rule) &&
          it->second->smartsight == smartsight_) {
        ++it;
        continue;
      }
      cancel(*it->second);
      it = tasks_.erase(it);
    }
    notified_.retain_rules(names);
    expired_in_store_.clear();
    metrics_.retain_rules(names);
    std::erase_if(incidents_, [&](const auto& entry) {
      return std::find(names.begin(), names.end(), entry.first) == names.end();
    });
    for (const config::rule_config& r : cfg_->rules) {
      if (tasks_.count(r.name)) continue;
      auto task = std::make_shared<rule_task>(ioc_.get_executor(), r, smartsight_);
      if (auto m = remembered.find(r.name); m != remembered.end()) {
        task->checkpoint = m->second.checkpoint;
        task->durable_checkpoint = m->second.durable_checkpoint;
        if (!running.count(r.name)) remember(*task, m->second);
      }
      tasks_.emplace(r.name, task);
      std::erase_if(all_tasks_, [](const std::weak_ptr<rule_task>& w) { return w.expired(); });
      all_tasks_.push_back(task);
      metrics_.add_rule(r.name);
      metrics_.set_firing(r.name, incidents_.count(r.name) > 0);
      if (!opt_.once) net::co_spawn(ioc_, rule_loop(task), log_exception("rule " + r.name));
    }
  }

  void cancel(rule_task& t) {
    t.cancelled = true;
    t.timer.cancel();
  }

  bool reload() {
    spdlog::info("reloading {}", opt_.config_path);
    write_group();  // what is remembered below is read from the database
    config::secrets secrets;
    config::load_result loaded = config::load_with_secrets(opt_.config_path, secrets);
    if (!loaded.errors.empty()) {
      for (const config::diagnostic& d : loaded.errors) spdlog::error("{}", d.to_string());
      spdlog::error("reload failed with {} error(s); still running the previous configuration",
                    loaded.errors.size());
      metrics_.record_config_load(false, epoch_seconds(system_clock::now()));
      return false;
    }
    auto next = std::make_shared<const config::daemon_config>(std::move(*loaded.config));
    const bool new_source =
        !(next->smartsight == cfg_->smartsight) || secrets.api_key != secrets_.api_key;
    std::map<std::string, memory> remembered;
    try {
      remembered = recall(*next, new_source);
    } catch (const state::store_error& e) {
      spdlog::error("reload failed: {}; still running the previous configuration", e.what());
      metrics_.record_config_load(false, epoch_seconds(system_clock::now()));
      return false;
    }
    if (!opt_.once) {
      // A renewed certificate or changed users apply to new connections at once.
      if (std::string err = status_.secure(web_security(*next, secrets)); !err.empty()) {
        spdlog::error("reload failed: {}; still running the previous configuration", err);
        metrics_.record_config_load(false, epoch_seconds(system_clock::now()));
        return false;
      }
    }
    if (next->listen != cfg_->listen)
      spdlog::warn("listen changed to {}; it takes effect at the next restart", next->listen);
    if (next->state_dir != cfg_->state_dir)
      spdlog::warn("state_dir changed to {}; it takes effect at the next restart", next->state_dir);
    // Resolves of removed rules go out before their sinks may be retired with them.
    for (const auto& [name, task] : tasks_)
      if (!has_rule(*next, name)) resolve_removed(task->rule);
    if (new_source) {
      smartsight_->close();
      smartsight_ = make_smartsight(next->smartsight);
    }
    cfg_ = std::move(next);
    secrets_ = std::move(secrets);
    apply_sinks();
    apply_rules(remembered);
    metrics_.record_config_load(true, epoch_seconds(system_clock::now()));
    spdlog::info("reloaded: {} rule(s), {} sink(s)", cfg_->rules.size(), cfg_->sinks.size());
    return true;
  }

  // ---- polling ----

  net::awaitable<poll_outcome> poll(rule_task& t) {
    const config::rule_config& rule = t.rule;
    // A reload may swap cfg_ while this poll waits on the network: hold the one it started with.
    std::shared_ptr<const config::daemon_config> cfg = cfg_;
    const config::smartsight_config& api = cfg->smartsight;
    const fetch::listsessions_query& query = t.query(api);
    poll_outcome out;
    fetch::catchup c =
        fetch::window_after(rule, system_clock::now(), t.checkpoint, cfg->max_catchup);
    out.window = c.w;
    out.catchup_skipped = c.skipped_seconds;
    out.behind = c.behind;
    out.acc = std::make_unique<evaluate::poll_accumulator>(rule);
    auto page_request = [&](std::int64_t offset) {
      http::request req;
      req.target = query.target(out.window, offset);
      req.headers = {{"X-API-Key", secrets_.api_key}, {"Accept", "application/json"}};
      return req;
    };
    const auto max_pages = static_cast<std::size_t>(api.max_pages);
    // Once a page came back full, each next page is requested before the one in hand is
    // judged, so SmartSight sends it meanwhile. A window that ends on the page in hand wastes
    // that one request: the API has no counter trustworthy enough to stop on.
    bool window_spans_pages = false;
    std::shared_ptr<in_flight> next;
    for (std::int64_t offset = 0;; offset += api.page_size) {
      if (t.cancelled || stopping_) {
        out.error = "cancelled by a reload or shutdown";
        co_return out;
      }
      if (out.pages >= max_pages) {
        out.error = "window holds more than " + std::to_string(api.max_pages) + " pages of " +
                    std::to_string(api.page_size) +
                    " sessions (raise smartsight.max_pages or narrow the rule)";
        co_return out;
      }
      // (Not a conditional expression: GCC 12 miscompiles co_await inside one.)
      std::optional<http::result> awaited;
      if (next)
        awaited = co_await next->take();
      else
        awaited = co_await t.smartsight->send(page_request(offset));
      next.reset();
      http::result& r = *awaited;
      ++out.pages;
      spdlog::debug("rule {}: page at offset {}: {}", rule.name, offset, http::describe(r));
      if (auto* f = std::get_if<http::failure>(&r)) {
        out.error = f->message;
        co_return out;
      }
      const http::response& res = std::get<http::response>(r);
      if (res.status < 200 || res.status >= 300) {
        // Redacted before it is cut short: a cut must not leave half a key behind.
        out.error = "SmartSight answered HTTP " + std::to_string(res.status) + ": " +
                    redact(res.body, {secrets_.api_key}).substr(0, 300);
        out.retry_after = http::retry_after(res);
        co_return out;
      }
      if (window_spans_pages && out.pages < max_pages) {
        next = in_flight::start(ioc_.get_executor(), t.smartsight,
                                page_request(offset + api.page_size));
        co_await net::post(ioc_, net::use_awaitable);  // it sends its request now
      }
      fetch::scan_result page = out.acc->add_body(res.body);
      if (!page) {
        out.error = "unusable response for offset " + std::to_string(offset) + ": " + page.error;
        co_return out;
      }
      if (page.value->rows_in_page < static_cast<std::size_t>(api.page_size)) break;
      window_spans_pages = true;
    }
    out.success = true;
    co_return out;
  }

  // Turns a finished poll into metrics, logs and notifications. Returns false on failure.
  bool apply(rule_task& t, const poll_outcome& out, double seconds) {
    const config::rule_config& rule = t.rule;
    metrics::poll_report report;
    report.success = out.success;
    report.duration_seconds = seconds;
    report.finished_at = epoch_seconds(system_clock::now());
    t.polled_once = true;
    if (!out.success) {
      metrics_.record_poll(rule.name, report);
      // SmartSight or a gateway in front of it may echo the request, key and all.
      const std::string error = redact(out.error, {secrets_.api_key});
      if (t.source_up)
        spdlog::error("rule {}: poll failed, source marked down: {}", rule.name, error);
      else
        spdlog::warn("rule {}: poll failed again: {}", rule.name, error);
      t.source_up = false;
      keep_alertmanager_firing(t, report.finished_at);
      return false;
    }
    const evaluate::poll_accumulator& acc = *out.acc;
    const double now = report.finished_at;
    evaluate::decision d = evaluate::decide(rule, acc, notified_);
    const incident::state before = incident_of(rule.name);
    const incident::step_result inc = incident::step(rule, before, d.offending, now);
    // Below min_sessions nothing is notified: those sessions are news once the rule fires.
    if (!inc.next.firing) d.new_sessions.clear();
    std::vector<state::outbox_row> rows =
        render(rule, t.query(cfg_->smartsight), acc, d, before, inc, out.window, now);

    // Everything the poll decided becomes durable together, before any delivery starts.
    if (store_) {
      state::poll_commit c;
      c.rule = rule.name;
      c.checkpoint = out.window.end;
      for (const fetch::session_row* row : d.new_sessions)
        c.notified.push_back({rule.name, row->sessionid, evaluate::ended_at(row->endtime)});
      c.outbox = std::move(rows);
      rows.clear();
      if (inc.next.firing)
        c.incident = state::incident_row{rule.name, inc.next.key, inc.next.started_at,
                                         inc.next.polls_below, rule.sinks};
      else
        c.clear_incident = before.firing;
      if (c.notified.empty() && c.outbox.empty() && !c.clear_incident &&
          c.incident == t.committed_incident) {
        // Only the checkpoint moved: it is written with the next commit, at most a second
        // later (write_group). With a thousand rules that saves ~100 disk syncs a
        // second; a crash in between re-polls a few seconds that notify nothing new.
        deferred_checkpoints_[rule.name] = *c.checkpoint;
      } else {
        // Its notifications go to the sinks once this is durable (write_group).
        t.committed_incident = c.incident;
        queue_commit(std::move(c));
      }
    }
    if (!t.source_up) spdlog::info("rule {}: source is back", rule.name);
    t.source_up = true;
    t.checkpoint = out.window.end;
    t.last_offending = d.offending;
    evaluate::record(rule, d, notified_);
    if (inc.next.firing)
      incidents_[rule.name] = inc.next;
    else
      incidents_.erase(rule.name);

    report.rows_fetched = acc.rows_fetched();
    report.offending = d.offending;
    report.new_sessions = d.new_sessions.size();
    report.skipped = acc.skipped();
    report.startup_seconds = d.startup_seconds;
    report.rebuffering_ratio = d.rebuffering_ratio;
    metrics_.record_poll(rule.name, report);
    metrics_.set_firing(rule.name, inc.next.firing);
    forget_expired(t, static_cast<std::int64_t>(now));
    metrics_.set_notified_sessions(notified_.size());
    if (out.catchup_skipped > 0) {
      metrics_.record_catchup_skipped(rule.name, out.catchup_skipped);
      spdlog::warn(
          "rule {}: polling resumed after downtime longer than max_catchup ({}): sessions that "
          "ended in the {}s before {} were never checked",
          rule.name, format_duration(cfg_->max_catchup), out.catchup_skipped,
          notify::rfc3339(static_cast<double>(out.window.start)));
    }
    std::size_t skipped = 0;
    for (std::size_t n : acc.skipped()) skipped += n;
    spdlog::info("rule {}: {}window {}..{}: {} rows in {} page(s), {} offending, {} new{}",
                 rule.name, out.behind ? "catching up, " : "", out.window.start, out.window.end,
                 acc.rows_fetched(), out.pages, d.offending, d.new_sessions.size(),
                 skipped ? fmt::format(", {} row(s) skipped", skipped) : std::string{});
    if (inc.change == incident::transition::fired)
      spdlog::warn("rule {}: incident {} firing: {} offending session(s) in the window (min {})",
                   rule.name, inc.next.key, d.offending, rule.min_sessions);
    else if (inc.change == incident::transition::resolved)
      spdlog::info("rule {}: incident {} resolved after {} quiet poll(s)", rule.name, before.key,
                   rule.resolve_after);
    hand_to_sinks(rows);  // a dry run's: they were not queued for the database
    if (steady::now() >= next_flush_) write_group();  // deferred checkpoints: once a second
    return true;
  }

  // The deferred checkpoints, as commits.
  std::vector<state::poll_commit> deferred_batch() const {
    std::vector<state::poll_commit> batch;
    for (const auto& [rule, end] : deferred_checkpoints_) {
      batch.emplace_back();
      batch.back().rule = rule;
      batch.back().checkpoint = end;
    }
    return batch;
  }

  // After `batch` is durable: what the database holds now, and nothing left deferred.
  void written(const std::vector<state::poll_commit>& batch) {
    for (const state::poll_commit& c : batch) {
      if (!c.checkpoint) continue;
      if (auto it = tasks_.find(c.rule); it != tasks_.end())
        it->second->durable_checkpoint = c.checkpoint;
      deferred_checkpoints_.erase(c.rule);
    }
  }

  // Group commit. A poll that notifies must be durable before its notifications are sent,
  // and each transaction costs a disk sync: a thousand rules starting fresh notify a thousand
  // times in their first interval. So commits are queued, and the queue is written in one
  // transaction at most every group_window: at once when the database has been idle that
  // long (a lone poll waits for nothing), otherwise when the window ends.
  void queue_commit(state::poll_commit c) {
    // It carries the rule's newest checkpoint: an older deferred one must not follow it.
    if (c.checkpoint) deferred_checkpoints_.erase(c.rule);
    pending_commits_.push_back(std::move(c));
    const steady::time_point earliest = last_group_write_ + group_window;
    if (steady::now() >= earliest)
      write_group();
    else
      schedule_group_write(earliest);
  }

  void schedule_group_write(steady::time_point at) {
    if (group_scheduled_) return;
    group_scheduled_ = true;
    group_timer_.expires_at(at);
    group_timer_.async_wait([this](const boost::system::error_code& ec) {
      group_scheduled_ = false;
      if (!ec) write_group();
    });
  }

  // Writes the queued commits and the deferred checkpoints in one transaction, in order (the
  // checkpoints deferred since are newer), then hands the commits' notifications to the
  // sinks. On failure everything stays queued and is tried again a second later: nothing is
  // sent before it is durable, and a restart meanwhile polls those windows again.
  bool write_group() {
    if (!store_ || (pending_commits_.empty() && deferred_checkpoints_.empty())) return true;
    const steady::time_point now = steady::now();
    last_group_write_ = now;
    next_flush_ = now + 1s;
    std::vector<state::poll_commit> batch = std::move(pending_commits_);
    pending_commits_.clear();
    const std::size_t polls = batch.size();
    for (state::poll_commit& c : deferred_batch()) batch.push_back(std::move(c));
    try {
      store_->commit(batch);
    } catch (const std::exception& e) {
      batch.resize(polls);
      pending_commits_ = std::move(batch);
      spdlog::critical(
          "could not record {} poll(s) and the checkpoints of {} rule(s) in the state "
          "database: {}; retrying every second, their notifications wait",
          polls, deferred_checkpoints_.size(), e.what());
      schedule_group_write(now + 1s);
      return false;
    }
    written(batch);
    for (std::size_t i = 0; i < polls; ++i) hand_to_sinks(batch[i].outbox);
    return true;
  }

  // A failed poll neither fires nor resolves, but Alertmanager resolves alerts that are not
  // re-sent within their endsAt: keep the firing incident's alert alive through the outage.
  void keep_alertmanager_firing(rule_task& t, double now) {
    const incident::state current = incident_of(t.rule.name);
    if (!current.firing || !store_) return;
    evaluate::poll_accumulator nothing(t.rule);
    evaluate::decision d;
    d.offending = t.last_offending;
    state::poll_commit c;
    c.rule = t.rule.name;
    c.outbox = render(t.rule, t.query(cfg_->smartsight), nothing, d, current,
                      {current, incident::transition::none},
                      fetch::window_at(t.rule, system_clock::now()), now);
    if (!c.outbox.empty()) commit_and_hand(c, "the Alertmanager refresh");
  }

  // Committed outbox rows go to their sinks' queues; a dry run prints them instead.
  void hand_to_sinks(std::vector<state::outbox_row>& rows) {
    for (state::outbox_row& row : rows) {
      if (opt_.dry_run) {
        std::fwrite(row.body.data(), 1, row.body.size(), stdout);
        std::fputc('\n', stdout);
        std::fflush(stdout);
      } else if (auto it = sinks_.find(row.sink); it != sinks_.end() && it->second.delivery) {
        it->second.delivery->enqueue(std::move(row));
      }
    }
  }

  incident::state incident_of(const std::string& rule) const {
    auto it = incidents_.find(rule);
    return it == incidents_.end() ? incident::state{} : it->second;
  }

  // The outbox rows a poll produces: per sink of the rule, the bodies in the sink's format.
  std::vector<state::outbox_row> render(const config::rule_config& rule,
                                        const fetch::listsessions_query& query,
                                        const evaluate::poll_accumulator& acc,
                                        const evaluate::decision& d, const incident::state& before,
                                        const incident::step_result& inc, const fetch::window& w,
                                        double now) {
    std::vector<state::outbox_row> rows;
    const bool resolved = inc.change == incident::transition::resolved;
    if (!inc.next.firing && !resolved) return rows;
    notify::event e;
    e.rule = &rule;
    e.schema = &acc.schema();
    e.now = now;
    e.incident.key = resolved ? before.key : inc.next.key;
    e.incident.resolved = resolved;
    e.incident.started_at = resolved ? before.started_at : inc.next.started_at;
    e.incident.ended_at = now;
    e.incident.offending = d.offending;
    e.ctx.external_url = external_url_;
    e.ctx.customer_id = cfg_->smartsight.customer_id;
    e.ctx.window = w;
    e.ctx.query = query.url(w, 0);
    std::vector<const fetch::session_row*> window_sessions;
    for (const fetch::session_row& row : acc.offending()) window_sessions.push_back(&row);
    for (const std::string& name : rule.sinks) {
      auto it = sinks_.find(name);
      if (it == sinks_.end()) continue;
      const config::sink_config& sink = it->second.config;
      e.ctx.receiver = name;
      // Alertmanager forgets alerts that are not re-sent: it gets the whole window each poll.
      if (resolved)
        e.sessions = {};
      else if (sink.type == config::sink_type::alertmanager)
        e.sessions = window_sessions;
      else
        e.sessions = d.new_sessions;
      for (notify::rendered& r : notify::render(sink, e))
        rows.push_back({new_id(),
                        name,
                        rule.name,
                        std::move(r.body),
                        now,
                        0,
                        {},
                        std::string(config::to_string(sink.type))});
    }
    return rows;
  }

  // A webhook-id: unique across rules, sinks and restarts.
  std::string new_id() { return "msg_" + hex16(ids_()) + hex16(ids_()); }

  // Forgets the rule's notified pairs no future window can hold. In the database, for all
  // rules in one transaction at most once a minute (one each was ~17 disk syncs a second with
  // a thousand rules), where pairs of rules no longer configured go too once no catch-up can
  // reach them.
  void forget_expired(rule_task& t, std::int64_t now) {
    std::int64_t before = evaluate::forget_before(t.rule, now, t.checkpoint, cfg_->max_catchup);
    notified_.expire(t.rule.name, before);
    if (!store_) return;
    // From the checkpoint the database holds: after a crash, polling resumes from there.
    expired_in_store_[t.rule.name] =
        evaluate::forget_before(t.rule, now, t.durable_checkpoint, cfg_->max_catchup);
    if (now < next_expiry_) return;
    next_expiry_ = now + 60;
    try {
      store_->forget_notified(expired_in_store_,
                              evaluate::forget_before_any(now, cfg_->max_catchup, cfg_->rules));
      expired_in_store_.clear();
    } catch (const state::store_error& e) {
      spdlog::error("could not forget expired sessions in the state database: {}", e.what());
    }
  }

  net::awaitable<void> rule_loop(std::shared_ptr<rule_task> t) {
    t->timer.expires_after(schedule::start_jitter(t->rule.name, t->rule.interval));
    co_await t->timer.async_wait(use_tuple);
    steady::time_point due = steady::now();
    while (!t->cancelled && !stopping_) {
      // A rule is never polled twice at once, not even by tasks that reloads replaced.
      while (polling_[t->rule.name] > 0 && !t->cancelled && !stopping_) {
        t->timer.expires_after(100ms);
        co_await t->timer.async_wait(use_tuple);
      }
      if (t->cancelled || stopping_) break;
      steady::time_point started = steady::now();
      ++polling_[t->rule.name];
      poll_outcome out = co_await poll(*t);
      --polling_[t->rule.name];
      double seconds = std::chrono::duration<double>(steady::now() - started).count();
      if (t->cancelled || stopping_) break;
      last_poll_ = system_clock::now();
      // Catching up after downtime: the next slice follows at once, on the same schedule.
      const bool applied = apply(*t, out, seconds);
      update_status();
      if (applied && out.behind) {
        due = steady::now();
        continue;
      }
      schedule::next_poll next = schedule::after(due, steady::now(), t->rule.interval);
      if (next.skipped) {
        metrics_.record_skipped_polls(t->rule.name, next.skipped);
        spdlog::warn("rule {}: poll took {:.1f}s, longer than its interval; {} poll(s) skipped",
                     t->rule.name, seconds, next.skipped);
      }
      due = next.due;
      if (out.retry_after && steady::now() + *out.retry_after > due) {
        spdlog::warn("rule {}: SmartSight asked to retry after {}s", t->rule.name,
                     out.retry_after->count());
        due = steady::now() + *out.retry_after;
      }
      t->timer.expires_at(due);
      co_await t->timer.async_wait(use_tuple);
    }
  }

  // ---- process ----

  // At most once a second, and only under systemd: with a thousand rules, polls finish a
  // hundred times a second.
  void update_status() {
    if (!service_.enabled()) return;
    steady::time_point now = steady::now();
    if (now < next_status_) return;
    next_status_ = now + 1s;
    service_.status(status_line());
  }

  // What `systemctl status` shows.
  std::string status_line() const {
    std::vector<service::rule_state> rules;
    for (const auto& [name, t] : tasks_)
      rules.push_back({name, t->polled_once, t->source_up, incidents_.count(name) > 0});
    return service::status_line(rules, pending(), last_poll_);
  }

  // Pings from the event loop itself: a loop that hangs stops them, and systemd restarts it.
  net::awaitable<void> watchdog(std::chrono::microseconds interval) {
    while (!stopping_) {
      service_.ping_watchdog();
      watchdog_timer_.expires_after(interval / 2);
      co_await watchdog_timer_.async_wait(use_tuple);
    }
  }

  net::awaitable<void> once() {
    std::size_t failed = 0;
    std::size_t remaining = tasks_.size();
    net::steady_timer done(ioc_, steady::time_point::max());
    for (auto& [name, task] : tasks_) {
      net::co_spawn(
          ioc_,
          [this, task, &failed, &remaining, &done]() -> net::awaitable<void> {
            // Counted on every way out, so --once can neither hang nor pass on a failure.
            struct count_down {
              std::size_t& failed;
              std::size_t& remaining;
              net::steady_timer& done;
              bool ok = false;
              ~count_down() {
                if (!ok) ++failed;
                if (--remaining == 0) done.cancel();
              }
            } guard{failed, remaining, done};
            // Catching up after downtime takes one poll per slice.
            for (bool behind = true; behind;) {
              steady::time_point started = steady::now();
              poll_outcome out = co_await poll(*task);
              double seconds = std::chrono::duration<double>(steady::now() - started).count();
              guard.ok = apply(*task, out, seconds);
              behind = guard.ok && out.behind && !task->cancelled && !stopping_;
            }
          },
          log_exception("rule " + name));
    }
    if (remaining > 0) co_await done.async_wait(use_tuple);
    write_group();  // the last group of commits: their notifications go out now
    // Deliver what the polls found, within the shutdown grace period.
    steady::time_point deadline = steady::now() + shutdown_grace;
    net::steady_timer wait(ioc_);
    while (!opt_.dry_run && pending() > 0 && steady::now() < deadline) {
      wait.expires_after(50ms);
      co_await wait.async_wait(use_tuple);
    }
    bool delivered = pending() == 0;
    for (const auto& [name, s] : sinks_)
      delivered = delivered && (!s.delivery || s.delivery->dead() == 0);
    exit_code_ = failed == 0 && delivered ? 0 : 1;
    shutdown();
  }

  std::size_t pending() const {
    std::size_t n = 0;
    for (const auto& [name, s] : sinks_)
      if (s.delivery) n += s.delivery->pending();
    return n;
  }

  net::awaitable<void> handle_signals() {
    for (;;) {
      auto [ec, sig] = co_await signals_.async_wait(use_tuple);
      if (ec) co_return;
      if (sig == SIGHUP) {
        service_.reloading();
        try {
          reload();
          service_.ready(status_line());
        } catch (const std::exception& e) {
          // A bug, not bad input (that is reported by reload itself): keep serving.
          spdlog::critical(
              "reload failed unexpectedly: {}; still running the previous "
              "configuration",
              e.what());
          metrics_.record_config_load(false, epoch_seconds(system_clock::now()));
          service_.ready(status_line());
        }
        continue;
      }
      spdlog::info("{} received: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      co_await stop_gracefully();
      co_return;
    }
  }

  // Stops polling at once; gives notifications already being delivered the grace period.
  net::awaitable<void> stop_gracefully() {
    service_.stopping();
    write_group();  // queued notifications get the grace period too
    stopping_ = true;
    for (auto& [name, t] : tasks_) cancel(*t);
    smartsight_->close();
    status_.stop();
    for (auto& [name, s] : sinks_)
      if (s.delivery) s.delivery->stop();
    net::steady_timer wait(ioc_);
    steady::time_point deadline = steady::now() + shutdown_grace;
    while (any_delivery_in_flight() && steady::now() < deadline) {
      wait.expires_after(50ms);
      co_await wait.async_wait(use_tuple);
    }
    shutdown();
  }

  bool any_delivery_in_flight() const {
    for (const auto& [name, s] : sinks_)
      if (s.delivery && s.delivery->in_flight()) return true;
    for (const auto& s : retired_sinks_)
      if (s->in_flight()) return true;
    return false;
  }

  // Ends every remaining operation so that ioc_.run() returns.
  void shutdown() {
    stopping_ = true;
    for (auto& [name, t] : tasks_) cancel(*t);
    smartsight_->abort();
    for (const std::weak_ptr<rule_task>& weak : all_tasks_) {
      if (auto t = weak.lock()) {
        cancel(*t);
        t->smartsight->abort();
      }
    }
    for (auto& [name, s] : sinks_) {
      if (!s.delivery) continue;
      s.delivery->stop();
      s.delivery->abort();
    }
    for (auto& s : retired_sinks_) {
      s->stop();
      s->abort();
    }
    status_.stop();
    signals_.cancel();
    watchdog_timer_.cancel();
    group_timer_.cancel();  // run() writes what is still queued once the loop has returned
  }

  struct sink_entry {
    config::sink_config config;
    notify::sink_secrets secrets;
    std::shared_ptr<notify::delivery> delivery;  // none in a dry run
  };

  options opt_;
  net::io_context ioc_{1};
  std::shared_ptr<const config::daemon_config> cfg_;
  config::secrets secrets_;
  metrics::registry metrics_;
  metrics::status_server status_;
  net::signal_set signals_;
  std::shared_ptr<http::client> smartsight_;
  std::map<std::string, sink_entry> sinks_;
  std::vector<std::shared_ptr<notify::delivery>> retired_sinks_;
  std::map<std::string, std::shared_ptr<rule_task>> tasks_;
  std::vector<std::weak_ptr<rule_task>> all_tasks_;  // replaced ones too, until they end
  std::map<std::string, int> polling_;               // polls in flight per rule name
  std::unique_ptr<state::store> store_;              // none in a dry run
  evaluate::notified_sessions notified_;
  std::map<std::string, incident::state> incidents_;  // firing ones, by rule
  std::mt19937_64 ids_{std::random_device{}()};
  std::int64_t next_expiry_ = 0;  // when to forget expired pairs in the store next
  // Per rule, pairs that ended before this can go from the store; computed with the rule's
  // settings at its last poll, so a reload drops them all.
  std::map<std::string, std::int64_t> expired_in_store_;
  std::map<std::string, std::int64_t> deferred_checkpoints_;  // by rule, not yet written
  steady::time_point next_flush_{};
  // Group commit (queue_commit): polls waiting for their transaction, in order.
  static constexpr auto group_window = 50ms;
  std::vector<state::poll_commit> pending_commits_;
  steady::time_point last_group_write_{};
  net::steady_timer group_timer_{ioc_};
  bool group_scheduled_ = false;
  std::string external_url_;
  service_manager service_;
  net::steady_timer watchdog_timer_{ioc_};
  std::optional<system_clock::time_point> last_poll_;  // when the latest poll finished
  steady::time_point next_status_{};                   // STATUS= updates are throttled
  bool stopping_ = false;
  int exit_code_ = 0;
};

int run_daemon(const options& opt, config::daemon_config cfg, config::secrets secrets) {
  daemon d(opt, std::move(cfg), std::move(secrets));
  return d.run();
}

int list_dead_letters(const config::daemon_config& cfg) {
  std::unique_ptr<state::store> store;
  try {
    store = state::store::open_read_only(cfg.state_dir);
    std::vector<state::dead_letter> letters = store->dead_letters();
    for (const state::dead_letter& l : letters) {
      std::printf(
          "%s sink=%s rule=%s written=%s given_up=%s attempts=%d\n  reason: %s\n  body: %s\n",
          l.id.c_str(), l.sink.c_str(), l.rule.c_str(), notify::rfc3339(l.created_at).c_str(),
          notify::rfc3339(l.dead_at).c_str(), l.attempts, l.reason.c_str(), l.body.c_str());
    }
    std::printf("%zu dead letter(s) in %s\n", letters.size(), store->path().c_str());
    return 0;
  } catch (const state::store_error& e) {
    std::fprintf(stderr, "qoewatchd: %s\n", e.what());
    return 1;
  }
}

}  // namespace qoewatch::run
