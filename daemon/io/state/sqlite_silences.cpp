// sqlite_store's silences: a table of their own, written apart from the polls' commits (the
// API writes them, not a rule).
#include "state/sqlite_store_impl.hpp"

namespace qoewatch::state {

std::vector<silence_row> sqlite_store::silences() const {
  sqlite::statement s(impl_->db.get(), impl_->path,
                      "SELECT id, matchers, starts_at, ends_at, updated_at, created_by, comment "
                      "FROM silences ORDER BY id");
  std::vector<silence_row> out;
  while (s.step()) {
    out.push_back({s.text(0), s.text(1), s.int64(2), s.int64(3), s.int64(4), s.text(5), s.text(6)});
  }
  return out;
}

void sqlite_store::put_silences(const std::vector<silence_row>& rows) {
  impl& d = *impl_;
  impl::transaction tx(d);
  sqlite::statement put(d.db.get(), d.path,
                        "INSERT OR REPLACE INTO silences(id, matchers, starts_at, ends_at, "
                        "updated_at, created_by, comment) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  for (const silence_row& r : rows) {
    put.reset()
        .bind(1, r.id)
        .bind(2, r.matchers)
        .bind(3, r.starts_at)
        .bind(4, r.ends_at)
        .bind(5, r.updated_at)
        .bind(6, r.created_by)
        .bind(7, r.comment)
        .run();
  }
  tx.commit();
}

void sqlite_store::drop_silences(const std::vector<std::string>& ids) {
  impl& d = *impl_;
  impl::transaction tx(d);
  sqlite::statement drop(d.db.get(), d.path, "DELETE FROM silences WHERE id = ?1");
  for (const std::string& id : ids) drop.reset().bind(1, id).run();
  tx.commit();
}

}  // namespace qoewatch::state
