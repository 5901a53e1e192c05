// The commit queue hands a commit's notifications on once they are durable, and only those
// the outbox did not hold already: a row under an id already queued is not sent twice.
#include "state/commit_queue.hpp"

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include "state/database.hpp"
#include "state/sqlite_store.hpp"

using namespace qoewatch::state;
namespace fs = std::filesystem;

namespace {

outbox_row row(const std::string& id, const std::string& body = "{}") {
  return {id, "pager", "slow", body, 1700000000.25, 0, "", "pagerduty"};
}

poll_commit commit_of(std::int64_t checkpoint, std::vector<outbox_row> rows) {
  poll_commit c;
  c.rule = "slow";
  c.checkpoint = checkpoint;
  c.outbox = std::move(rows);
  return c;
}

std::vector<std::string> ids(const std::vector<outbox_row>& rows) {
  std::vector<std::string> out;
  for (const outbox_row& r : rows) out.push_back(r.id + " " + r.body);
  return out;
}

class CommitQueue : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() / ("qoewatch-commit-queue-" + std::to_string(::getpid()) +
                                        "-" + std::to_string(counter++));
    fs::remove_all(dir_);
    std::unique_ptr<sqlite_store> s = sqlite_store::open(dir_.string());
    store_ = s.get();
    db_ = std::make_unique<database>(ioc_.get_executor(), std::move(s));
    queue_ = std::make_unique<commit_queue>(
        ioc_.get_executor(), db_.get(),
        [this](std::vector<outbox_row>& rows) {
          for (const std::string& id : ids(rows)) handed_.push_back(id);
        },
        [](const std::string&, std::int64_t) {});
  }
  void TearDown() override {
    queue_.reset();
    db_.reset();
    fs::remove_all(dir_);
  }

  fs::path dir_;
  boost::asio::io_context ioc_;
  store* store_ = nullptr;  // owned by db_
  std::unique_ptr<database> db_;
  std::unique_ptr<commit_queue> queue_;
  std::vector<std::string> handed_;
};

}  // namespace

TEST_F(CommitQueue, RowsTheOutboxAlreadyHeldAreNotHandedOnAgain) {
  queue_->queue(commit_of(100, {row("msg_a"), row("msg_b")}));
  queue_->write();
  EXPECT_EQ(handed_, (std::vector<std::string>{"msg_a {}", "msg_b {}"}));

  // msg_a is still pending (its delivery is under way): another replica's copy of it, and a
  // second copy within one batch, are not sent; the new row is, once.
  handed_.clear();
  queue_->queue(commit_of(130, {row("msg_a", "{\"again\":1}"), row("msg_c")}));
  queue_->queue(commit_of(160, {row("msg_c", "{\"twice\":1}"), row("msg_d")}));
  queue_->write();
  EXPECT_EQ(handed_, (std::vector<std::string>{"msg_c {}", "msg_d {}"}));
  EXPECT_EQ(store_->outbox().size(), 4u);
  EXPECT_EQ(store_->checkpoint("slow"), 160);

  // Delivered and gone from the outbox: the same id is queued and handed on again.
  store_->delivered("msg_a");
  handed_.clear();
  queue_->queue(commit_of(190, {row("msg_a", "{\"again\":1}")}));
  queue_->write();
  EXPECT_EQ(handed_, (std::vector<std::string>{"msg_a {\"again\":1}"}));
}
