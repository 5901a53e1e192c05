// Where qoewatchd's log lines go and how they look: always stderr (stdout belongs to
// --check-config, --dead-letters and --dry-run output).
#pragma once

#include <string>

namespace qoewatch::run {

/// True when stderr is the journal's stream: JOURNAL_STREAM (set by systemd) names the device
/// and inode stderr is open on.
bool stderr_is_journal();

/// Makes spdlog's default logger write to stderr at `level` ("info", ...), as `format`:
///   "text": "<time> <level> <message>", or, when stderr_is_journal(), "<N><message>" with the
///           syslog priority N and no time (journald stamps and classifies each line itself);
///   "json": one {"time","level","message"} object per line, for log shippers.
void setup_logging(const std::string& level, const std::string& format);

}  // namespace qoewatch::run
