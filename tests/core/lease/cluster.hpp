// A deterministic cluster of replicas for the lease simulation: an in-memory `leases` and
// `replicas` table, one round per replica every `renew` at its own phase, and each plan
// applied with the conditions the PostgreSQL transaction puts on its UPDATEs (lease.hpp).
// One timeline serves as the database's clock and every replica's steady clock. It checks,
// at every write, the promises an operator relies on: no replica trusts a lease for longer
// than the database grants it, so no two replicas believe they hold a name at once; and no
// round hands over more than a tenth of what it holds.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "lease/lease.hpp"

namespace lease_sim {

using namespace qoewatch::lease;

inline constexpr db_time start = 1'700'000'000'000;

struct name_key {
  kind what = kind::rule;
  std::string name;
  auto operator<=>(const name_key&) const = default;
};

inline std::vector<wanted_name> rules(int count, const std::string& prefix = "rule-") {
  std::vector<wanted_name> out;
  for (int i = 0; i < count; ++i) {
    out.push_back(wanted_name{.kind = kind::rule, .name = prefix + std::to_string(i)});
  }
  return out;
}

struct replica {
  std::string owner;
  std::vector<wanted_name> wanted;
  db_time next_round = 0;
  db_time paused_until = 0;  // rounds due before this are skipped: SIGSTOP
  bool dead = false;         // SIGKILL: no more rounds, and it believes nothing
  struct holding {
    std::int64_t epoch = 0;
    std::chrono::steady_clock::time_point until{};
  };
  std::map<name_key, holding> held;  // what it polls: successful acquisitions and renewals
  round_plan last_plan;
};

struct round_record {
  std::size_t replica = 0;
  db_time at = 0;
  std::size_t held_rules = 0;  // rules held going into the round (renewed or handed over)
  std::size_t handed_over_rules = 0;
  std::size_t acquired = 0;  // acquisitions that matched their row
};

class cluster {
 public:
  std::chrono::milliseconds ttl{15000};
  std::chrono::milliseconds renew{5000};
  std::chrono::milliseconds margin{1000};
  std::map<name_key, lease_row> leases;
  std::map<std::string, replica_row> replicas_table;
  std::vector<replica> replicas;
  std::vector<round_record> rounds;
  std::size_t double_holds = 0;  // a write after which two replicas believe they hold a name
  // A belief a write left standing that the row does not back: another owner or epoch, or a
  // local deadline beyond the row's expiry.
  std::size_t beliefs_beyond_lease = 0;
  std::size_t cap_overruns = 0;  // a round that handed over more than max(1, held / 10)
  db_time now = start;

  static std::chrono::steady_clock::time_point steady(db_time t) {
    return std::chrono::steady_clock::time_point{std::chrono::milliseconds(t)};
  }

  std::size_t join(std::string owner, std::vector<wanted_name> wanted, db_time first_round) {
    replicas.push_back(replica{.owner = std::move(owner),
                               .wanted = std::move(wanted),
                               .next_round = first_round,
                               .paused_until = 0,
                               .dead = false,
                               .held = {},
                               .last_plan = {}});
    return replicas.size() - 1;
  }

  round_input input_for(std::size_t r, db_time t) const {
    round_input in{.me = replicas[r].owner,
                   .now = t,
                   .ttl = ttl,
                   .renew = renew,
                   .wanted = replicas[r].wanted,
                   .leases = {},
                   .replicas = {}};
    for (const auto& [key, row] : leases) in.leases.push_back(row);
    for (const auto& [owner, row] : replicas_table) in.replicas.push_back(row);
    return in;
  }

  round_plan plan(std::size_t r, db_time t) const { return plan_round(input_for(r, t)); }

  // The transaction's writes at `t`, each with its own condition; returns the renewals that
  // matched.
  std::size_t apply(std::size_t r, const round_plan& plan, db_time t) {
    replica& me = replicas[r];
    replicas_table[plan.heartbeat.owner] = plan.heartbeat;
    for (const auto& w : plan.new_rows) {
      leases.try_emplace(name_key{w.kind, w.name}, lease_row{.kind = w.kind,
                                                             .name = w.name,
                                                             .owner = "",
                                                             .epoch = 0,
                                                             .expires_at = t,
                                                             .declined_by = "",
                                                             .declined_wants = ""});
    }
    const auto until = held_until(steady(t), ttl, margin);
    std::map<name_key, replica::holding> held;
    round_record record{
        .replica = r, .at = t, .held_rules = 0, .handed_over_rules = 0, .acquired = 0};
    for (const auto& a : plan.acquisitions) {
      auto it = leases.find(name_key{a.kind, a.name});
      if (it == leases.end() || it->second.epoch != a.epoch || it->second.expires_at > t) continue;
      lease_row& row = it->second;
      row.owner = me.owner;
      row.epoch += 1;
      row.expires_at = t + ttl.count();
      row.declined_by = a.declined_by;
      row.declined_wants = a.declined_wants;
      held[it->first] = replica::holding{.epoch = row.epoch, .until = until};
      ++record.acquired;
    }
    std::size_t renewed = 0;
    for (const auto& n : plan.renewals) {
      if (n.kind == kind::rule) ++record.held_rules;
      auto it = leases.find(name_key{n.kind, n.name});
      if (it == leases.end() || !holds(it->second, me.owner, n.epoch, t)) continue;
      it->second.expires_at = t + ttl.count();
      held[it->first] = replica::holding{.epoch = n.epoch, .until = until};
      ++renewed;
    }
    for (const auto& x : plan.releases) {
      if (x.kind == kind::rule && x.why == release::reason::rebalanced) {
        ++record.held_rules;
        ++record.handed_over_rules;
      }
      auto it = leases.find(name_key{x.kind, x.name});
      if (it != leases.end() && holds(it->second, me.owner, x.epoch, t)) it->second.expires_at = t;
    }
    me.held = std::move(held);
    me.last_plan = plan;

    if (record.handed_over_rules > std::max<std::size_t>(1, record.held_rules / 10)) {
      ++cap_overruns;
    }
    for (const auto& [key, holding] : me.held) {
      for (std::size_t q = 0; q < replicas.size(); ++q) {
        if (q == r || replicas[q].dead) continue;
        auto other = replicas[q].held.find(key);
        if (other != replicas[q].held.end() && other->second.until > steady(t)) ++double_holds;
      }
    }
    for (const auto& q : replicas) {
      if (q.dead) continue;
      for (const auto& [key, holding] : q.held) {
        if (holding.until <= steady(t)) continue;
        const lease_row& row = leases.at(key);
        if (row.owner != q.owner || row.epoch != holding.epoch ||
            holding.until > steady(row.expires_at)) {
          ++beliefs_beyond_lease;
        }
      }
    }
    rounds.push_back(record);
    return renewed;
  }

  // Runs the next round due at or before `end`; false when there is none.
  bool step(db_time end) {
    std::size_t next = replicas.size();
    for (std::size_t r = 0; r < replicas.size(); ++r) {
      if (replicas[r].dead) continue;
      if (next == replicas.size() || replicas[r].next_round < replicas[next].next_round) next = r;
    }
    if (next == replicas.size() || replicas[next].next_round > end) return false;
    replica& r = replicas[next];
    const db_time t = r.next_round;
    r.next_round += renew.count();
    now = t;
    if (t >= r.paused_until) apply(next, plan(next, t), t);
    return true;
  }

  void run_until(db_time end) {
    while (step(end)) {
    }
    now = std::max(now, end);
  }

  // Whether a commit fenced on (owner, epoch) would be accepted at `t`.
  bool fence(const std::string& owner, const name_key& key, std::int64_t epoch, db_time t) const {
    auto it = leases.find(key);
    return it != leases.end() && holds(it->second, owner, epoch, t);
  }

  std::size_t owned(const std::string& owner, kind what, db_time t) const {
    return static_cast<std::size_t>(std::count_if(leases.begin(), leases.end(), [&](const auto& e) {
      return e.first.what == what && e.second.owner == owner && t < e.second.expires_at;
    }));
  }

  std::vector<std::size_t> owned_rules(db_time t) const {
    std::vector<std::size_t> out;
    for (const auto& r : replicas) out.push_back(r.dead ? 0 : owned(r.owner, kind::rule, t));
    return out;
  }

  // Names some replica wants that no live, unpaused replica holds at `t`.
  std::size_t unowned(db_time t) const {
    std::map<name_key, bool> wanted;
    for (const auto& r : replicas) {
      if (r.dead) continue;
      for (const auto& w : r.wanted) wanted[name_key{w.kind, w.name}] = false;
    }
    for (const auto& [key, row] : leases) {
      if (!wanted.contains(key) || t >= row.expires_at) continue;
      for (const auto& r : replicas) {
        if (!r.dead && r.owner == row.owner) wanted[key] = true;
      }
    }
    return static_cast<std::size_t>(
        std::count_if(wanted.begin(), wanted.end(), [](const auto& e) { return !e.second; }));
  }

  // The most rules handed over by one round since `from`.
  std::size_t most_handed_over(db_time from) const {
    std::size_t most = 0;
    for (const auto& r : rounds) {
      if (r.at >= from) most = std::max(most, r.handed_over_rules);
    }
    return most;
  }

  std::size_t acquisitions_since(db_time from) const {
    std::size_t n = 0;
    for (const auto& r : rounds) n += r.at >= from ? r.acquired : 0;
    return n;
  }

 private:
  static bool holds(const lease_row& row, const std::string& owner, std::int64_t epoch, db_time t) {
    return row.owner == owner && row.epoch == epoch && t < row.expires_at;
  }
};

}  // namespace lease_sim
