// A webhook-id is a digest of what the message says: the same for every process that says
// it, different for anything a receiver would tell apart.
#include "notify/message_id.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <vector>

using namespace qoewatch;

namespace {

notify::message_key base() { return {"slow", "hook", "sessions", "slow/1030", 1030, 0, {}}; }

}  // namespace

TEST(MessageId, IsMsgAnd32HexDigitsAndDependsOnlyOnTheKey) {
  const std::string id = notify::message_id(base());
  EXPECT_TRUE(std::regex_match(id, std::regex("msg_[0-9a-f]{32}"))) << id;
  EXPECT_EQ(notify::message_id(base()), id);
  // Pinned: what an id covers is part of the contract between replicas of two versions.
  EXPECT_EQ(id, "msg_1af98f23ef009097c77c7a303f599032");
}

TEST(MessageId, EveryFieldTellsMessagesApart) {
  fetch::session_row a, b, ab, empty;
  a.sessionid = "a";
  b.sessionid = "b";
  ab.sessionid = "ab";
  const std::vector<const fetch::session_row*> one{&a}, two{&a, &b}, joined{&ab},
      split{&ab, &empty};
  std::vector<notify::message_key> keys(12, base());
  keys[1].rule = "fast";
  keys[2].sink = "pd";
  keys[3].kind = "window";
  keys[4].incident = "slow/1060";
  keys[5].slot = 1060;
  keys[6].part = 1;
  keys[7].sessions = one;
  keys[8].sessions = two;
  keys[9].sessions = joined;  // "a","b" and "ab" are not the same list
  keys[10].sessions = split;  // nor "ab" and "ab",""
  keys[11].rule = "slowh";    // fields do not run into each other: "slow"+"hook" is not
  keys[11].sink = "ook";      // "slowh"+"ook"
  std::set<std::string> ids;
  for (const notify::message_key& k : keys) ids.insert(notify::message_id(k));
  EXPECT_EQ(ids.size(), keys.size());
}
