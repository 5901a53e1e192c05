// The status page (GET / on the daemon's listen address): what an operator checks first, as
// plain server-rendered HTML that refreshes itself every 10 s, with no script and nothing
// fetched from elsewhere. What fires now (with its numbers), the active and pending silences
// (who, why, until when), each rule (kind, interval, last poll, source, offending, firing
// groups), each sink's outbox (backlog, oldest, dead letters), the version and the config's
// reload state; the amtool commands that silence a firing group or expire a silence. Every
// value is escaped. Pure code.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "silence/silence.hpp"

namespace qoewatch::service {

struct page_incident {
  std::string rule;
  std::string group;  // "cdn=edgeB"; "" for a per-session rule's incident
  std::vector<std::pair<std::string, std::string>> labels;  // what a silence of it matches
  std::string key;
  double started_at = 0;     // epoch seconds
  bool measured = true;      // the figures are the last window's (false: not in it)
  std::size_t sessions = 0;  // population groups
  std::size_t offending = 0;
  std::optional<double> ratio;  // population groups
  bool muted = false;           // the rule's maintenance window holds
};

struct page_rule {
  std::string name;
  bool population = false;
  std::string interval;             // "1m"
  std::optional<double> last_poll;  // epoch seconds
  bool up = true;
  std::size_t offending = 0;  // in the last window (population: all groups)
  std::size_t firing = 0;     // incidents or groups firing
  bool muted = false;
};

struct page_sink {
  std::string name;
  std::string type;
  std::size_t pending = 0;
  std::optional<double> oldest;  // epoch seconds of the oldest waiting notification
  std::size_t dead = 0;          // dead letters since start
  bool owned = true;             // delivered from this process (replicas: its lease)
};

struct status_page {
  std::string version;
  std::string config_file;
  double loaded_at = 0;  // epoch seconds of the last successful (re)load
  bool last_reload_ok = true;
  std::string state;      // where the state lives
  std::string api_url;    // for amtool's --alertmanager.url
  bool replicas = false;  // rules and sinks shown are this replica's
  double now = 0;
  std::vector<page_incident> firing;
  std::vector<silence::silence> silences;  // any state: expired ones are not shown
  std::vector<page_rule> rules;
  std::vector<page_sink> sinks;
};

/// The HTML document.
std::string render_status_page(const status_page& page);

/// `text` escaped for HTML text and attribute values.
std::string html_escape(std::string_view text);

}  // namespace qoewatch::service
