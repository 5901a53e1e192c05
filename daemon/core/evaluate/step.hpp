// The rule step: everything one poll of one rule decides, as one pure function. From the rule,
// what the rule remembers, what the poll brought back (or why there was none), the pairs
// already notified and the time, it computes the effects: the pairs to remember, the outbox
// rows (rendered bodies, one per sink and batch), the incident's change, the checkpoint, and
// the facts that metrics and logs report. The I/O layer (io/run) turns I/O into these inputs
// and applies the effects; it makes no decision of its own.
//
// Silences and maintenance windows hold notifications back (evaluate/hold.hpp): sessions held
// are never told, a group or incident held is told to each sink once it is no longer held
// (while it still fires), and a resolve goes only to the sinks told of the firing.
//
// The same step serves a successful poll (a catch-up slice included), a failed one (an
// Alertmanager alert is kept alive while the incident fires) and a rule removed from the
// config (its firing incident is resolved). Time and randomness (the webhook ids) are passed
// in, so every path is table-testable.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "evaluate/poll.hpp"
#include "evaluate/population.hpp"
#include "fetch/page.hpp"
#include "fetch/query.hpp"
#include "incident/group.hpp"
#include "incident/incident.hpp"
#include "notify/render.hpp"
#include "silence/silence.hpp"
#include "state/records.hpp"

namespace qoewatch::evaluate {

/// What the daemon remembers of one rule between its polls.
struct rule_state {
  std::optional<std::int64_t> checkpoint;  // end of the last fully processed window
  incident::state incident;                // the rule's incident (firing or not)
  std::size_t last_offending = 0;          // in the last successfully polled window
  // The incident row as this process last committed it: a poll that changes nothing else and
  // leaves it as it was only moves the checkpoint, which need not be written at once.
  std::optional<state::incident_row> committed_incident;
  bool source_up = true;     // the last poll succeeded (or none ended yet)
  bool polled_once = false;  // a poll of the rule has ended since it (re)started

  // A population rule: its groups that are pending or firing, the figures each firing group
  // showed last (for the resolve and the Alertmanager refresh), and the firing groups as
  // this process last committed them.
  incident::group_states groups;
  std::map<std::vector<std::string>, notify::group_info> last_figures;
  std::optional<std::vector<state::incident_row>> committed_groups;
  std::size_t last_group_count = 0;  // groups in the last window

  bool operator==(const rule_state&) const = default;
};

/// Whether anything of the rule fires: its incident, or one of its groups.
bool firing(const rule_state& s);

/// Why the step runs, and what the poll brought back.
struct poll_outcome {
  enum class kind {
    polled,   // every page of `window` was read into `acc`
    failed,   // the poll ended without a usable answer: `error`, maybe `retry_after`
    removed,  // the rule left the config: no poll; a firing incident must resolve now
  };
  kind what = kind::failed;
  std::string error;                                // failed: why (may hold secrets: redact)
  std::optional<std::chrono::seconds> retry_after;  // failed: SmartSight asked to wait
  fetch::window window;                             // the window polled (polled, failed)
  std::int64_t catchup_skipped = 0;  // window seconds max_catchup left out
  bool behind = false;               // a catch-up slice: the next follows at once
  std::unique_ptr<poll_accumulator> acc;  // polled, per-session rule: the offending rows
  // A population rule: the groups' accumulators while the pages are read, then their figures.
  std::unique_ptr<population_accumulator> groups;
  std::unique_ptr<window_figures> figures;
  std::size_t pages = 0;                  // pages read (polled, failed)
};

/// The world the step renders into: the configuration in effect, how the rule's query reads,
/// and where this qoewatch serves /metrics. Webhook ids come from what each row says
/// (notify::message_id), so the step needs no source of them.
struct step_env {
  const config::daemon_config* cfg = nullptr;         // the sinks by name, the customer id
  const fetch::listsessions_query* query = nullptr;   // for the notifications' query URL
  std::string external_url;                           // e.g. "http://host:9786"
  // Effects are written to a state database (false in a dry run). Without one nothing
  // outlives the process, so no Alertmanager alert is kept alive through an outage.
  bool durable = true;
  // When set, each outbox row goes to it as soon as it is rendered, and commit.outbox stays
  // empty: a dry run, with no transaction to wait for, prints body after body and never holds
  // all of a big poll's bodies. Otherwise the rows are collected in commit.outbox.
  std::function<void(state::outbox_row&& row)> each_row;
  // The silences as the API keeps them (null: none). Those active at the step's `now` hold
  // back what they match, as the rule's maintenance windows (cfg->time_intervals) do.
  const std::vector<silence::silence>* silences = nullptr;
};

/// What a successful poll found, as metrics report it.
struct poll_facts {
  std::size_t rows_fetched = 0;
  std::size_t offending = 0;     // in the window, new or not
  std::size_t new_sessions = 0;  // notified by this poll
  std::array<std::size_t, fetch::skip_reason_count> skipped{};
  std::size_t skipped_total = 0;
  std::optional<summary> startup_seconds;
  std::optional<summary> rebuffering_ratio;
  // A population rule: the groups of the window, and the ones exported as metrics (at most
  // max_groups, most sessions first, firing ones always; a firing group absent from the
  // window is there with no sessions).
  bool population = false;
  std::size_t groups = 0;
  struct group {
    std::string label;
    notify::group_info info;
    bool firing = false;
    int pending = 0;  // polls `when` held so far, while not firing
  };
  std::vector<group> exported;
};

/// A change of one group in a step.
struct group_change {
  std::string label;
  incident::transition change = incident::transition::none;
  std::string incident_key;
  notify::group_info figures;
};

/// How `commit` must be written.
enum class write {
  nothing,          // no change at all (a failed poll with nothing to refresh)
  checkpoint_only,  // only the checkpoint moved: it may wait for the next group write
  grouped,  // pairs, rows or the incident changed: with the next group of commits, before the
            // rows are sent
  at_once,  // the same, in a transaction of its own now: a resolve or refresh that must reach
            // its sinks before a reload retires them
};

struct step_effects {
  rule_state next;             // what the rule remembers from now on
  state::poll_commit commit;   // rule, checkpoint, pairs to remember, outbox rows, incident
  write durability = write::nothing;
  incident::transition change = incident::transition::none;
  std::string incident_key;    // the incident that fired, fires on or resolved ("" if none)
  poll_facts facts;            // polled only
  // The sessions this step notifies: by index in the outcome's acc->offending(), true for
  // each one notified. commit.notified holds them as records when env.durable (a dry run
  // writes nothing, so it builds none).
  std::vector<bool> notified;
  std::size_t outbox_rows = 0;  // rendered, whether collected in commit.outbox or handed on
  std::vector<group_change> group_changes;  // a population rule: groups that fired or resolved
  // Per sink: notifications a silence or a mute held back, wholly or in part (sessions held
  // are left out of the body that tells the others).
  std::map<std::string, std::size_t> silenced;
};

/// One step of `rule`. `notified` is read, never changed: the caller records the step's
/// notified sessions (see remember). `now` is the poll's end, epoch seconds: the bodies'
/// timestamps; identities (keys, webhook-ids) come from the window. Bodies are rendered a
/// batch of sessions at a time, reading the outcome's offending rows as they go (see
/// env.each_row); throws what their spill throws.
step_effects step(const config::rule_config& rule, const rule_state& current,
                  const poll_outcome& outcome, const notified_sessions& notified, double now,
                  const step_env& env);

/// Records the sessions a step of `rule` for `outcome` notified.
void remember(const config::rule_config& rule, const poll_outcome& outcome,
              const step_effects& fx, notified_sessions& notified);

}  // namespace qoewatch::evaluate
