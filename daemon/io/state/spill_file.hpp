// A poll's spill (evaluate/row_log.hpp): an unnamed temporary file in the system's temporary
// folder ($TMPDIR, else /tmp; the unit's PrivateTmp), so a poll with more offending rows than
// its memory budget keeps the rest on disk. Nothing is left behind: the file has no name
// (O_TMPFILE; where unsupported it is unlinked at once) and vanishes when closed, after a
// crash too. Failures throw std::system_error naming the folder. One thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "evaluate/row_log.hpp"

namespace qoewatch::state {

class spill_file final : public evaluate::spill {
 public:
  /// Creates the file in `dir` (default: the system's temporary folder).
  explicit spill_file(const std::string& dir = {});
  ~spill_file() override;
  spill_file(const spill_file&) = delete;
  spill_file& operator=(const spill_file&) = delete;

  void write(std::uint64_t offset, std::string_view bytes) override;
  void read(std::uint64_t offset, std::span<char> out) override;

 private:
  std::string dir_;
  int fd_ = -1;
};

}  // namespace qoewatch::state
