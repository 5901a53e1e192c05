// pg_store's silences: one table every replica reads and writes. They are not fenced by a
// lease: a silence is made by whichever replica the API request reached, and mutes the alerts
// of every replica.
#include <map>
#include <string_view>
#include <vector>

#include "state/pg_store_impl.hpp"

namespace qoewatch::state {

void pg::write_silences(connection& c, std::span<const silence_row> rows, std::string_view what) {
  // One statement for all: ON CONFLICT refuses to update a row twice in one, so of an id given
  // twice only the later row goes in, as SQLite's INSERT OR REPLACE leaves it. Keyed by the
  // text as stored: two ids that differ only in bytes PostgreSQL cannot hold are one id here.
  std::map<std::string, const silence_row*> last;
  for (const silence_row& r : rows) last[storable_text(r.id)] = &r;
  if (last.empty()) return;
  std::vector<std::string> id, matchers, created_by, comment;
  std::vector<std::int64_t> starts_at, ends_at, updated_at;
  for (const auto& [key, r] : last) {
    id.push_back(key);
    matchers.push_back(storable_text(r->matchers));
    starts_at.push_back(r->starts_at);
    ends_at.push_back(r->ends_at);
    updated_at.push_back(r->updated_at);
    created_by.push_back(storable_text(r->created_by));
    comment.push_back(storable_text(r->comment));
  }
  c.exec(
      "INSERT INTO silences(id, matchers, starts_at, ends_at, updated_at, created_by, comment) "
      "SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], "
      "$6::text[], $7::text[]) "
      "ON CONFLICT (id) DO UPDATE SET matchers = excluded.matchers, "
      "starts_at = excluded.starts_at, ends_at = excluded.ends_at, "
      "updated_at = excluded.updated_at, created_by = excluded.created_by, "
      "comment = excluded.comment",
      params()
          .text_array(id)
          .text_array(matchers)
          .int64_array(starts_at)
          .int64_array(ends_at)
          .int64_array(updated_at)
          .text_array(created_by)
          .text_array(comment),
      what);
}

std::vector<silence_row> pg_store::silences() const {
  const pg::result r = impl_->conn.exec(
      "SELECT id, matchers, starts_at, ends_at, updated_at, created_by, comment "
      "FROM silences ORDER BY id",
      "cannot read the silences");
  std::vector<silence_row> out;
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back({r.text(i, 0), r.text(i, 1), r.int64(i, 2), r.int64(i, 3), r.int64(i, 4),
                   r.text(i, 5), r.text(i, 6)});
  }
  return out;
}

void pg_store::put_silences(const std::vector<silence_row>& rows) {
  // One statement: one transaction.
  pg::write_silences(impl_->conn, rows, "cannot write silences");
}

void pg_store::drop_silences(const std::vector<std::string>& ids) {
  if (ids.empty()) return;
  std::vector<std::string> stored;
  for (const std::string& id : ids) stored.push_back(pg::storable_text(id));
  impl_->conn.exec("DELETE FROM silences WHERE id = ANY($1)", pg::params().text_array(stored),
                   "cannot forget silences");
}

}  // namespace qoewatch::state
