// Alertmanager's API v2 as far as amtool needs it, as one pure function: a request (method,
// target, body) and the world it is answered in (the silences, the time, the alerts firing
// now) give the answer and the silences to store before it is sent. The I/O layer
// (io/export/silence_api) stores them and only then makes them live and answers; if the
// store fails, it answers that instead and nothing changes.
//   GET    /api/v2/status                 what amtool checks before every command
//   GET    /api/v2/silences?filter=...    listed (each filter matcher one of the silence's)
//   POST   /api/v2/silences               create, or update when the body has an id
//   GET    /api/v2/silence/{id}           one, 404 unknown
//   DELETE /api/v2/silence/{id}           expire, 500 "silence not found" unknown
//   GET    /api/v2/alerts?filter=...&active=&silenced=&inhibited=&unprocessed=&receiver=
// Anything else under /api/v2/ is a 404 or 405 in Alertmanager's words. Pure code.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "silence/api.hpp"
#include "silence/silence.hpp"

namespace qoewatch::silence {

struct api_request {
  std::string_view method;  // "GET", "POST", "DELETE", "HEAD"
  std::string_view target;  // path and query, as sent
  std::string_view body;
};

/// What a request is answered from. `alerts` are the alerts firing now, each with its `muted`
/// flag set; dispatch fills in silenced_by.
struct api_world {
  const std::vector<silence>* silences = nullptr;
  std::int64_t now = 0;  // ms since the epoch
  std::function<std::string()> new_id;
  std::function<std::vector<alert>()> alerts;
  std::string_view version;     // qoewatch's
  std::int64_t started_at = 0;  // ms
};

struct api_result {
  api_answer answer;
  std::vector<silence> write;  // to store (replacing by id) before the answer is sent
};

/// Whether `path` (without query) is the API's.
bool is_api_path(std::string_view path);

/// Answers one request under /api/v2/.
api_result dispatch(const api_request& req, const api_world& world);

}  // namespace qoewatch::silence
