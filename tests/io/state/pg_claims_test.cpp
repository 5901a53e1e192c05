// Replicas deliver a sink's outbox from the holder of its lease alone: pg_store::claim_outbox
// hands that holder the rows it has not claimed at its epoch yet, in order, skipping rows
// another transaction has locked, and nothing once the lease has moved on.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "shared_pg.hpp"
#include "state/pg_store.hpp"

using namespace qoewatch::state;
using namespace std::chrono_literals;
using qoewatch::lease::kind;
using qoewatch::test::shared_pg;

namespace {

const std::string owner_a = "host-a/101/0000000a";
const std::string owner_b = "host-b/202/0000000b";

// An unfenced poll that leaves one notification for `sink`.
poll_commit notifying(const std::string& id, const std::string& sink) {
  poll_commit c;
  c.rule = "rule-" + id;
  c.outbox = {{id, sink, c.rule, "{\"id\":\"" + id + "\"}", 1700000000.5, 0, "", "webhook"}};
  return c;
}

lease_request sink_round(const std::string& sink, std::chrono::milliseconds ttl) {
  return lease_request{.ttl = ttl, .renew = 100ms, .wanted = {{kind::sink, sink}}, .leaving = false};
}

std::vector<std::string> ids(const std::optional<std::vector<outbox_row>>& rows) {
  std::vector<std::string> out;
  if (rows)
    for (const outbox_row& r : *rows) out.push_back(r.id);
  return out;
}

class PgClaims : public ::testing::Test {
 protected:
  void SetUp() override {
    QOEWATCH_REQUIRE_POSTGRESQL();
    db_ = qoewatch::test::fresh_database("claims");
  }
  std::string psql(const std::string& sql) const { return shared_pg().psql(db_.name, sql); }
  qoewatch::test::test_database db_;
};

}  // namespace

TEST_F(PgClaims, TheSinkHolderClaimsEachRowOnceAtItsEpochAndNoOneElseClaims) {
  auto a = pg_store::open(db_.url, owner_a);
  auto b = pg_store::open(db_.url, owner_b);
  ASSERT_EQ(a->lease_round(sink_round("pager", 10s)).held,
            (std::vector<held_lease>{{kind::sink, "pager", 1}}));
  for (const char* id : {"m1", "m2", "m3"}) a->commit(notifying(id, "pager"));
  a->commit(notifying("other-1", "chat"));

  EXPECT_EQ(ids(a->claim_outbox("pager", 1, 2)), (std::vector<std::string>{"m1", "m2"}));
  EXPECT_EQ(ids(a->claim_outbox("pager", 1, 10)), std::vector<std::string>{"m3"});
  const auto none = a->claim_outbox("pager", 1, 10);
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty()) << "rows claimed at this epoch are not handed out again";
  a->commit(notifying("m4", "pager"));
  const auto fourth = a->claim_outbox("pager", 1, 10);
  ASSERT_EQ(ids(fourth), std::vector<std::string>{"m4"});
  EXPECT_EQ((*fourth)[0].body, "{\"id\":\"m4\"}");
  EXPECT_EQ((*fourth)[0].sink_type, "webhook");

  // Claimed again (the answer to a claim was lost): every row of the sink, beyond the limit.
  EXPECT_EQ(ids(a->claim_outbox("pager", 1, 1, true)),
            (std::vector<std::string>{"m1", "m2", "m3", "m4"}));

  // Not the holder, not its epoch, not a leased sink: nothing, and nothing is marked.
  EXPECT_EQ(b->claim_outbox("pager", 1, 10), std::nullopt);
  EXPECT_EQ(a->claim_outbox("pager", 2, 10), std::nullopt);
  EXPECT_EQ(a->claim_outbox("chat", 1, 10), std::nullopt);
  EXPECT_EQ(psql("SELECT string_agg(id || ':' || coalesce(claimed_by, '-') || ':' || "
                 "coalesce(claim_epoch::text, '-'), ' ' ORDER BY seq) FROM outbox"),
            "m1:" + owner_a + ":1 m2:" + owner_a + ":1 m3:" + owner_a + ":1 other-1:-:- m4:" +
                owner_a + ":1");
}

TEST_F(PgClaims, ClaimsSkipRowsLockedByAnother) {
  auto a = pg_store::open(db_.url, owner_a);
  auto b = pg_store::open(db_.url, owner_b);
  // A lease long enough for a's claim on a loaded machine, short enough to wait out.
  const auto leased = std::chrono::steady_clock::now();
  ASSERT_EQ(a->lease_round(sink_round("pager", 2000ms)).held,
            (std::vector<held_lease>{{kind::sink, "pager", 1}}));
  for (const char* id : {"m1", "m2", "m3"}) a->commit(notifying(id, "pager"));
  ASSERT_EQ(ids(a->claim_outbox("pager", 1, 10)), (std::vector<std::string>{"m1", "m2", "m3"}));

  // a stops renewing; b takes the sink over at epoch 2 while another transaction (a's last
  // delivery, say) holds m2 locked.
  std::this_thread::sleep_until(leased + 2200ms);
  ASSERT_EQ(b->lease_round(sink_round("pager", 10s)).held,
            (std::vector<held_lease>{{kind::sink, "pager", 2}}));
  std::atomic<bool> unlocked{false};
  std::thread locker([&] {
    psql("BEGIN; SELECT id FROM outbox WHERE id = 'm2' FOR UPDATE; SELECT pg_sleep(3); COMMIT");
    unlocked = true;
  });
  for (int i = 0; i < 100; ++i) {
    if (psql("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'") == "1") break;
    std::this_thread::sleep_for(30ms);
  }
  // Rows claimed at a past epoch are taken again, the locked one is skipped without waiting.
  EXPECT_EQ(ids(b->claim_outbox("pager", 2, 10)), (std::vector<std::string>{"m1", "m3"}));
  EXPECT_FALSE(unlocked.load()) << "the claim waited for the lock instead of skipping the row";
  locker.join();
  EXPECT_EQ(ids(b->claim_outbox("pager", 2, 10)), std::vector<std::string>{"m2"});
  // The former holder claims nothing more.
  EXPECT_EQ(a->claim_outbox("pager", 1, 10), std::nullopt);
  EXPECT_EQ(psql("SELECT count(*) FROM outbox WHERE claimed_by = '" + owner_b +
                 "' AND claim_epoch = 2"),
            "3");
}

TEST_F(PgClaims, ALapsedLeaseClaimsNothing) {
  auto a = pg_store::open(db_.url, owner_a);
  ASSERT_EQ(a->lease_round(sink_round("pager", 300ms)).held,
            (std::vector<held_lease>{{kind::sink, "pager", 1}}));
  a->commit(notifying("m1", "pager"));
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(a->claim_outbox("pager", 1, 10), std::nullopt);
  EXPECT_EQ(psql("SELECT count(*) FROM outbox WHERE claimed_by IS NULL"), "1");
}
