// Inside the config module: the toolkit its section parsers read YAML with. A yaml::node is a
// YAML node together with what every message about it needs (the file, the key path, the
// position), so parsers never pass those along. Every getter reports its own problem into the
// document's error list and returns std::nullopt for a value it rejected; none throws (a YAML
// syntax error is caught by yaml::parse and becomes a diagnostic too).
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "config/diagnostic.hpp"
#include "duration.hpp"

namespace qoewatch::config::yaml {

/// One file being read: its name as messages show it, the folder its relative paths start
/// from, and where its errors go (shared by every file of one load).
struct document {
  std::string file;
  std::filesystem::path dir;
  std::vector<diagnostic>* errors = nullptr;
};

/// Parses `text`. A syntax error is appended to `errors` (as `file`'s) and gives std::nullopt.
std::optional<YAML::Node> parse(std::string_view text, const std::string& file,
                                std::vector<diagnostic>& errors);

/// A node of a document under its key path ("" for the document itself).
class node {
 public:
  node(const document& doc, YAML::Node value, std::string path);

  const document& doc() const { return *doc_; }
  const YAML::Node& yaml() const { return value_; }
  const std::string& path() const { return path_; }
  /// False for the node of a key that is not there.
  explicit operator bool() const { return value_.IsDefined(); }
  /// This node's position, for values that keep it (source_location is 1-based).
  source_location where() const;
  /// How many errors the document's load has collected so far.
  std::size_t error_count() const { return doc_->errors->size(); }

  // ---- children ----
  /// The value of `key` (path "parent.key"); test it before use, it may be absent.
  node operator[](std::string_view key) const;
  /// Element `i` of a list (path "parent[i]").
  node at(std::size_t i) const;
  std::size_t size() const { return value_.size(); }
  bool is_map() const { return value_.IsMap(); }
  bool is_list() const { return value_.IsSequence(); }
  /// Calls f(key text, key node, value node) for each entry of a map, in file order; both nodes
  /// have the path "parent.key".
  void for_each_entry(
      const std::function<void(const std::string&, const node&, const node&)>& f) const;

  // ---- problems ----
  /// At this node, under its path.
  void error(std::string message) const;
  /// At this node, under another path (a setting that is wrong because of this one).
  void error(std::string path, std::string message) const;
  /// At character `offset` of this single-line scalar's text (a parse error inside it).
  void error_at(std::size_t offset, std::string message) const;
  /// `key` is absent from this map: at this node, under the key's path.
  void missing(std::string_view key, std::string message) const;

  // ---- checked values ----
  /// Reports keys not in `known` ("did you mean", or the valid keys when nothing is close);
  /// `explain` may give a message of its own for a key instead. False when this is not a map
  /// ("must be a mapping (`what`)").
  bool check_map(const std::vector<std::string_view>& known, std::string_view what,
                 const std::function<std::optional<std::string>(const std::string& key)>&
                     explain = {}) const;
  std::optional<std::string> text(bool allow_empty = false) const;
  /// true or false, spelled so: yes, on and 1 mean true in some YAML readers and text in
  /// others, so they are refused rather than guessed.
  std::optional<bool> boolean() const;
  /// 30s, 5m, 1h; 0s only with `allow_zero`.
  std::optional<duration> duration_value(bool allow_zero) const;
  /// A whole number in [lo, hi]; `what` says what it counts, in the hint.
  std::optional<std::int64_t> whole_number(std::int64_t lo, std::int64_t hi,
                                           std::string_view what) const;
  /// A finite number in [lo, hi].
  std::optional<double> number(double lo, double hi, std::string_view what) const;
  /// A byte count: 1048576, 512KiB, 64MiB, 1GiB.
  std::optional<std::uint64_t> byte_size() const;
  /// A list of non-empty strings, each with its node; `example` shows how to write one.
  std::optional<std::vector<std::pair<std::string, node>>> string_list(
      std::string_view example) const;
  /// An http(s) URL (see url_problem).
  std::optional<std::string> http_url() const;
  /// A path: absolute, or relative to the document's folder.
  std::optional<std::string> local_path() const;
  /// The path of a file a secret is read from: as local_path, but a path under
  /// $CREDENTIALS_DIRECTORY is kept as written (systemd sets that variable for the service
  /// alone, so it is expanded when the secrets are read).
  std::optional<std::string> secret_path() const;

 private:
  YAML::Mark mark() const;
  void report(const YAML::Mark& at, std::string path, std::string message) const;

  const document* doc_;
  YAML::Node value_;
  std::string path_;
};

}  // namespace qoewatch::config::yaml
