// Replicas: which rules this one polls. The lease rounds' answers (hold, expire_leases, lost,
// release_all) say which rule leases are held and until when; a rule polls only while its
// lease is held here (owns), and its per-rule metrics are published only then.
#include "run/rule_runner.hpp"

#include <spdlog/spdlog.h>
#include <algorithm>
#include <limits>

#include "export/metrics.hpp"
#include "run/rule_runner_impl.hpp"

namespace qoewatch::run {

std::optional<std::int64_t> rule_runner::impl::held_epoch(const std::string& rule) const {
  if (!parts.leased) return 0;
  auto it = leases.find(rule);
  if (it == leases.end() || steady::now() >= it->second.until) return std::nullopt;
  return it->second.epoch;
}

std::vector<std::string> rule_runner::impl::owned_rules() const {
  std::vector<std::string> out;
  for (const auto& [name, t] : tasks)
    if (held_epoch(name)) out.push_back(name);
  return out;
}

void rule_runner::impl::publish_ownership() {
  const std::vector<std::string> owned = owned_rules();
  parts.metrics.set_rules_owned(owned.size(), tasks.size());
  if (!parts.leased) return;
  // Per-rule series only for the rules polled here: on the others they would go stale.
  parts.metrics.retain_rules(owned);
  for (const std::string& name : owned) {
    parts.metrics.add_rule(name);
    parts.metrics.set_firing(name, firing(tasks.at(name)->state));
  }
}

net::awaitable<bool> rule_runner::impl::owns(std::shared_ptr<rule_task> t) {
  const std::optional<std::int64_t> epoch = held_epoch(t->rule.name);
  if (!epoch) co_return false;
  if (*epoch == t->epoch) co_return true;
  const std::string name = t->rule.name;
  config::reload_plan plan;
  plan.start = {name};
  plan.recall = {name};
  std::map<std::string, rule_runner::memory> read;
  std::string error;
  try {
    read = co_await recall_rules(plan);
  } catch (const state::store_error& e) {
    error = e.what();
  }
  if (!error.empty()) {
    spdlog::error("rule {}: cannot read its state to take it over: {}", name, error);
    co_return false;
  }
  if (held_epoch(name) != epoch) co_return false;  // lost again meanwhile
  rule_runner::memory m = std::move(read[name]);
  m.checkpoint = m.durable_checkpoint;  // what this process deferred is a past epoch's
  notified.expire(name, std::numeric_limits<std::int64_t>::max());
  t->state = {};
  t->state.checkpoint = m.checkpoint;
  t->durable_checkpoint = m.durable_checkpoint;
  t->epoch = *epoch;
  remember(*t, m);
  spdlog::info("rule {}: lease held (epoch {}): polling from checkpoint {}", name, *epoch,
               m.checkpoint ? std::to_string(*m.checkpoint) : "none");
  co_return true;
}

void rule_runner::hold(const std::vector<state::held_lease>& held,
                       const std::vector<lease::release>& released, steady::time_point until) {
  impl& r = *impl_;
  std::map<std::string, impl::lease_hold> next;
  for (const state::held_lease& h : held)
    if (h.kind == lease::kind::rule) next[h.name] = {h.epoch, until};
  std::size_t acquired = 0, rebalanced = 0, expired = 0;
  for (const auto& [name, h] : next) {
    auto it = r.leases.find(name);
    if (it == r.leases.end() || it->second.epoch != h.epoch) ++acquired;
  }
  for (const auto& [name, h] : r.leases) {
    if (next.contains(name)) continue;
    auto rel = std::find_if(released.begin(), released.end(), [&](const lease::release& x) {
      return x.kind == lease::kind::rule && x.name == name;
    });
    if (rel == released.end())
      ++expired;  // the database let it go: not renewed in time
    else if (rel->why == lease::release::reason::rebalanced)
      ++rebalanced;
  }
  if (acquired) r.parts.metrics.record_lease_change("acquired", acquired);
  if (rebalanced) r.parts.metrics.record_lease_change("rebalanced", rebalanced);
  if (expired) r.parts.metrics.record_lease_change("expired", expired);
  if (acquired || rebalanced || expired)
    spdlog::info("leases: {} rule(s) acquired, {} handed over, {} expired; {} of {} owned",
                 acquired, rebalanced, expired, next.size(), r.tasks.size());
  r.leases = std::move(next);
  r.leases_known = true;
  r.publish_ownership();
  // The rules' loops that slept while another replica held their lease.
  for (const auto& [name, h] : r.leases)
    if (auto it = r.tasks.find(name); it != r.tasks.end() && it->second->parked)
      it->second->parked->cancel();
}

void rule_runner::expire_leases() {
  impl& r = *impl_;
  const steady::time_point now = steady::now();
  const std::size_t expired =
      std::erase_if(r.leases, [now](const auto& l) { return now >= l.second.until; });
  if (expired == 0) return;
  r.parts.metrics.record_lease_change("expired", expired);
  spdlog::warn("leases: {} rule lease(s) expired without a renewal: those rules wait", expired);
  r.publish_ownership();
}

void rule_runner::lost(const std::string& rule, std::int64_t epoch) {
  impl& r = *impl_;
  auto it = r.leases.find(rule);
  if (it == r.leases.end() || it->second.epoch != epoch) return;  // already let go
  r.leases.erase(it);
  r.parts.metrics.record_lease_change("fenced");
  spdlog::warn("rule {}: another replica holds its lease now; this one's last poll was not "
               "recorded and it stops polling the rule",
               rule);
  r.publish_ownership();
}

void rule_runner::release_all() {
  impl& r = *impl_;
  if (!r.parts.leased || r.leases.empty()) return;
  r.parts.metrics.record_lease_change("stopped", r.leases.size());
  r.leases.clear();
  r.publish_ownership();
}

std::vector<std::string> rule_runner::rule_names() const {
  std::vector<std::string> names;
  for (const auto& [name, t] : impl_->tasks) names.push_back(name);
  return names;
}

std::size_t rule_runner::rules_owned() const {
  return impl_->owned_rules().size();
}

}  // namespace qoewatch::run
