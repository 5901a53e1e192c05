#include "run/silence_keeper.hpp"

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>
#include <functional>
#include <utility>

#include "duration.hpp"
#include "evaluate/firing_alerts.hpp"
#include "export/metrics.hpp"
#include "silence/dispatch.hpp"
#include "state/database.hpp"

namespace qoewatch::run {

namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr auto collect_every = 15min;  // Alertmanager's GC interval

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string new_id() {
  std::uint64_t bits[2] = {0, 0};
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no random bytes for an id");
  std::memcpy(bits, bytes, sizeof bytes);
  return silence::uuid_v4(bits[0], bits[1]);
}

std::vector<silence::silence> readable(const std::vector<state::silence_row>& rows,
                                       bool log_errors) {
  std::vector<silence::silence> out;
  for (const state::silence_row& row : rows) {
    silence::loaded_silence s = silence::from_row(row);
    if (s.ok)
      out.push_back(std::move(*s.ok));
    else if (log_errors)
      spdlog::error("state database: {}; the silence is ignored", s.error);
  }
  return out;
}

// A value from a client, for one log line: no line breaks to forge another line with.
std::string one_line(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else
      out += c;
  }
  return out;
}

std::string matchers_text(const silence::silence& s) {
  std::string out;
  for (const silence::matcher& m : s.matchers) out += (out.empty() ? "" : ", ") + m.text();
  return out;
}

metrics::web_answer json_answer(const silence::api_answer& a) {
  return {a.status, a.body.empty() ? "" : "application/json", a.body};
}

}  // namespace

silence_keeper::silence_keeper(net::any_io_executor ex, state::database* db,
                               metrics::registry& metrics)
    : db_(db),
      metrics_(metrics),
      timer_(ex),
      started_at_(now_ms()),
      next_collect_(std::chrono::steady_clock::now() + collect_every) {}

void silence_keeper::configure(std::shared_ptr<const config::daemon_config> cfg,
                               std::string external_url) {
  cfg_ = std::move(cfg);
  external_url_ = std::move(external_url);
}

net::awaitable<std::vector<state::silence_row>> silence_keeper::stored() {
  std::function<std::vector<state::silence_row>(state::store&)> read = [](state::store& s) {
    return s.silences();
  };  // named: GCC 12 destroys a temporary in a co_await twice
  co_return co_await db_->call(std::move(read));
}

net::awaitable<void> silence_keeper::load() {
  if (!db_) co_return;
  std::vector<state::silence_row> rows = co_await stored();
  silences_ = readable(rows, true);
  loaded_ = true;
  const counts n = export_counts();
  if (!silences_.empty())
    spdlog::info("silences: {} stored, {} active", silences_.size(), n.active);
}

void silence_keeper::update(const std::vector<silence::silence>& written,
                            const std::string& requester) {
  const std::int64_t now = now_ms();
  for (const silence::silence& w : written) {
    auto it = std::find_if(silences_.begin(), silences_.end(),
                           [&](const silence::silence& s) { return s.id == w.id; });
    const bool known = it != silences_.end();
    if (known)
      *it = w;
    else
      silences_.push_back(w);
    // The audit trail: who asked (the basic-auth user), who the silence says made it, what
    // it silences, until when, and why.
    const char* what = !known ? "created" : w.ends_at <= now ? "expired" : "updated";
    spdlog::info(
        "silence {} {} at the request of {} (createdBy {}): {} from {} until {} ({}): {}", w.id,
        what, requester, one_line(w.created_by), one_line(matchers_text(w)),
        utc_rfc3339(std::chrono::system_clock::time_point(std::chrono::milliseconds(w.starts_at))),
        utc_rfc3339(std::chrono::system_clock::time_point(std::chrono::milliseconds(w.ends_at))),
        silence::to_string(silence::state_at(w, now)), one_line(w.comment));
  }
  export_counts();
}

silence_keeper::counts silence_keeper::export_counts() {
  counts n;
  const std::int64_t now = now_ms();
  for (const silence::silence& s : silences_) {
    switch (silence::state_at(s, now)) {
      case silence::state::active:
        ++n.active;
        break;
      case silence::state::pending:
        ++n.pending;
        break;
      case silence::state::expired:
        ++n.expired;
        break;
    }
  }
  metrics_.set_silences(n.active, n.pending, n.expired);
  return n;
}

net::awaitable<void> silence_keeper::run(bool shared) {
  while (!stopped_) {
    timer_.expires_after(1s);
    auto [ec] = co_await timer_.async_wait(net::as_tuple(net::use_awaitable));
    if (ec || stopped_) break;  // cancelled: stop()
    if (shared && db_) {
      std::string error;
      std::vector<state::silence_row> rows;
      try {
        rows = co_await stored();
      } catch (const std::exception& e) {
        error = e.what();
      }
      if (error.empty()) {
        if (failing_) spdlog::info("silences: read from the state database again");
        failing_ = false;
        silences_ = readable(rows, false);
      } else if (!failing_) {
        failing_ = true;
        spdlog::warn(
            "silences: cannot read them from the state database ({}); the last read "
            "ones hold meanwhile",
            error);
      }
    }
    export_counts();
    if (std::chrono::steady_clock::now() >= next_collect_) {
      next_collect_ = std::chrono::steady_clock::now() + collect_every;
      co_await collect();
    }
  }
}

net::awaitable<void> silence_keeper::collect() {
  const duration retention =
      cfg_ ? cfg_->state.silence_retention : config::state_config{}.silence_retention;
  std::vector<std::string> ids = silence::collect(silences_, now_ms(), retention.count());
  if (ids.empty()) co_return;
  if (db_) {
    std::function<bool(state::store&)> drop = [ids](state::store& s) {
      s.drop_silences(ids);
      return true;
    };
    try {
      co_await db_->call(std::move(drop));
    } catch (const std::exception& e) {
      spdlog::warn("silences: could not drop {} expired silence(s): {}; tried again later",
                   ids.size(), e.what());
      co_return;
    }
  }
  std::erase_if(silences_, [&](const silence::silence& s) {
    return std::find(ids.begin(), ids.end(), s.id) != ids.end();
  });
  spdlog::info("silences: dropped {} expired for more than {}", ids.size(),
               format_duration(retention));
  export_counts();
}

void silence_keeper::stop() {
  stopped_ = true;
  timer_.cancel();
}

net::awaitable<metrics::web_answer> silence_keeper::handle(metrics::web_request req) {
  const std::int64_t now = now_ms();
  const std::string version = QOEWATCH_VERSION;
  const bool writes = req.method == "POST" || req.method == "DELETE";
  if (writes && db_) {
    // Decided and stored in one call, against what the database holds.
    std::function<silence::api_result(state::store&)> decide =
        [req, now, version, started = started_at_](state::store& s) {
          std::vector<silence::silence> current = readable(s.silences(), false);
          silence::api_world w;
          w.silences = &current;
          w.now = now;
          w.new_id = new_id;
          w.version = version;
          w.started_at = started;
          silence::api_result r = silence::dispatch({req.method, req.target, req.body}, w);
          if (!r.write.empty()) {
            std::vector<state::silence_row> rows;
            for (const silence::silence& x : r.write) rows.push_back(silence::to_row(x));
            s.put_silences(rows);
          }
          return r;
        };
    silence::api_result r;
    std::string error;
    try {
      r = co_await db_->call(std::move(decide));
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (!error.empty()) {
      spdlog::error("silences: could not store a change: {}", error);
      co_return json_answer(
          silence::api_error(503, "the silence could not be stored, nothing changed: " + error));
    }
    if (!r.write.empty()) update(r.write, req.requester);
    co_return json_answer(r.answer);
  }
  if (db_ && !loaded_)
    co_return json_answer(silence::api_error(
        503, "the silences are still being read from the state database; try again shortly"));
  std::vector<silence::alert> alerts;
  const std::string_view path = std::string_view(req.target).substr(0, req.target.find('?'));
  if (path == "/api/v2/alerts" && req.method != "POST" && cfg_) {
    using rows = std::vector<state::incident_row>;
    rows incidents, groups;
    if (db_) {
      std::function<std::pair<rows, rows>(state::store&)> read = [](state::store& s) {
        return std::pair{s.incidents(), s.group_incidents()};
      };
      std::string error;
      try {
        // Not into std::tie: GCC 12 destroys a temporary in a co_await twice.
        std::pair<rows, rows> both = co_await db_->call(std::move(read));
        incidents = std::move(both.first);
        groups = std::move(both.second);
      } catch (const std::exception& e) {
        error = e.what();
      }
      if (!error.empty())
        co_return json_answer(silence::api_error(
            503, "the firing incidents could not be read from the state database: " + error));
    }
    alerts = evaluate::firing_alerts(incidents, groups, *cfg_, static_cast<double>(now) / 1000.0,
                                     external_url_);
  }
  silence::api_world w;
  w.silences = &silences_;
  w.now = now;
  w.new_id = new_id;
  w.alerts = [&alerts] { return alerts; };
  w.version = version;
  w.started_at = started_at_;
  silence::api_result r = silence::dispatch({req.method, req.target, req.body}, w);
  if (!r.write.empty()) update(r.write, req.requester);  // no database (a dry run): in memory only
  co_return json_answer(r.answer);
}

}  // namespace qoewatch::run
