// Silences on the event loop: kept in memory for the rule step (which reads them at every
// poll), stored in the state database, and served through Alertmanager's API v2 (the pure
// silence::dispatch decides each answer). A write is decided and stored in one call on the
// database's side, against the silences stored there, and made live only once stored: a
// failed store answers 503 and changes nothing. Every second the keeper re-reads the silences
// from a shared (PostgreSQL) store, so a silence made through any replica holds on all of them
// within a second; it exports qoewatch_silences{state}, and every 15 minutes drops silences
// expired for longer than state.silence_retention. Use from the event loop's thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "export/web_server.hpp"
#include "silence/silence.hpp"
#include "state/records.hpp"

namespace qoewatch::metrics {
class registry;
}
namespace qoewatch::state {
class database;
}

namespace qoewatch::run {

class silence_keeper {
 public:
  /// `db` may be null (a dry run): silences then live in memory only.
  silence_keeper(boost::asio::any_io_executor ex, state::database* db, metrics::registry& metrics);

  /// The silences in effect; the address stays valid while the keeper lives.
  const std::vector<silence::silence>* silences() const { return &silences_; }

  /// The configuration and address alerts are listed under (at start and at each reload).
  void configure(std::shared_ptr<const config::daemon_config> cfg, std::string external_url);

  /// Reads the stored silences; a stored silence that no longer reads well is logged and
  /// skipped. Throws store_error when the database cannot be read.
  boost::asio::awaitable<void> load();

  /// The every-second upkeep until stop(); `shared` (PostgreSQL, which other processes, or a
  /// write whose answer was lost, may have changed): re-read the store each time. Never throws.
  boost::asio::awaitable<void> run(bool shared);
  void stop();

  /// Answers a request under /api/v2/ (503 until load() has read the stored silences).
  boost::asio::awaitable<metrics::web_answer> handle(metrics::web_request req);

 private:
  struct counts {
    std::size_t active = 0, pending = 0, expired = 0;
  };
  boost::asio::awaitable<std::vector<state::silence_row>> stored();  // every row in the store
  void update(const std::vector<silence::silence>& written, const std::string& requester);
  counts export_counts();  // qoewatch_silences{state}, and the counts it was set to
  boost::asio::awaitable<void> collect();

  state::database* db_;
  metrics::registry& metrics_;
  boost::asio::steady_timer timer_;
  std::shared_ptr<const config::daemon_config> cfg_;
  std::string external_url_;
  std::vector<silence::silence> silences_;
  std::int64_t started_at_ = 0;  // ms, for /api/v2/status
  std::chrono::steady_clock::time_point next_collect_;
  bool stopped_ = false;
  bool loaded_ = false;   // load() has read the stored silences
  bool failing_ = false;  // the last re-read failed (logged once per outage)
};

}  // namespace qoewatch::run
