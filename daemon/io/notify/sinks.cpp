#include "notify/sinks.hpp"

#include <spdlog/spdlog.h>
#include <algorithm>
#include <cstdio>

#include "export/metrics.hpp"
#include "run/task_group.hpp"
#include "state/database.hpp"

namespace qoewatch::notify {

namespace net = boost::asio;

sink_secrets secrets_of(const config::secrets& all, const std::string& sink) {
  sink_secrets out;
  if (auto it = all.signing_keys.find(sink); it != all.signing_keys.end())
    out.signing_key = it->second;
  if (auto it = all.routing_keys.find(sink); it != all.routing_keys.end())
    out.routing_key = it->second;
  if (auto it = all.urls.find(sink); it != all.urls.end()) out.url = it->second;
  return out;
}

struct sink_set::impl {
  struct entry {
    config::sink_config config;
    std::shared_ptr<delivery> d;  // none in a dry run
  };
  net::any_io_executor ex;
  run::task_group& tasks;
  metrics::registry& metrics;
  state::database* db;
  bool leased;
  std::map<std::string, entry> sinks;
  std::vector<std::shared_ptr<delivery>> retired;  // delivering their last, until they end
  std::chrono::milliseconds timeout{};

  void add(const config::sink_config& s, const config::secrets& secrets) {
    metrics.add_sink(s.name);
    entry e{s, nullptr};
    if (db) {
      e.d = std::make_shared<delivery>(ex, s, secrets_of(secrets, s.name), metrics, *db, timeout);
      if (leased) {
        e.d->lease_mode();
        tasks.spawn(e.d->claims(), "sink " + s.name + " claims");
      }
      tasks.spawn(e.d->run(), "sink " + s.name);
    }
    sinks.insert_or_assign(s.name, std::move(e));
  }
};

sink_set::sink_set(net::any_io_executor ex, run::task_group& tasks, metrics::registry& metrics,
                   state::database* db, bool leased)
    : impl_(std::make_unique<impl>(impl{std::move(ex), tasks, metrics, db, leased, {}, {}, {}})) {}

sink_set::~sink_set() = default;

void sink_set::apply(const std::vector<config::sink_plan>& plan, const config::daemon_config& cfg,
                     const config::secrets& secrets) {
  impl& s = *impl_;
  s.timeout = cfg.smartsight.timeout;
  std::erase_if(s.retired, [](const auto& d) { return d->finished(); });
  for (const config::sink_plan& p : plan) {
    using action = config::sink_plan::action;
    auto it = s.sinks.find(p.name);
    switch (p.what) {
      case action::keep:
      case action::reconfigure:
        if (it == s.sinks.end()) break;
        it->second.config = *config::named(cfg.sinks, p.name);
        // A changed sink keeps its queue: what is owed to it goes to the new settings.
        if (p.what == action::reconfigure && it->second.d)
          it->second.d->reconfigure(it->second.config, secrets_of(secrets, p.name));
        break;
      case action::retire:
        if (it == s.sinks.end()) break;
        // What it still owes becomes dead letters once the POST in flight, if any, ends.
        if (it->second.d) {
          spdlog::warn("{}: its undelivered notifications become dead letters", p.reason);
          it->second.d->retire(p.reason);
          s.retired.push_back(std::move(it->second.d));
        }
        s.sinks.erase(it);
        break;
      case action::add:
        break;
    }
  }
  std::vector<std::string> names;
  for (const config::sink_config& c : cfg.sinks) names.push_back(c.name);
  s.metrics.retain_sinks(names);
  for (const config::sink_plan& p : plan)
    if (p.what == config::sink_plan::action::add) s.add(*config::named(cfg.sinks, p.name), secrets);
}

void sink_set::hand(std::vector<state::outbox_row>& rows) {
  for (state::outbox_row& row : rows) {
    if (!impl_->db) {
      std::fwrite(row.body.data(), 1, row.body.size(), stdout);
      std::fputc('\n', stdout);
      std::fflush(stdout);
    } else if (auto it = impl_->sinks.find(row.sink); it != impl_->sinks.end() && it->second.d) {
      if (!impl_->leased)
        it->second.d->enqueue(std::move(row));
      else if (it->second.d->owned())
        it->second.d->claim();
    }
  }
}

std::vector<std::string> sink_set::names() const {
  std::vector<std::string> out;
  for (const auto& [name, e] : impl_->sinks) out.push_back(name);
  return out;
}

void sink_set::hold(const std::vector<state::held_lease>& held,
                    std::chrono::steady_clock::time_point until) {
  // A retired delivery drains under the lease it had: the next round ends that.
  for (auto& d : impl_->retired) d->release();
  for (auto& [name, e] : impl_->sinks) {
    if (!e.d) continue;
    auto it = std::find_if(held.begin(), held.end(), [&](const state::held_lease& h) {
      return h.kind == lease::kind::sink && h.name == name;
    });
    const std::optional<std::int64_t> was = e.d->lease_epoch();
    if (it == held.end()) {
      e.d->release();
      if (was) spdlog::info("sink {}: lease gone: another replica delivers it", name);
    } else {
      e.d->hold(it->epoch, until);
      if (was != it->epoch)
        spdlog::info("sink {}: lease held (epoch {}): this replica delivers it", name, it->epoch);
    }
  }
}

void sink_set::release_all() {
  for (auto& d : impl_->retired) d->release();
  for (auto& [name, e] : impl_->sinks)
    if (e.d) e.d->release();
}

std::size_t sink_set::owned() const {
  std::size_t n = 0;
  for (const auto& [name, e] : impl_->sinks)
    if (e.d && e.d->owned()) ++n;
  return n;
}

net::awaitable<void> sink_set::requeue_outbox() {
  impl& s = *impl_;
  std::map<std::string, std::size_t> queued;
  std::function<std::vector<state::outbox_row>(state::store&)> read = [](state::store& st) {
    return st.outbox();
  };  // named: GCC 12 destroys a temporary in a co_await twice
  std::vector<state::outbox_row> rows = co_await s.db->call(std::move(read));
  for (state::outbox_row& row : rows) {
    auto it = s.sinks.find(row.sink);
    if (it == s.sinks.end()) {
      bury(*s.db, s.metrics, row, "sink " + row.sink + " is no longer in the config");
      continue;
    }
    const std::string type(config::to_string(it->second.config.type));
    if (!row.sink_type.empty() && row.sink_type != type) {
      bury(*s.db, s.metrics, row,
           "sink " + row.sink + " changed type from " + row.sink_type + " to " + type +
               " while qoewatch was stopped");
      continue;
    }
    ++queued[row.sink];
    it->second.d->enqueue(std::move(row));
  }
  for (const auto& [sink, n] : queued)
    spdlog::info("sink {}: {} notification(s) left in the outbox by the last run", sink, n);
}

std::size_t sink_set::pending() const {
  std::size_t n = 0;
  for (const auto& [name, e] : impl_->sinks)
    if (e.d) n += e.d->pending();
  return n;
}

void sink_set::page(service::status_page& p) const {
  for (const auto& [name, e] : impl_->sinks) {
    service::page_sink s;
    s.name = name;
    s.type = std::string(config::to_string(e.config.type));
    if (e.d) {
      s.pending = e.d->pending();
      s.oldest = e.d->oldest();
      s.dead = e.d->dead();
      s.owned = e.d->owned();
    }
    p.sinks.push_back(std::move(s));
  }
}

std::size_t sink_set::dead() const {
  std::size_t n = 0;
  for (const auto& [name, e] : impl_->sinks)
    if (e.d) n += e.d->dead();
  return n;
}

void sink_set::finish() {
  for (auto& [name, e] : impl_->sinks)
    if (e.d) e.d->finish();
}

void sink_set::stop() {
  for (auto& [name, e] : impl_->sinks)
    if (e.d) e.d->stop();
  for (auto& d : impl_->retired) d->stop();
}

void sink_set::abort() {
  stop();
  for (auto& [name, e] : impl_->sinks)
    if (e.d) e.d->abort();
  for (auto& d : impl_->retired) d->abort();
}

}  // namespace qoewatch::notify
