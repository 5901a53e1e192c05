// How the stores write list-valued fields as text, the same in SQLite and PostgreSQL (so that
// state copied from one to the other reads back alike). Pure code.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace qoewatch::state {

/// A firing group as a JSON array of [dimension, value] pairs:
/// [["cdn","edgeB"],["platform","Android"]]. Dimension order kept, any text safe.
std::string group_text(const std::vector<std::pair<std::string, std::string>>& group);
/// The pairs of group_text's text; the well-formed pairs only of anything else.
std::vector<std::pair<std::string, std::string>> group_of(const std::string& text);

/// Sink names joined by commas (sink names hold no comma).
std::string sinks_text(const std::vector<std::string>& sinks);
/// The names of sinks_text's text; none for "".
std::vector<std::string> sinks_of(const std::string& text);

}  // namespace qoewatch::state
