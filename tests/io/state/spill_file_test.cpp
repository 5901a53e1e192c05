// A poll's spill file: what a row log writes comes back byte for byte, nothing of it is left
// in the folder, and a folder it cannot write to is an error naming it.
#include "state/spill_file.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <system_error>

#include "evaluate/row_log.hpp"

using namespace qoewatch;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
  fs::path path = fs::temp_directory_path() / ("qoewatch-spill-test." + std::to_string(getpid()));
  temp_dir() { fs::create_directories(path); }
  ~temp_dir() { fs::remove_all(path); }
};

}  // namespace

TEST(SpillFile, RowsSpilledComeBackAndLeaveNoFileBehind) {
  temp_dir dir;
  evaluate::row_log::options o;
  o.memory_budget = 4096;
  o.chunk_bytes = 1024;
  o.make_spill = [&] { return std::make_unique<state::spill_file>(dir.path.string()); };
  evaluate::row_log log(std::move(o));
  fetch::session_row row;
  for (int i = 0; i < 5000; ++i) {
    row.sessionid = "session-" + std::to_string(i);
    row.endtime = 1775750000 + i;
    row.metrics = {i * 0.5, -1.0 * i};
    row.fields = {i % 2 ? "edgeA" : "", std::string(static_cast<std::size_t>(i % 50), 'x')};
    log.append(row);
  }
  ASSERT_TRUE(log.spilled());
  EXPECT_LE(log.bytes_in_memory(), 4096u + 1024u);
  EXPECT_TRUE(fs::is_empty(dir.path));  // the file has no name
  EXPECT_TRUE(log.sessionid_is(17, "session-17"));
  EXPECT_FALSE(log.sessionid_is(17, "session-18"));
  log.truncate(1234);  // back into a spilled chunk
  row.sessionid = "after";
  log.append(row);
  int i = 0;
  for (evaluate::row_log::reader r(log); r.next(row); ++i) {
    if (i == 1234) {
      EXPECT_EQ(row.sessionid, "after");
      continue;
    }
    ASSERT_EQ(row.sessionid, "session-" + std::to_string(i));
    ASSERT_EQ(row.endtime, 1775750000 + i);
    ASSERT_EQ(row.metrics, (std::vector<double>{i * 0.5, -1.0 * i}));
    ASSERT_EQ(row.fields[1].size(), static_cast<std::size_t>(i % 50));
  }
  EXPECT_EQ(i, 1235);
}

TEST(SpillFile, AFolderItCannotUseIsAnErrorNamingIt) {
  try {
    state::spill_file f("/nonexistent/qoewatch-spill");
    ADD_FAILURE() << "no error";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/qoewatch-spill"), std::string::npos)
        << e.what();
  }
}
