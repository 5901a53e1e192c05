// One replica's lease round: what to renew, acquire and release (see lease.hpp).
#include "lease/lease.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "hash.hpp"

namespace qoewatch::lease {

std::string_view to_string(kind k) {
  return k == kind::sink ? "sink" : "rule";
}

std::optional<kind> parse_kind(std::string_view text) {
  if (text == "rule") return kind::rule;
  if (text == "sink") return kind::sink;
  return std::nullopt;
}

std::string wants_digest(std::span<const wanted_name> wanted) {
  std::vector<std::pair<kind, std::string_view>> names;
  names.reserve(wanted.size());
  for (const auto& w : wanted) names.emplace_back(w.kind, w.name);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::uint64_t h = fnv1a_basis;
  for (const auto& [k, name] : names) {
    // The NULs keep ("ab", "c") and ("a", "bc") apart.
    h = fnv1a(to_string(k), h);
    h = fnv1a(std::string_view("\0", 1), h);
    h = fnv1a(name, h);
    h = fnv1a(std::string_view("\0", 1), h);
  }
  return hex16(h);
}

std::chrono::steady_clock::time_point held_until(std::chrono::steady_clock::time_point sent_at,
                                                 std::chrono::milliseconds ttl,
                                                 std::chrono::milliseconds margin) {
  if (margin < std::chrono::milliseconds::zero()) margin = std::chrono::milliseconds::zero();
  if (margin >= ttl) return sent_at;
  return sent_at + (ttl - margin);
}

namespace {

using live_replicas = std::map<std::string, replica_row, std::less<>>;

// My row after this round's heartbeat: `since` survives only an unbroken run of heartbeats,
// so a replica back from a pause (or a partition) longer than ttl is young again and gets
// nothing handed to it before it has stayed up for a ttl.
replica_row next_heartbeat(const round_input& in) {
  const replica_row* previous = nullptr;
  for (const auto& r : in.replicas) {
    if (r.owner != in.me) continue;
    if (previous == nullptr || r.heartbeat_at > previous->heartbeat_at) previous = &r;
  }
  const bool unbroken = previous != nullptr && in.now - previous->heartbeat_at < in.ttl.count();
  return replica_row{.owner = in.me,
                     .since = unbroken ? std::min(previous->since, in.now) : in.now,
                     .heartbeat_at = in.now,
                     .wants = wants_digest(in.wanted)};
}

live_replicas live_ones(const round_input& in, const replica_row& me) {
  live_replicas live;
  for (const auto& r : in.replicas) {
    if (r.owner == in.me || in.now - r.heartbeat_at >= in.ttl.count()) continue;
    auto [it, inserted] = live.try_emplace(r.owner, r);
    if (!inserted && r.heartbeat_at > it->second.heartbeat_at) it->second = r;
  }
  // I am live whatever the table said: this round writes my heartbeat.
  live.insert_or_assign(in.me, me);
  return live;
}

// One kind's half of the round.
class kind_round {
 public:
  kind_round(const round_input& in, kind k, const live_replicas& live, round_plan& plan)
      : in_(in), kind_(k), live_(live), plan_(plan) {
    for (const auto& w : in.wanted) {
      if (w.kind == k) wanted_.insert(w.name);
    }
    for (const auto& r : in.leases) {
      if (r.kind != k) continue;
      auto [it, inserted] = rows_.try_emplace(r.name, &r);
      if (!inserted &&
          std::tie(r.epoch, r.expires_at) > std::tie(it->second->epoch, it->second->expires_at)) {
        it->second = &r;
      }
    }
  }

  void plan() {
    std::vector<std::string> in_play = names_in_play();
    std::vector<std::string> owners;
    for (const auto& [owner, row] : live_) owners.push_back(owner);
    const std::vector<std::size_t> target = spread(in_play, owners);

    std::vector<const lease_row*> to_hand_over;
    std::size_t held = 0;
    for (std::size_t i = 0; i < in_play.size(); ++i) {
      const std::string& name = in_play[i];
      const replica_row& meant_for = live_.find(owners[target[i]])->second;
      const bool wanted = wanted_.contains(name);
      auto found = rows_.find(name);
      if (found == rows_.end()) {
        // In play without a row means wanted. The row starts expired at `now`, so only the
        // replica it is spread to takes it before a renew period has passed.
        plan_.new_rows.push_back(wanted_name{.kind = kind_, .name = name});
        if (meant_for.owner == in_.me) acquire(name, 0, nullptr);
        continue;
      }
      const lease_row& row = *found->second;
      if (in_.now < row.expires_at) {
        if (row.owner != in_.me) continue;
        if (!wanted) {
          plan_.releases.push_back(release{
              .kind = kind_, .name = name, .epoch = row.epoch, .why = release::reason::unwanted});
          continue;
        }
        ++held;
        if (hand_over(row, meant_for)) {
          to_hand_over.push_back(&row);
        } else {
          plan_.renewals.push_back(renewal{.kind = kind_, .name = name, .epoch = row.epoch});
        }
        continue;
      }
      if (!wanted) continue;
      if (meant_for.owner == in_.me) {
        acquire(name, row.epoch, nullptr);
      } else if (in_.now - row.expires_at >= in_.renew.count()) {
        // The replica it is meant for has had a renew period to take it. If it ran a round
        // since the lease expired and left it, it does not want the name (another config):
        // say so on the row, so that it is not handed back to it.
        const bool declined = meant_for.heartbeat_at > row.expires_at;
        acquire(name, row.epoch, declined ? &meant_for : nullptr);
      }
    }

    // Hand over at most a tenth of what I hold per round: a joining replica gets its share
    // over a few rounds instead of every replica dropping a third of its rules at once.
    const std::size_t most = std::max<std::size_t>(1, held / 10);
    for (std::size_t i = 0; i < to_hand_over.size(); ++i) {
      const lease_row& row = *to_hand_over[i];
      if (i < most) {
        plan_.releases.push_back(release{.kind = kind_,
                                         .name = row.name,
                                         .epoch = row.epoch,
                                         .why = release::reason::rebalanced});
      } else {
        plan_.renewals.push_back(renewal{.kind = kind_, .name = row.name, .epoch = row.epoch});
      }
    }
  }

 private:
  // Wanted by me, or held, or lapsed recently. A wanted name is never expired for longer
  // than a renew period plus a round while a replica wanting it runs, so ttl + renew keeps
  // every name someone wants and drops, within a ttl or so, those nobody does.
  std::vector<std::string> names_in_play() const {
    std::vector<std::string> names(wanted_.begin(), wanted_.end());
    const db_time forgotten_after = in_.ttl.count() + in_.renew.count();
    for (const auto& [name, row] : rows_) {
      if (!wanted_.contains(name) && in_.now < row->expires_at + forgotten_after) {
        names.push_back(name);
      }
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  // Whether a lease I hold should go to the replica it is spread to: one that has stayed
  // live for a ttl (a replica that crashes in a loop gets nothing), and that did not let it
  // lapse before under the same configuration (it would do so again, and the name would
  // bounce between us forever).
  bool hand_over(const lease_row& row, const replica_row& meant_for) const {
    if (meant_for.owner == in_.me) return false;
    if (in_.now - meant_for.since < in_.ttl.count()) return false;
    return !(row.declined_by == meant_for.owner && row.declined_wants == meant_for.wants);
  }

  void acquire(const std::string& name, std::int64_t epoch, const replica_row* declined_by) {
    plan_.acquisitions.push_back(
        acquisition{.kind = kind_,
                    .name = name,
                    .epoch = epoch,
                    .declined_by = declined_by != nullptr ? declined_by->owner : "",
                    .declined_wants = declined_by != nullptr ? declined_by->wants : ""});
  }

  const round_input& in_;
  const kind kind_;
  const live_replicas& live_;
  round_plan& plan_;
  std::set<std::string, std::less<>> wanted_;
  std::map<std::string, const lease_row*, std::less<>> rows_;
};

template <class T>
void by_kind_and_name(std::vector<T>& items) {
  std::sort(items.begin(), items.end(), [](const T& a, const T& b) {
    return std::tie(a.kind, a.name) < std::tie(b.kind, b.name);
  });
}

}  // namespace

round_plan plan_round(const round_input& in) {
  round_plan plan;
  plan.heartbeat = next_heartbeat(in);
  const live_replicas live = live_ones(in, plan.heartbeat);
  for (kind k : {kind::rule, kind::sink}) kind_round(in, k, live, plan).plan();
  by_kind_and_name(plan.new_rows);
  by_kind_and_name(plan.renewals);
  by_kind_and_name(plan.acquisitions);
  by_kind_and_name(plan.releases);
  return plan;
}

}  // namespace qoewatch::lease
