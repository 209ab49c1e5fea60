// Static files under one directory (the demo app and the SDK bundle): request paths mapped to
// files without ever leaving that directory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace herald {

// A file a GET or HEAD may answer with, as it was when resolved.
struct StaticFile {
  std::filesystem::path path;     // Canonical, inside the root.
  std::string_view content_type;  // From the requested name's extension.
  std::string etag;               // Weak, from size and modification time.
  uint64_t size = 0;
};

class StaticFiles {
 public:
  // Larger files are refused rather than read into memory for each request.
  static constexpr uint64_t kMaxFileBytes = 16 << 20;

  // Serves the files under `root`; NOT_FOUND or FAILED_PRECONDITION when it is not a directory.
  static absl::StatusOr<std::unique_ptr<StaticFiles>> Open(const std::filesystem::path& root);

  // The file an origin-form request target names (the query is ignored); a directory names its
  // index.html. NOT_FOUND for anything not served: a malformed path, `.`/`..` segments, NUL,
  // backslash or an encoded '/', hidden names, anything whose real path is outside the root,
  // and anything that is not a regular file. RESOURCE_EXHAUSTED for a file over kMaxFileBytes.
  // Thread-safe: it only reads the file system.
  absl::StatusOr<StaticFile> Resolve(std::string_view target) const;

  const std::filesystem::path& root() const { return root_; }

 private:
  explicit StaticFiles(std::filesystem::path root) : root_(std::move(root)) {}
  // The real path of `path` when it exists inside the root with no hidden part below it.
  std::optional<std::filesystem::path> Inside(const std::filesystem::path& path) const;

  const std::filesystem::path root_;  // Canonical.
};

// The bytes of a resolved file. NOT_FOUND when it is no longer a regular file within the size
// limit; never blocks on a file swapped for a FIFO since it was resolved.
absl::StatusOr<std::string> ReadStaticFile(const StaticFile& file);

// True when an If-None-Match header value (`*` or a list of entity tags) matches `etag`, with
// the weak comparison that GET and HEAD use.
bool EtagMatches(std::string_view if_none_match, std::string_view etag);

}  // namespace herald
