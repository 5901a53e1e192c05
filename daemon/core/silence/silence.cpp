#include "silence/silence.hpp"

#include <algorithm>
#include <cctype>

namespace qoewatch::silence {

namespace {

const silence* find(const std::vector<silence>& set, std::string_view id) {
  for (const silence& s : set)
    if (s.id == id) return &s;
  return nullptr;
}

bool same_matchers(const std::vector<matcher>& a, const std::vector<matcher>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!a[i].same_as(b[i])) return false;
  return true;
}

// Whether `next` may replace `prev` under its id (Alertmanager's canUpdate).
bool can_update(const silence& prev, const postable& next, std::int64_t now) {
  if (!same_matchers(prev.matchers, next.matchers)) return false;
  switch (state_at(prev, now)) {
    case state::active:
      // The same start to the second (clients round-trip it through RFC 3339 text).
      return prev.starts_at / 1000 == next.starts_at / 1000 && next.ends_at >= now;
    case state::pending:
      return next.starts_at >= now;
    case state::expired:
      return false;
  }
  return false;
}

change refused(unsigned status, std::string error) {
  change c;
  c.status = status;
  c.error = std::move(error);
  return c;
}

silence expired_now(silence s, std::int64_t now) {
  if (state_at(s, now) == state::pending) s.starts_at = now;
  s.ends_at = now;
  s.updated_at = now;
  return s;
}

}  // namespace

std::string_view to_string(state s) {
  switch (s) {
    case state::pending:
      return "pending";
    case state::active:
      return "active";
    case state::expired:
      return "expired";
  }
  return "expired";
}

state state_at(const silence& s, std::int64_t now) {
  if (now < s.starts_at) return state::pending;
  if (now < s.ends_at) return state::active;
  return state::expired;
}

change post(const std::vector<silence>& current, postable p, std::int64_t now,
            const std::function<std::string()>& new_id) {
  if (p.starts_at >= p.ends_at)
    return refused(400, "failed to create silence: start time must be before end time");
  if (p.ends_at < now)
    return refused(400, "failed to create silence: end time can't be in the past");
  const silence* prev = nullptr;
  if (p.id && !p.id->empty()) {
    prev = find(current, *p.id);
    if (!prev) return refused(404, "silence not found");
  }
  if (p.matchers.empty()) return refused(400, "silence invalid: at least one matcher required");
  if (std::all_of(p.matchers.begin(), p.matchers.end(), matches_empty))
    return refused(400, "silence invalid: at least one matcher must not match the empty string");

  const bool in_place = prev && can_update(*prev, p, now);
  change c;
  silence next;
  next.matchers = std::move(p.matchers);
  next.starts_at = p.starts_at;
  next.ends_at = p.ends_at;
  next.updated_at = now;
  next.created_by = std::move(p.created_by);
  next.comment = std::move(p.comment);
  if (in_place) {
    next.id = prev->id;  // in place
  } else {
    if (prev && state_at(*prev, now) != state::expired)
      c.write.push_back(expired_now(*prev, now));  // replaced: the old one ends now
    next.id = new_id();
    next.starts_at = std::max(next.starts_at, now);
  }
  c.id = next.id;
  c.write.push_back(std::move(next));
  return c;
}

change expire(const std::vector<silence>& current, std::string_view id, std::int64_t now) {
  const silence* s = find(current, id);
  if (!s) return refused(500, "silence not found");
  change c;
  c.id = s->id;
  if (state_at(*s, now) != state::expired) c.write.push_back(expired_now(*s, now));
  return c;
}

std::vector<std::string> collect(const std::vector<silence>& current, std::int64_t now,
                                 std::int64_t retention_ms) {
  std::vector<std::string> out;
  for (const silence& s : current)
    if (s.ends_at + retention_ms <= now) out.push_back(s.id);
  return out;
}

std::vector<std::string> silenced_by(const std::vector<silence>& current, const label_set& labels,
                                     std::int64_t now) {
  std::vector<std::string> out;
  for (const silence& s : current)
    if (state_at(s, now) == state::active && all_match(s.matchers, labels)) out.push_back(s.id);
  return out;
}

bool listed_under(const silence& s, const std::vector<matcher>& filter) {
  for (const matcher& f : filter) {
    const bool found = std::any_of(s.matchers.begin(), s.matchers.end(),
                                   [&f](const matcher& m) { return m.same_as(f); });
    if (!found) return false;
  }
  return true;
}

void sort_for_listing(std::vector<silence>& silences, std::int64_t now) {
  auto rank = [now](const silence& s) {
    switch (state_at(s, now)) {
      case state::active:
        return 0;
      case state::pending:
        return 1;
      case state::expired:
        return 2;
    }
    return 2;
  };
  std::stable_sort(silences.begin(), silences.end(), [&](const silence& a, const silence& b) {
    const int ra = rank(a), rb = rank(b);
    if (ra != rb) return ra < rb;
    if (ra == 0) return a.ends_at < b.ends_at;
    if (ra == 1) return a.starts_at < b.starts_at;
    return a.ends_at > b.ends_at;
  });
}

std::string uuid_v4(std::uint64_t high, std::uint64_t low) {
  high = (high & ~0xF000ull) | 0x4000ull;                // version 4
  low = (low & ~(0xC000ull << 48)) | (0x8000ull << 48);  // variant 10xx
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  auto put = [&](std::uint64_t v, int from_bit, int digits) {
    for (int i = digits - 1; i >= 0; --i) out += hex[(v >> (from_bit + 4 * i)) & 0xF];
  };
  put(high, 32, 8);
  out += '-';
  put(high, 16, 4);
  out += '-';
  put(high, 0, 4);
  out += '-';
  put(low, 48, 4);
  out += '-';
  put(low, 0, 12);
  return out;
}

bool is_uuid(std::string_view t) {
  if (t.size() != 36) return false;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? t[i] != '-' : !std::isxdigit(static_cast<unsigned char>(t[i]))) return false;
  }
  return true;
}

}  // namespace qoewatch::silence
