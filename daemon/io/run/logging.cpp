#include "run/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "service/status.hpp"

namespace qoewatch::run {

namespace {

std::string_view level_name(spdlog::level::level_enum l) {
  auto sv = spdlog::level::to_string_view(l);
  return {sv.data(), sv.size()};
}

// "<6>message": journald reads the priority from the prefix and adds the time itself.
class journal_formatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string prefix =
        "<" + std::to_string(service::syslog_priority(level_name(msg.level))) + ">";
    dest.append(prefix.data(), prefix.data() + prefix.size());
    dest.append(msg.payload.data(), msg.payload.data() + msg.payload.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<journal_formatter>();
  }
};

class json_formatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line = service::json_log_line(
        msg.time, level_name(msg.level), std::string_view(msg.payload.data(), msg.payload.size()));
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_formatter>();
  }
};

}  // namespace

bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (::fstat(2, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

void setup_logging(const std::string& level, const std::string& format) {
  auto logger = spdlog::stderr_logger_st("qoewatchd");
  if (format == "json")
    logger->set_formatter(std::make_unique<json_formatter>());
  else if (stderr_is_journal())
    logger->set_formatter(std::make_unique<journal_formatter>());
  else
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l %v");
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

}  // namespace qoewatch::run
