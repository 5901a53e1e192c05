#include "silence/silence.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

namespace qoewatch::silence {
namespace {

constexpr std::int64_t now = 1'700'000'000'000;  // ms
constexpr std::int64_t hour = 3'600'000;

matcher m(std::string_view text) {
  matcher_result r = parse_matcher(text);
  EXPECT_TRUE(r.ok) << r.error;
  return r.ok ? *r.ok : matcher{};
}

postable request(std::vector<matcher> ms, std::int64_t start, std::int64_t end) {
  postable p;
  p.matchers = std::move(ms);
  p.starts_at = start;
  p.ends_at = end;
  p.created_by = "oncall";
  p.comment = "edgeB maintenance";
  return p;
}

struct ids {
  int n = 0;
  std::string operator()() { return "id-" + std::to_string(++n); }
};

// The set after applying a change, as the store would hold it.
std::vector<silence> stored(std::vector<silence> set, const change& c) {
  for (const silence& w : c.write) {
    auto it = std::find_if(set.begin(), set.end(), [&](const silence& s) { return s.id == w.id; });
    if (it == set.end())
      set.push_back(w);
    else
      *it = w;
  }
  return set;
}

TEST(Silence, StatesFollowTheClock) {
  silence s;
  s.starts_at = now;
  s.ends_at = now + hour;
  EXPECT_EQ(state_at(s, now - 1), state::pending);
  EXPECT_EQ(state_at(s, now), state::active);
  EXPECT_EQ(state_at(s, now + hour - 1), state::active);
  EXPECT_EQ(state_at(s, now + hour), state::expired);
}

TEST(Silence, ACreateStartsNoEarlierThanNowAndIsRefusedWhenItCannotMuteAnything) {
  ids next;
  const change c =
      post({}, request({m("cdn=edgeB")}, now - hour, now + 2 * hour), now, std::ref(next));
  ASSERT_EQ(c.status, 200u) << c.error;
  EXPECT_EQ(c.id, "id-1");
  ASSERT_EQ(c.write.size(), 1u);
  EXPECT_EQ(c.write[0].starts_at, now);  // a past start is moved to now
  EXPECT_EQ(c.write[0].updated_at, now);
  EXPECT_EQ(c.write[0].comment, "edgeB maintenance");

  struct row {
    postable p;
    unsigned status;
    std::string_view error;
  };
  for (const row& r : {
           row{request({m("cdn=edgeB")}, now + hour, now + hour), 400,
               "failed to create silence: start time must be before end time"},
           row{request({m("cdn=edgeB")}, now - 2 * hour, now - hour), 400,
               "failed to create silence: end time can't be in the past"},
           row{request({}, now, now + hour), 400, "silence invalid: at least one matcher required"},
           row{request({m("cdn=\"\""), m("x=~\".*\"")}, now, now + hour), 400,
               "silence invalid: at least one matcher must not match the empty string"},
       }) {
    const change bad = post({}, r.p, now, std::ref(next));
    EXPECT_EQ(bad.status, r.status);
    EXPECT_EQ(bad.error, r.error);
    EXPECT_TRUE(bad.write.empty());
  }
  // != never counts as matching the empty string: accepted, as Alertmanager accepts it.
  EXPECT_EQ(post({}, request({m("cdn!=edgeA")}, now, now + hour), now, std::ref(next)).status,
            200u);
  postable unknown = request({m("cdn=edgeB")}, now, now + hour);
  unknown.id = "5b6e0b1e-0000-4000-8000-000000000000";
  const change missing = post({}, unknown, now, std::ref(next));
  EXPECT_EQ(missing.status, 404u);
  EXPECT_EQ(missing.error, "silence not found");
}

TEST(Silence, UpdatesAreInPlaceOnlyWithTheSameMatchersAndStart) {
  ids next;
  const std::vector<silence> set = stored(
      {},
      post({}, request({m("cdn=edgeB"), m("alertname=x")}, now, now + hour), now, std::ref(next)));
  const std::int64_t later = now + 10 * 60'000;
  struct row {
    const char* what;
    postable p;
    bool in_place;
  };
  auto edited = [&](std::vector<matcher> ms, std::int64_t start, std::int64_t end) {
    postable p = request(std::move(ms), start, end);
    p.id = "id-1";
    p.comment = "extended";
    return p;
  };
  for (const row& r : {
           row{"longer", edited({m("cdn=edgeB"), m("alertname=x")}, now, now + 3 * hour), true},
           row{"start within its second",
               edited({m("cdn=edgeB"), m("alertname=x")}, now + 999, now + 2 * hour), true},
           row{"another start",
               edited({m("cdn=edgeB"), m("alertname=x")}, now + 1000, now + 2 * hour), false},
           row{"matchers reordered", edited({m("alertname=x"), m("cdn=edgeB")}, now, now + hour),
               false},
           row{"another matcher", edited({m("cdn=edgeC"), m("alertname=x")}, now, now + hour),
               false},
       }) {
    ids more{1};
    const change c = post(set, r.p, later, std::ref(more));
    ASSERT_EQ(c.status, 200u) << r.what << ": " << c.error;
    if (r.in_place) {
      EXPECT_EQ(c.id, "id-1") << r.what;
      ASSERT_EQ(c.write.size(), 1u) << r.what;
      EXPECT_EQ(c.write[0].comment, "extended");
      EXPECT_EQ(c.write[0].updated_at, later);
    } else {
      EXPECT_EQ(c.id, "id-2") << r.what;
      ASSERT_EQ(c.write.size(), 2u) << r.what;
      EXPECT_EQ(c.write[0].id, "id-1");  // the old one ends now
      EXPECT_EQ(c.write[0].ends_at, later);
      EXPECT_EQ(state_at(c.write[0], later), state::expired);
      EXPECT_EQ(c.write[1].starts_at, later);
    }
  }
  // A refused update leaves the old silence alone (validated before anything is expired).
  postable empty = edited({m("cdn=\"\"")}, now, now + hour);
  const change refused = post(set, empty, later, std::ref(next));
  EXPECT_EQ(refused.status, 400u);
  EXPECT_TRUE(refused.write.empty());
}

TEST(Silence, PendingAndExpiredSilencesUpdateAsAlertmanagerDoes) {
  ids next;
  std::vector<silence> set = stored(
      {}, post({}, request({m("cdn=edgeB")}, now + hour, now + 2 * hour), now, std::ref(next)));
  postable moved = request({m("cdn=edgeB")}, now + 3 * hour, now + 4 * hour);
  moved.id = "id-1";
  change c = post(set, moved, now, std::ref(next));
  EXPECT_EQ(c.id, "id-1");  // a pending one may move while it still starts later
  set = stored(set, c);
  postable started = request({m("cdn=edgeB")}, now, now + 4 * hour);
  started.id = "id-1";
  c = post(set, started, now + 1, std::ref(next));
  EXPECT_EQ(c.id, "id-2");  // one that would start now is replaced
  EXPECT_EQ(c.write.size(), 2u);
  set = stored(set, c);
  // An expired one is never updated: a later end makes a new silence, the old one untouched.
  set = stored(set, expire(set, "id-2", now + 10));
  postable again = request({m("cdn=edgeB")}, now, now + 5 * hour);
  again.id = "id-2";
  c = post(set, again, now + 20, std::ref(next));
  EXPECT_EQ(c.id, "id-3");
  ASSERT_EQ(c.write.size(), 1u);
}

TEST(Silence, ExpiryEndsActiveAndPendingOnesAndLeavesExpiredOnes) {
  ids next;
  std::vector<silence> set =
      stored({}, post({}, request({m("cdn=edgeB")}, now, now + hour), now, std::ref(next)));
  set = stored(
      set, post(set, request({m("cdn=edgeC")}, now + hour, now + 2 * hour), now, std::ref(next)));
  const std::int64_t t = now + 60'000;
  change c = expire(set, "id-1", t);
  ASSERT_EQ(c.write.size(), 1u);
  EXPECT_EQ(c.write[0].starts_at, now);
  EXPECT_EQ(c.write[0].ends_at, t);
  c = expire(set, "id-2", t);
  ASSERT_EQ(c.write.size(), 1u);
  EXPECT_EQ(c.write[0].starts_at, t);  // a pending one loses its window
  EXPECT_EQ(c.write[0].ends_at, t);
  set = stored(set, c);
  c = expire(set, "id-2", t + 1);
  EXPECT_EQ(c.status, 200u);
  EXPECT_TRUE(c.write.empty());
  c = expire(set, "nope", t);
  EXPECT_EQ(c.status, 500u);
  EXPECT_EQ(c.error, "silence not found");
}

TEST(Silence, MutingListingAndForgetting) {
  ids next;
  std::vector<silence> set;
  set = stored(set, post(set, request({m("cdn=edgeB")}, now, now + 2 * hour), now, std::ref(next)));
  set = stored(set, post(set, request({m("cdn=~\"edge.*\""), m("alertname=x")}, now, now + hour),
                         now, std::ref(next)));
  set = stored(
      set, post(set, request({m("cdn=edgeB")}, now + hour, now + 3 * hour), now, std::ref(next)));
  const label_set edge_b{{"alertname", "x"}, {"cdn", "edgeB"}};
  EXPECT_EQ(silenced_by(set, edge_b, now), (std::vector<std::string>{"id-1", "id-2"}));
  EXPECT_EQ(silenced_by(set, {{"cdn", "edgeA"}}, now), std::vector<std::string>{});
  EXPECT_EQ(silenced_by(set, edge_b, now + hour + 1), (std::vector<std::string>{"id-1", "id-3"}));

  EXPECT_TRUE(listed_under(set[0], {m("cdn=edgeB")}));
  EXPECT_FALSE(listed_under(set[1], {m("cdn=edgeB")}));  // text, not evaluated
  EXPECT_TRUE(listed_under(set[1], {m("cdn=~\"edge.*\"")}));
  EXPECT_TRUE(listed_under(set[1], {}));

  set = stored(set, expire(set, "id-1", now + 1));
  std::vector<silence> listed = set;
  sort_for_listing(listed, now + 2);
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[0].id, "id-2");  // active
  EXPECT_EQ(listed[1].id, "id-3");  // pending
  EXPECT_EQ(listed[2].id, "id-1");  // expired

  const std::int64_t retention = 120 * hour;
  EXPECT_EQ(collect(set, now + 1 + retention - 1, retention), std::vector<std::string>{});
  EXPECT_EQ(collect(set, now + 1 + retention, retention), std::vector<std::string>{"id-1"});
}

TEST(Silence, IdsAreUuidV4) {
  const std::string id = uuid_v4(0xffffffffffffffffull, 0);
  EXPECT_EQ(id, "ffffffff-ffff-4fff-8000-000000000000");
  EXPECT_TRUE(is_uuid(id));
  EXPECT_EQ(uuid_v4(0x0123456789abcdefull, 0xfedcba9876543210ull),
            "01234567-89ab-4def-bedc-ba9876543210");
  EXPECT_FALSE(is_uuid("01234567-89ab-4def-bedc-ba987654321"));
  EXPECT_FALSE(is_uuid("01234567+89ab-4def-bedc-ba9876543210"));
  EXPECT_FALSE(is_uuid("not-a-uuid"));
}

}  // namespace
}  // namespace qoewatch::silence
