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

#include <zlib.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"

namespace herald {

namespace fs = std::filesystem;

namespace {

std::string_view ContentType(const fs::path& name) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 13> kTypes = {{
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
      {".ts", "text/plain; charset=utf-8"},  // herald.d.ts: read by editors, never run.
      {".wasm", "application/wasm"},
      {".woff2", "font/woff2"},
  }};
  std::string extension = absl::AsciiStrToLower(name.extension().string());
  for (const auto& [known, type] : kTypes) {
    if (extension == known) return type;
  }
  return "application/octet-stream";
}

// Types that gzip well: text, and the JSON, SVG and WebAssembly served with the SDK.
bool Compressible(std::string_view content_type) {
  return content_type.starts_with("text/") || content_type == "application/json" ||
         content_type == "image/svg+xml" || content_type == "application/wasm";
}

// `bytes` in the gzip format (zlib's default level: a reload of a large root stays quick);
// nullopt when zlib fails.
std::optional<std::string> Gzip(std::string_view bytes) {
  z_stream stream{};
  constexpr int kGzipWindowBits = 15 + 16;  // 16: a gzip header and trailer, not zlib's.
  if (deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, kGzipWindowBits, 9,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    return std::nullopt;
  }
  std::string out(deflateBound(&stream, bytes.size()), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  stream.avail_in = static_cast<uInt>(bytes.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  int result = deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  if (result != Z_STREAM_END) return std::nullopt;
  return out;
}

absl::Status NotServed() { return absl::NotFoundError("not a static file"); }

// Whether `real` (canonical) lies inside `root` with no hidden name below it.
bool Inside(const fs::path& root, const fs::path& real) {
  // Whole components, so /srv/web2 is not inside /srv/web.
  auto [root_end, below] = std::mismatch(root.begin(), root.end(), real.begin(), real.end());
  if (root_end != root.end()) return false;
  for (; below != real.end(); ++below) {
    if (below->native().starts_with('.')) return false;
  }
  return true;
}

// The bytes of regular file `path`, at most `max_bytes` of them; nullopt when it is not one (or
// no longer). Never blocks on a FIFO.
std::optional<std::string> ReadRegularFile(const fs::path& path, uint64_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return std::nullopt;
  std::string body;
  struct stat info {};
  bool ok = ::fstat(fd, &info) == 0 && S_ISREG(info.st_mode) &&
            static_cast<uint64_t>(info.st_size) <= max_bytes;
  if (ok) {
    body.resize(static_cast<size_t>(info.st_size));
    size_t done = 0;
    while (done < body.size()) {
      ssize_t bytes = ::read(fd, body.data() + done, body.size() - done);
      ok = bytes >= 0;
      if (bytes <= 0) break;  // A file that shrank meanwhile is loaded as it is now.
      done += static_cast<size_t>(bytes);
    }
    body.resize(done);
  }
  ::close(fd);
  if (!ok) return std::nullopt;
  return body;
}

}  // namespace

// One load of the web root: walks it depth first, following symlinks that stay inside it.
class StaticFiles::Loader {
 public:
  Loader(const fs::path& root, Snapshot& snapshot) : root_(root), snapshot_(snapshot) {}

  void Directory(const fs::path& real, const std::string& name, int depth) {
    if (depth > kMaxDepth) return;
    directories_.push_back(real);  // On the path from the root: a link back to one is a loop.
    std::error_code error;
    for (fs::directory_iterator it(real, error), end; !error && it != end; it.increment(error)) {
      if (++visits_ > kMaxVisits) {
        ++snapshot_.not_loaded;
        break;
      }
      std::string entry = it->path().filename().string();
      if (entry.starts_with('.')) continue;
      Entry(it->path(), name.empty() ? entry : absl::StrCat(name, "/", entry), depth);
    }
    directories_.pop_back();
  }

 private:
  void Entry(const fs::path& path, const std::string& name, int depth) {
    std::error_code error;
    fs::path real = fs::canonical(path, error);
    struct stat info {};
    if (error || !Inside(root_, real) || ::stat(real.c_str(), &info) != 0) return;
    if (S_ISDIR(info.st_mode)) {
      if (std::find(directories_.begin(), directories_.end(), real) == directories_.end()) {
        Directory(real, name, depth + 1);
      }
      return;
    }
    if (!S_ISREG(info.st_mode)) return;
    if (snapshot_.files.size() >= kMaxFiles) {
      ++snapshot_.not_loaded;
      return;
    }
    std::shared_ptr<const std::string> body = Body(real, static_cast<uint64_t>(info.st_size));
    if (!body) {
      snapshot_.files[name] = nullptr;  // Too large: refused by name, not unknown.
      ++snapshot_.not_loaded;
      return;
    }
    uint64_t mtime_ns = static_cast<uint64_t>(info.st_mtim.tv_sec) * 1000000000 +
                        static_cast<uint64_t>(info.st_mtim.tv_nsec);
    std::string_view content_type = ContentType(name);
    std::string etag = absl::StrCat(absl::Hex(body->size()), "-", absl::Hex(mtime_ns));
    std::shared_ptr<const std::string> gzipped =
        Compressible(content_type) ? Gzipped(real, *body) : nullptr;
    snapshot_.files[name] = std::make_shared<const StaticFile>(
        StaticFile{real, content_type, absl::StrCat("W/\"", etag, "\""), body, gzipped,
                   gzipped ? absl::StrCat("W/\"", etag, "-gzip\"") : std::string()});
  }

  // The gzipped form of the file's bytes, made once whatever its names; null when it saves
  // less than an eighth.
  std::shared_ptr<const std::string> Gzipped(const fs::path& real, const std::string& body) {
    auto [known, added] = gzipped_.try_emplace(real.string());
    if (!added) return known->second;
    std::optional<std::string> gzipped = Gzip(body);
    if (!gzipped || gzipped->size() > body.size() - body.size() / 8 ||
        snapshot_.bytes + gzipped->size() > kMaxTotalBytes) {
      return nullptr;
    }
    snapshot_.bytes += gzipped->size();
    known->second = std::make_shared<const std::string>(*std::move(gzipped));
    return known->second;
  }

  // The file's bytes, read once whatever the number of names it has; null when it does not fit.
  std::shared_ptr<const std::string> Body(const fs::path& real, uint64_t size) {
    auto [known, added] = bodies_.try_emplace(real.string());
    if (!added) return known->second;
    if (size > kMaxFileBytes || snapshot_.bytes + size > kMaxTotalBytes) return nullptr;
    std::optional<std::string> bytes = ReadRegularFile(real, kMaxFileBytes);
    if (!bytes || snapshot_.bytes + bytes->size() > kMaxTotalBytes) return nullptr;
    snapshot_.bytes += bytes->size();
    ++snapshot_.loaded;
    known->second = std::make_shared<const std::string>(*std::move(bytes));
    return known->second;
  }

  const fs::path& root_;
  Snapshot& snapshot_;
  std::vector<fs::path> directories_;
  size_t visits_ = 0;
  absl::flat_hash_map<std::string, std::shared_ptr<const std::string>> bodies_;
  absl::flat_hash_map<std::string, std::shared_ptr<const std::string>> gzipped_;
};

absl::StatusOr<std::unique_ptr<StaticFiles>> StaticFiles::Open(const fs::path& root) {
  std::error_code error;
  fs::path canonical = fs::canonical(root, error);
  if (error) return absl::NotFoundError(absl::StrCat(root.string(), ": ", error.message()));
  if (!fs::is_directory(canonical, error)) {
    return absl::FailedPreconditionError(absl::StrCat(root.string(), " is not a directory"));
  }
  std::unique_ptr<StaticFiles> files(new StaticFiles(std::move(canonical)));
  if (absl::Status status = files->Reload(); !status.ok()) return status;
  return files;
}

absl::Status StaticFiles::Reload() {
  std::error_code error;
  if (!fs::is_directory(root_, error)) {
    return absl::NotFoundError(absl::StrCat(root_.string(), " is no longer a directory"));
  }
  auto snapshot = std::make_shared<Snapshot>();
  Loader(root_, *snapshot).Directory(root_, "", 0);
  absl::MutexLock lock(&mutex_);
  snapshot_ = std::move(snapshot);
  return absl::OkStatus();
}

std::shared_ptr<const StaticFiles::Snapshot> StaticFiles::snapshot() const {
  absl::MutexLock lock(&mutex_);
  return snapshot_;
}

std::string StaticFiles::Describe() const {
  std::shared_ptr<const Snapshot> files = snapshot();
  return absl::StrCat("static files from ", root_.string(), ": ", files->loaded, " files, ",
                      files->bytes, " bytes",
                      files->not_loaded == 0
                          ? ""
                          : absl::StrCat(", ", files->not_loaded,
                                         " not loaded or not walked (over 16 MiB each, 256 MiB "
                                         "in all, 100000 names, 1000000 entries)"));
}

absl::StatusOr<std::shared_ptr<const StaticFile>> StaticFiles::Resolve(
    std::string_view target) const {
  boost::system::result<boost::urls::url_view> url = boost::urls::parse_origin_form(target);
  if (!url) return NotServed();
  // Each segment is decoded once, on its own: an encoded '/' never becomes a separator, and
  // what a decoded segment could smuggle is refused rather than normalised away.
  std::string name;
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
    absl::StrAppend(&name, name.empty() ? "" : "/", segment);
  }
  std::shared_ptr<const Snapshot> files = snapshot();
  auto file = files->files.find(name);
  if (file == files->files.end()) {
    file = files->files.find(name.empty() ? "index.html" : absl::StrCat(name, "/index.html"));
  }
  if (file == files->files.end()) return NotServed();
  if (file->second == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("static file ", name,
                                                     " is not served: it was too large to load"));
  }
  return file->second;
}

bool AcceptsGzip(std::string_view accept_encoding) {
  // gzip's own weight, else that of `*`: an explicit "gzip;q=0" wins over "*".
  std::optional<double> gzip, any;
  for (absl::string_view coding :
       absl::StrSplit(absl::string_view(accept_encoding.data(), accept_encoding.size()), ',')) {
    std::vector<absl::string_view> parts = absl::StrSplit(coding, ';');
    absl::string_view name = absl::StripAsciiWhitespace(parts[0]);
    bool is_gzip = absl::EqualsIgnoreCase(name, "gzip");
    if (!is_gzip && name != "*") continue;
    double quality = 1;
    for (size_t i = 1; i < parts.size(); ++i) {
      absl::string_view parameter = absl::StripAsciiWhitespace(parts[i]);
      if (absl::ConsumePrefix(&parameter, "q=") || absl::ConsumePrefix(&parameter, "Q=")) {
        if (!absl::SimpleAtod(parameter, &quality)) quality = 0;
      }
    }
    (is_gzip ? gzip : any) = quality;
  }
  return gzip.value_or(any.value_or(0)) > 0;
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
