#include "run/daemon.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <random>
#include <cstring>

#include "config/reload_plan.hpp"
#include "duration.hpp"
#include "export/metrics.hpp"
#include "export/web_server.hpp"
#include "fetch/poller.hpp"
#include "http/client.hpp"
#include "notify/sinks.hpp"
#include "redact.hpp"
#include "run/lease_keeper.hpp"
#include "run/rule_runner.hpp"
#include "run/service_manager.hpp"
#include "run/silence_keeper.hpp"
#include "run/task_group.hpp"
#include "service/status.hpp"
#include "state/commit_queue.hpp"
#include "state/database.hpp"
#include "state/pg_store.hpp"
#include "state/sqlite_store.hpp"

namespace qoewatch::run {

namespace {

namespace net = boost::asio;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using system_clock = std::chrono::system_clock;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr auto shutdown_grace = 10s;

metrics::web_security security_of(const config::daemon_config& cfg,
                                   const config::secrets& secrets) {
  return {secrets.tls_cert_pem, secrets.tls_key_pem, cfg.web.basic_auth_users,
          cfg.web.allow_unauthenticated_writes};
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

// This process among the replicas: "<host>/<pid>/<8 hex>". The random part keeps a restarted
// process (same host, perhaps the same pid) from passing for the one that held the leases.
std::string replica_name() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "localhost");
  std::random_device rd;
  return fmt::format("{}/{}/{:08x}", host, ::getpid(), rd());
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

}  // namespace

// The wiring and the lifecycle: start, signals, reload, --once, graceful stop. What a poll
// means is decided by the rule step; the rules, sinks and commit queue apply it.
class daemon {
 public:
  daemon(const options& opt, config::daemon_config cfg, config::secrets secrets)
      : opt_(opt),
        cfg_(std::make_shared<const config::daemon_config>(std::move(cfg))),
        secrets_(std::move(secrets)),
        metrics_(QOEWATCH_VERSION),
        web_(ioc_.get_executor(),
             {.metrics =
                  [this] {
                    if (db_) metrics_.set_state_up(db_->up());
                    return metrics_.serialize();
                  },
              .not_ready = [this] { return rules_->not_ready(); },
              .api = [this](metrics::web_request req) { return silences_->handle(std::move(req)); },
              .status_page = [this] { return status_page(); }}),
        signals_(ioc_) {}

  int run() {
    note_config_load(true);
    // The dry run touches no state: it must not mark sessions notified nor move checkpoints.
    if (!opt_.dry_run) {
      if (cfg_->state.backend == config::state_backend::postgresql) {
        // Across the network: opened (and reopened) by the database thread, which retries
        // until the server answers; meanwhile /metrics says so and nothing polls.
        const std::string owner = replica_name();
        const auto io_timeout = std::max<std::chrono::milliseconds>(1s, cfg_->state.lease_ttl);
        db_ = std::make_unique<state::database>(
            ioc_.get_executor(),
            [url = secrets_.state_url, owner, io_timeout] {
              return state::pg_store::open(url, owner, io_timeout);
            },
            redact_url(secrets_.state_url),
            [this](const std::string& why) {
              // Not ours, or newer: as for such a SQLite file, the daemon does not start.
              spdlog::critical("cannot use the state database: {}", why);
              exit_code_ = 1;
              shutdown();
            });
        spdlog::info("replica {}: state in PostgreSQL {}", owner, db_->describe());
      } else {
        try {
          db_ = std::make_unique<state::database>(ioc_.get_executor(),
                                                  state::sqlite_store::open(cfg_->state_dir));
        } catch (const state::store_error& e) {
          spdlog::critical("cannot use the state database: {}", e.what());
          return 1;
        }
      }
    }
    wire();
    if (!opt_.once) {
      std::string err = web_.secure(security_of(*cfg_, secrets_));
      if (err.empty()) err = web_.start(cfg_->listen);
      if (!err.empty()) {
        spdlog::critical("{}", err);
        return 1;
      }
      spdlog::info("serving /metrics, /healthz and /readyz on {} (port {}, {}{})", cfg_->listen,
                   web_.port(), cfg_->web.tls() ? "HTTPS" : "HTTP",
                   cfg_->web.basic_auth_users.empty() ? "" : ", basic auth");
    }
    external_url_ = external_url(cfg_->listen,
                                 opt_.once ? static_cast<std::uint16_t>(std::stoi(
                                                 cfg_->listen.substr(cfg_->listen.rfind(':') + 1)))
                                           : web_.port(),
                                 cfg_->web.tls());
    smartsight_ = make_smartsight(cfg_->smartsight);
    if (!opt_.once) {
      // Both from the start: reading the state may wait for a database across the network.
      signals_.add(SIGTERM);
      signals_.add(SIGINT);
      signals_.add(SIGHUP);
      net::co_spawn(ioc_, handle_signals(), log_exception("signal handling"));
    }
    net::co_spawn(ioc_, start(), log_exception("start-up"));
    ioc_.run();
    if (commits_) commits_->write_blocking(shutdown_grace);
    return exit_code_;
  }

 private:
  // Reads what the state remembers and starts the sinks and rules; then --once polls, or the
  // daemon serves signals and tells systemd it is ready.
  net::awaitable<void> start() {
    // A database across the network may keep the start waiting: systemd hears that the
    // daemon is up (and fed its watchdog) meanwhile. SQLite answers at once.
    const bool remote = db_ && !db_->calls_inline();
    if (remote && !opt_.once) {
      service_.ready("waiting for the state database " + db_->describe());
      start_watchdog();
    }
    const config::reload_plan plan = config::plan_reload(nullptr, {}, *cfg_, secrets_);
    try {
      sinks_->apply(plan.sinks, *cfg_, secrets_);
      // Replicas' sinks claim their outbox rows while they hold their leases.
      if (db_ && !leased()) co_await sinks_->requeue_outbox();
      // Replicas read a rule's state when they take its lease, not at start. Nor do they
      // resolve the incidents of rules missing from their config: another replica may still
      // poll such a rule on its older config.
      if (db_ && !leased()) co_await rules_->resolve_orphans(world());
      std::map<std::string, rule_runner::memory> remembered;
      if (!leased()) remembered = co_await rules_->recall(plan);
      silences_->configure(cfg_, external_url_);
      co_await silences_->load();
      if (stopping_) co_return;  // stopped while the state was read
      rules_->apply(plan, world(), remembered);
      if (!opt_.once)
        net::co_spawn(
            ioc_, silences_->run(db_ && cfg_->state.backend == config::state_backend::postgresql),
            log_exception("silence upkeep"));
      if (keeper_) net::co_spawn(ioc_, keeper_->run(), log_exception("lease rounds"));
    } catch (const state::store_error& e) {
      spdlog::critical("cannot use the state database: {}", e.what());
      exit_code_ = 1;
      shutdown();
      co_return;
    }
    if (opt_.once) {
      co_await once();
      co_return;
    }
    started_ = true;
    // Config, rules, the metrics port and every rule's schedule are up.
    service_.ready(status_line());
    if (!remote) start_watchdog();
    if (reload_when_started_) {
      reload_when_started_ = false;
      co_await reload_signalled();
    }
  }

  void wire() {
    silences_ = std::make_unique<silence_keeper>(ioc_.get_executor(), db_.get(), metrics_);
    sinks_ = std::make_unique<notify::sink_set>(ioc_.get_executor(), deliveries_, metrics_,
                                                db_.get(), leased());
    commits_ = std::make_unique<state::commit_queue>(
        ioc_.get_executor(), db_.get(),
        [this](std::vector<state::outbox_row>& rows) { sinks_->hand(rows); },
        [this](const std::string& rule, std::int64_t checkpoint) {
          rules_->durable(rule, checkpoint);
        },
        [this](const std::string& rule, std::int64_t epoch) { rules_->lost(rule, epoch); });
    rules_ = std::make_unique<rule_runner>(ioc_.get_executor(),
                                           rule_parts{metrics_, *commits_, *sinks_, polls_,
                                                      db_.get(), leased(), silences_->silences()},
                                           opt_.once);
    if (leased())
      keeper_ = std::make_unique<lease_keeper>(ioc_.get_executor(), *db_, *rules_, *sinks_,
                                               metrics_, cfg_->state.lease_ttl,
                                               cfg_->state.lease_renew);
    rules_->on_poll([this] { update_status(); });
  }

  // Replicas sharing PostgreSQL: rules are polled by the holder of their lease.
  bool leased() const {
    return db_ && !opt_.once && cfg_->state.backend == config::state_backend::postgresql;
  }

  rule_world world() const { return {cfg_, secrets_.api_key, smartsight_, external_url_}; }

  std::shared_ptr<http::client> make_smartsight(const config::smartsight_config& s) {
    return fetch::smartsight_client(ioc_.get_executor(), s);
  }

  // Validates everything before it changes anything: a reload that fails keeps the previous
  // configuration whole.
  net::awaitable<bool> reload() {
    spdlog::info("reloading {}", opt_.config_path);
    co_await commits_->flush();  // what is remembered below is read from the database
    auto failed = [this](const std::string& why) {
      spdlog::error("reload failed{}; still running the previous configuration", why);
      note_config_load(false);
      return false;
    };
    config::secrets secrets;
    config::load_result loaded = config::load_with_secrets(opt_.config_path, secrets);
    if (!loaded.errors.empty()) {
      for (const config::diagnostic& d : loaded.errors) spdlog::error("{}", d.to_string());
      co_return failed(" with " + std::to_string(loaded.errors.size()) + " error(s)");
    }
    auto next = std::make_shared<const config::daemon_config>(std::move(*loaded.config));
    const config::reload_plan plan = config::plan_reload(cfg_.get(), secrets_, *next, secrets);
    std::map<std::string, rule_runner::memory> remembered;
    std::string unreadable;
    try {
      remembered = co_await rules_->recall(plan);
    } catch (const state::store_error& e) {
      unreadable = e.what();
    }
    if (!unreadable.empty()) co_return failed(": " + unreadable);
    // A renewed certificate or changed users apply to new connections at once.
    if (!opt_.once)
      if (std::string err = web_.secure(security_of(*next, secrets)); !err.empty())
        co_return failed(": " + err);
    for (const std::string& w : plan.warnings) spdlog::warn("{}", w);
    // Resolves of removed rules go out before their sinks may be retired with them.
    rules_->resolve_removed(plan);
    if (plan.new_source) {
      smartsight_->close();
      smartsight_ = make_smartsight(next->smartsight);
    }
    cfg_ = std::move(next);
    secrets_ = std::move(secrets);
    silences_->configure(cfg_, external_url_);
    sinks_->apply(plan.sinks, *cfg_, secrets_);
    rules_->apply(plan, world(), remembered);
    note_config_load(true);
    spdlog::info("reloaded: {} rule(s), {} sink(s)", cfg_->rules.size(), cfg_->sinks.size());
    co_return true;
  }

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
    service::state_summary state;
    state.up = !db_ || db_->up();
    state.shared = leased();
    state.configured = rules_->rule_names().size();
    state.sinks_owned = sinks_->owned();
    state.sinks_configured = sinks_->names().size();
    return service::status_line(rules_->status(), sinks_->pending(), rules_->last_poll(), state);
  }

  void start_watchdog() {
    if (service_.watchdog())
      net::co_spawn(ioc_, watchdog(*service_.watchdog()), log_exception("watchdog"));
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
    const bool polled = co_await rules_->once();
    co_await commits_->flush();  // the last group of commits: their notifications go out now
    // Deliver what the polls found, within the shutdown grace period.
    sinks_->finish();
    const bool drained = co_await deliveries_.join(steady::now() + shutdown_grace);
    const bool delivered = opt_.dry_run || (drained && sinks_->pending() == 0);
    exit_code_ = polled && delivered && sinks_->dead() == 0 ? 0 : 1;
    shutdown();
  }

  net::awaitable<void> handle_signals() {
    for (;;) {
      auto [ec, sig] = co_await signals_.async_wait(use_tuple);
      if (ec) co_return;
      if (sig == SIGHUP) {
        if (!started_) {
          spdlog::info("SIGHUP received while starting: reloading once started");
          reload_when_started_ = true;
          continue;
        }
        co_await reload_signalled();
        continue;
      }
      spdlog::info("{} received: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      co_await stop_gracefully();
      co_return;
    }
  }

  // A reload systemd asked for: reloading, then ready again, whatever the reload came to.
  net::awaitable<void> reload_signalled() {
    service_.reloading();
    std::string bug;
    try {
      co_await reload();
    } catch (const std::exception& e) {
      bug = e.what();
    }
    if (!bug.empty()) {
      // A bug, not bad input (that is reported by reload itself): keep serving.
      spdlog::critical("reload failed unexpectedly: {}; still running the previous configuration",
                       bug);
      note_config_load(false);
    }
    service_.ready(status_line());
  }

  // Stops polling at once; gives notifications already being delivered the grace period.
  net::awaitable<void> stop_gracefully() {
    service_.stopping();
    // Queued notifications get the grace period too: inline (SQLite) they are handed on now;
    // a remote database's transaction may end within it, else they go out at the next start.
    commits_->write();
    stopping_ = true;
    rules_->stop();
    if (keeper_) {
      // The last commits under this replica's epochs, then the leases go at once, so that
      // the others take the rules at their next round rather than after the ttl.
      co_await commits_->flush();
      co_await keeper_->leave();
    }
    smartsight_->close();
    web_.stop();
    sinks_->stop();
    co_await deliveries_.join(steady::now() + shutdown_grace);
    shutdown();
  }

  void note_config_load(bool ok) {
    const double now = epoch_seconds(system_clock::now());
    metrics_.record_config_load(ok, now);
    last_reload_ok_ = ok;
    if (ok) loaded_at_ = now;
  }

  // GET /: the page of what fires, what is silenced and what waits.
  std::string status_page() const {
    service::status_page p;
    p.version = QOEWATCH_VERSION;
    p.config_file = opt_.config_path;
    p.loaded_at = loaded_at_;
    p.last_reload_ok = last_reload_ok_;
    p.state = db_ ? db_->describe() : "none (a dry run keeps no state)";
    p.api_url = external_url_;
    p.replicas = leased();
    p.now = epoch_seconds(system_clock::now());
    if (rules_) rules_->page(p);
    if (sinks_) sinks_->page(p);
    p.silences = *silences_->silences();
    return service::render_status_page(p);
  }

  // Ends every remaining operation so that ioc_.run() returns.
  void shutdown() {
    stopping_ = true;
    if (rules_) rules_->abort();
    if (smartsight_) smartsight_->abort();
    if (sinks_) sinks_->abort();
    web_.stop();
    signals_.cancel();
    watchdog_timer_.cancel();
    if (commits_) commits_->cancel();  // run() writes what is still queued after the loop
    if (keeper_) keeper_->stop();
    if (silences_) silences_->stop();
  }

  options opt_;
  net::io_context ioc_{1};
  std::shared_ptr<const config::daemon_config> cfg_;
  config::secrets secrets_;
  metrics::registry metrics_;
  metrics::web_server web_;
  net::signal_set signals_;
  std::unique_ptr<state::database> db_;  // none in a dry run
  std::shared_ptr<http::client> smartsight_;
  task_group polls_{ioc_.get_executor()};       // one task per rule
  task_group deliveries_{ioc_.get_executor()};  // one task per sink, retired ones too
  std::unique_ptr<notify::sink_set> sinks_;
  std::unique_ptr<state::commit_queue> commits_;
  std::unique_ptr<rule_runner> rules_;
  std::unique_ptr<lease_keeper> keeper_;  // replicas only
  std::unique_ptr<silence_keeper> silences_;
  double loaded_at_ = 0;        // the config in effect was loaded then (epoch seconds)
  bool last_reload_ok_ = true;  // the last load or reload worked
  std::string external_url_;
  service_manager service_;
  net::steady_timer watchdog_timer_{ioc_};
  steady::time_point next_status_{};  // STATUS= updates are throttled
  bool stopping_ = false;
  bool started_ = false;              // the state is read and the rules run
  bool reload_when_started_ = false;  // a SIGHUP came while starting
  int exit_code_ = 0;
};

int run_daemon(const options& opt, config::daemon_config cfg, config::secrets secrets) {
  daemon d(opt, std::move(cfg), std::move(secrets));
  return d.run();
}

}  // namespace qoewatch::run
