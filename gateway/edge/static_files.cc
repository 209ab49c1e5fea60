// Static file resolution: strict path decoding, real-path containment, content types, ETags.
#include "edge/static_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/url/parse.hpp>
#include <boost/url/pct_string_view.hpp>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace herald {

namespace fs = std::filesystem;

namespace {

std::string_view ContentType(const fs::path& name) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 12> kTypes = {{
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
      {".wasm", "application/wasm"},
      {".woff2", "font/woff2"},
  }};
  std::string extension = absl::AsciiStrToLower(name.extension().string());
  for (const auto& [known, type] : kTypes) {
    if (extension == known) return type;
  }
  return "application/octet-stream";
}

absl::Status NotServed() { return absl::NotFoundError("not a static file"); }

}  // namespace

absl::StatusOr<std::unique_ptr<StaticFiles>> StaticFiles::Open(const fs::path& root) {
  std::error_code error;
  fs::path canonical = fs::canonical(root, error);
  if (error) return absl::NotFoundError(absl::StrCat(root.string(), ": ", error.message()));
  if (!fs::is_directory(canonical, error)) {
    return absl::FailedPreconditionError(absl::StrCat(root.string(), " is not a directory"));
  }
  return std::unique_ptr<StaticFiles>(new StaticFiles(std::move(canonical)));
}

absl::StatusOr<StaticFile> StaticFiles::Resolve(std::string_view target) const {
  boost::system::result<boost::urls::url_view> url = boost::urls::parse_origin_form(target);
  if (!url) return NotServed();
  // Each segment is decoded once, on its own: an encoded '/' never becomes a separator, and
  // what a decoded segment could smuggle is refused rather than normalised away.
  fs::path requested = root_;
  std::string_view path = url->encoded_path();
  while (!path.empty()) {
    path.remove_prefix(1);  // The '/' before each segment.
    std::string_view encoded = path.substr(0, path.find('/'));
    path.remove_prefix(encoded.size());
    boost::system::result<boost::urls::pct_string_view> valid =
        boost::urls::make_pct_string_view(encoded);
    if (!valid) return NotServed();
    std::string segment = valid->decode();
    if (segment.empty()) continue;
    if (segment.front() == '.' ||
        segment.find_first_of(std::string_view("/\\\0", 3)) != std::string::npos) {
      return NotServed();
    }
    requested /= segment;
  }
  std::error_code error;
  std::optional<fs::path> file = Inside(requested);
  if (file && fs::is_directory(*file, error)) {
    requested /= "index.html";
    file = Inside(requested);
  }
  struct stat info {};
  if (!file || ::stat(file->c_str(), &info) != 0 || !S_ISREG(info.st_mode)) {
    return NotServed();
  }
  uint64_t size = static_cast<uint64_t>(info.st_size);
  if (size > kMaxFileBytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "static file ", file->string(), " is not served: over ", kMaxFileBytes, " bytes"));
  }
  uint64_t mtime_ns = static_cast<uint64_t>(info.st_mtim.tv_sec) * 1000000000 +
                      static_cast<uint64_t>(info.st_mtim.tv_nsec);
  return StaticFile{*std::move(file), ContentType(requested),
                    absl::StrCat("W/\"", absl::Hex(size), "-", absl::Hex(mtime_ns), "\""), size};
}

std::optional<fs::path> StaticFiles::Inside(const fs::path& path) const {
  std::error_code error;
  fs::path real = fs::canonical(path, error);
  if (error) return std::nullopt;
  // Whole components, so /srv/web2 is not inside /srv/web.
  auto [root_end, below] = std::mismatch(root_.begin(), root_.end(), real.begin(), real.end());
  if (root_end != root_.end()) return std::nullopt;
  for (; below != real.end(); ++below) {
    if (below->native().starts_with('.')) return std::nullopt;
  }
  return real;
}

absl::StatusOr<std::string> ReadStaticFile(const StaticFile& file) {
  // O_NONBLOCK: opening a FIFO swapped in since Resolve would otherwise wait for a writer.
  int fd = ::open(file.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return absl::NotFoundError(absl::StrCat(file.path.string(), ": cannot open"));
  std::string body;
  struct stat info {};
  bool ok = ::fstat(fd, &info) == 0 && S_ISREG(info.st_mode) &&
            static_cast<uint64_t>(info.st_size) <= StaticFiles::kMaxFileBytes;
  if (ok) {
    body.resize(static_cast<size_t>(info.st_size));
    size_t done = 0;
    while (done < body.size()) {
      ssize_t bytes = ::read(fd, body.data() + done, body.size() - done);
      ok = bytes >= 0;
      if (bytes <= 0) break;  // A file that shrank meanwhile is served as it is now.
      done += static_cast<size_t>(bytes);
    }
    body.resize(done);
  }
  ::close(fd);
  if (!ok) {
    return absl::NotFoundError(absl::StrCat(file.path.string(), ": no longer a readable file"));
  }
  return body;
}

bool EtagMatches(std::string_view if_none_match, std::string_view etag) {
  auto opaque = [](std::string_view tag) {
    while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
    while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    return tag;
  };
  while (!if_none_match.empty()) {
    size_t comma = if_none_match.find(',');
    std::string_view tag = opaque(if_none_match.substr(0, comma));
    if (tag == "*" || (!tag.empty() && tag == opaque(etag))) return true;
    if (comma == std::string_view::npos) break;
    if_none_match.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace herald
