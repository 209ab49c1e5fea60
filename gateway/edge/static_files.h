// Static files under one directory (the demo app and the SDK bundle), loaded into memory at
// start and on SIGHUP: a request is a lookup, never a file-system call on the event loop.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace herald {

// A file a GET or HEAD answers with, as it was when loaded.
struct StaticFile {
  std::filesystem::path path;     // Canonical, inside the root.
  std::string_view content_type;  // From the requested name's extension.
  std::string etag;               // Weak, from size and modification time.
  std::shared_ptr<const std::string> body;  // Shared by every name of the file.
  // The body gzipped, for clients that accept it; null for a type that does not compress (or
  // when gzip would not save an eighth of it).
  std::shared_ptr<const std::string> gzipped;
  std::string gzipped_etag;  // The etag of that representation.
};

class StaticFiles {
 public:
  // Larger files are not loaded (a request for one is answered 500; Describe, logged at start
  // and on each reload, counts them).
  static constexpr uint64_t kMaxFileBytes = 16 << 20;
  // What the web root may hold in memory in all; files past it are not loaded either.
  static constexpr uint64_t kMaxTotalBytes = 256 << 20;
  // Directories deeper than this below the root are not walked, and names past this many are
  // not served.
  static constexpr int kMaxDepth = 16;
  static constexpr size_t kMaxFiles = 100000;
  // Entries looked at in one load at most: links between directories cannot make it endless.
  static constexpr size_t kMaxVisits = 1000000;

  // Loads the files under `root`; NOT_FOUND or FAILED_PRECONDITION when it is not a directory.
  static absl::StatusOr<std::unique_ptr<StaticFiles>> Open(const std::filesystem::path& root);

  // Loads the files again (SIGHUP); requests meanwhile are answered from the old ones. On an
  // error (the root is gone) the old files stay.
  absl::Status Reload();

  // The file an origin-form request target names (the query is ignored); a directory names its
  // index.html. NOT_FOUND for anything not served: a malformed path, `.`/`..` segments, NUL,
  // backslash or an encoded '/', hidden names, anything whose real path is outside the root,
  // and anything that is not a regular file. RESOURCE_EXHAUSTED for a file not loaded because
  // of its size. Thread-safe.
  absl::StatusOr<std::shared_ptr<const StaticFile>> Resolve(std::string_view target) const;

  const std::filesystem::path& root() const { return root_; }
  // "N files, B bytes from <root>" (for the log).
  std::string Describe() const;

 private:
  // What one load found: each servable name below the root ("sub/index.html"), with the file
  // or, for one too large to load, null.
  struct Snapshot {
    absl::flat_hash_map<std::string, std::shared_ptr<const StaticFile>> files;
    uint64_t bytes = 0;
    size_t loaded = 0;
    size_t not_loaded = 0;  // Too large, or past kMaxFiles / kMaxVisits.
  };
  class Loader;
  explicit StaticFiles(std::filesystem::path root) : root_(std::move(root)) {}
  std::shared_ptr<const Snapshot> snapshot() const;

  const std::filesystem::path root_;  // Canonical.
  mutable absl::Mutex mutex_;
  std::shared_ptr<const Snapshot> snapshot_ ABSL_GUARDED_BY(mutex_);
};

// Whether an Accept-Encoding header value takes gzip (named, or `*`, without q=0).
bool AcceptsGzip(std::string_view accept_encoding);

// True when an If-None-Match header value (`*` or a list of entity tags) matches `etag`, with
// the weak comparison that GET and HEAD use.
bool EtagMatches(std::string_view if_none_match, std::string_view etag);

}  // namespace herald
