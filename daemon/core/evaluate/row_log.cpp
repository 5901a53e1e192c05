#include "evaluate/row_log.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace qoewatch::evaluate {

namespace {

// A row's bytes: u32 length of the rest; u32 id length, the id; f64 endtime; u32 metric count,
// the metrics as f64; u32 field count, each field as u32 length and its bytes. Native byte
// order: the bytes never leave the process.
template <class T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

void put_text(std::string& out, std::string_view s) {
  put(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

template <class T>
T get(std::string_view bytes, std::size_t& at) {
  T v;
  std::memcpy(&v, bytes.data() + at, sizeof(T));
  at += sizeof(T);
  return v;
}

std::string_view get_text(std::string_view bytes, std::size_t& at) {
  const auto n = get<std::uint32_t>(bytes, at);
  std::string_view s = bytes.substr(at, n);
  at += n;
  return s;
}

std::size_t encoded_size(const fetch::session_row& row) {
  std::size_t n = 4 + 4 + row.sessionid.size() + 8 + 4 + 8 * row.metrics.size() + 4;
  for (const std::string& f : row.fields) n += 4 + f.size();
  return n;
}

// The offset of the row after the one at `at`.
std::size_t skip_row(std::string_view bytes, std::size_t at) {
  const auto length = get<std::uint32_t>(bytes, at);  // moves `at` past the length
  return at + length;
}

}  // namespace

row_log::row_log(options o) : opt_(std::move(o)) {
  opt_.chunk_bytes = std::max<std::size_t>(opt_.chunk_bytes, 1);
}
row_log::row_log(row_log&&) noexcept = default;
row_log& row_log::operator=(row_log&&) noexcept = default;
row_log::~row_log() = default;

void row_log::append(const fetch::session_row& row) {
  const std::size_t n = encoded_size(row);
  if (n - 4 > UINT32_MAX) throw std::length_error("row_log: a row of more than 4 GiB");
  if (chunks_.empty() || (chunks_.back().size > 0 && chunks_.back().size + n > opt_.chunk_bytes)) {
    if (!chunks_.empty()) close_chunk();
    chunk c;
    c.start = chunks_.empty() ? 0 : chunks_.back().start + chunks_.back().size;
    c.first_row = rows_;
    // The first chunk grows with its rows: most polls keep a few, and a thousand rules poll
    // at once. Once one is full, the poll is a big one: each next chunk is allocated once.
    if (!chunks_.empty()) c.bytes.reserve(std::max(opt_.chunk_bytes, n));
    chunks_.push_back(std::move(c));
  }
  chunk& c = chunks_.back();
  std::string& out = c.bytes;
  put(out, static_cast<std::uint32_t>(n - 4));
  put_text(out, row.sessionid);
  put(out, row.endtime);
  put(out, static_cast<std::uint32_t>(row.metrics.size()));
  for (double m : row.metrics) put(out, m);
  put(out, static_cast<std::uint32_t>(row.fields.size()));
  for (const std::string& f : row.fields) put_text(out, f);
  c.size += n;
  ++c.rows;
  ++rows_;
  in_memory_ += n;
}

void row_log::close_chunk() {
  if (!opt_.make_spill) return;
  // The oldest chunks go first: a row looked up again (a session met twice while pages
  // shift) is most likely a recent one.
  for (chunk& c : chunks_) {
    if (in_memory_ <= opt_.memory_budget) break;
    if (c.spilled) continue;
    if (!spill_) spill_ = opt_.make_spill();
    spill_->write(c.start, c.bytes);
    in_memory_ -= c.size;
    std::string().swap(c.bytes);
    c.spilled = true;
  }
}

std::string_view row_log::bytes_of(const chunk& c, std::string& into) const {
  if (!c.spilled) return c.bytes;
  into.resize(c.size);
  spill_->read(c.start, into);
  return into;
}

std::size_t row_log::chunk_of(std::size_t index) const {
  auto it = std::upper_bound(chunks_.begin(), chunks_.end(), index,
                             [](std::size_t i, const chunk& c) { return i < c.first_row; });
  return static_cast<std::size_t>(it - chunks_.begin()) - 1;
}

void row_log::truncate(std::size_t rows) {
  if (rows >= rows_) return;
  const std::size_t k = chunk_of(rows);
  for (std::size_t i = k + 1; i < chunks_.size(); ++i)
    if (!chunks_[i].spilled) in_memory_ -= chunks_[i].size;
  chunks_.resize(k + 1);
  chunk& c = chunks_[k];
  if (c.spilled) {
    // It is appended to again: back into memory (what follows in the spill is rewritten).
    bytes_of(c, c.bytes);
    c.spilled = false;
    in_memory_ += c.size;
  }
  std::size_t at = 0;
  for (std::size_t r = c.first_row; r < rows; ++r) at = skip_row(c.bytes, at);
  in_memory_ -= c.size - at;
  c.bytes.resize(at);
  c.size = at;
  c.rows = rows - c.first_row;
  rows_ = rows;
  if (c.rows == 0) chunks_.pop_back();
}

bool row_log::sessionid_is(std::size_t index, std::string_view sessionid) const {
  const chunk& c = chunks_[chunk_of(index)];
  std::string_view bytes = bytes_of(c, scratch_);
  std::size_t at = 0;
  for (std::size_t r = c.first_row; r < index; ++r) at = skip_row(bytes, at);
  at += 4;
  return get_text(bytes, at) == sessionid;
}

bool row_log::reader::next(fetch::session_row& row) {
  const std::vector<chunk>& chunks = log_->chunks_;
  if (index_ >= log_->rows_) return false;
  if (offset_ >= chunks[chunk_].size) {
    ++chunk_;
    offset_ = 0;
    loaded_ = false;
  }
  const chunk& c = chunks[chunk_];
  if (c.spilled && !loaded_) {
    log_->bytes_of(c, buffer_);
    loaded_ = true;
  }
  std::string_view bytes = c.spilled ? std::string_view(buffer_) : std::string_view(c.bytes);
  std::size_t at = offset_ + 4;
  row.sessionid.assign(get_text(bytes, at));
  row.endtime = get<double>(bytes, at);
  row.metrics.resize(get<std::uint32_t>(bytes, at));
  for (double& m : row.metrics) m = get<double>(bytes, at);
  row.fields.resize(get<std::uint32_t>(bytes, at));
  for (std::string& f : row.fields) f.assign(get_text(bytes, at));
  offset_ = at;
  ++index_;
  return true;
}

}  // namespace qoewatch::evaluate
