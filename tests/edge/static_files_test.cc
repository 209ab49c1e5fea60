// Static file resolution against a real directory tree: traversal, symlinks, hidden files,
// directories, content types and entity tags.
#include "edge/static_files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace herald {
namespace {

namespace fs = std::filesystem;

class StaticFilesTest : public ::testing::Test {
 protected:
  // <temp>/web is the root; <temp>/secret.txt and <temp>/web2/file.txt are just outside it.
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "herald-static-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    temp_ = pattern;
    root_ = temp_ / "web";
    for (const char* dir : {"web/sub/deeper", "web/empty", "web/.git", "web2"}) {
      fs::create_directories(temp_ / dir);
    }
    for (const char* file :
         {"web/index.html",  "web/app.js",      "web/lib.mjs",        "web/style.css",
          "web/data.json",   "web/app.js.map",  "web/logo.svg",       "web/logo.png",
          "web/favicon.ico", "web/notes.txt",   "web/mod.wasm",       "web/font.woff2",
          "web/blob.bin",    "web/LOUD.HTML",   "web/sub/index.html", "web/sub/deeper/x.js",
          "web/.env",        "web/.git/config", "secret.txt",         "web2/file.txt"}) {
      std::ofstream(temp_ / file) << "contents of " << file;
    }
    auto files = StaticFiles::Open(root_);
    ASSERT_TRUE(files.ok()) << files.status();
    files_ = *std::move(files);
  }

  void TearDown() override { fs::remove_all(temp_); }

  absl::StatusCode Code(std::string_view target) const {
    return files_->Resolve(target).status().code();
  }

  // The path below the root that `target` resolves to; empty when refused.
  std::string Served(std::string_view target) const {
    absl::StatusOr<std::shared_ptr<const StaticFile>> file = files_->Resolve(target);
    if (!file.ok()) return "";
    return (*file)->path.lexically_relative(files_->root()).string();
  }

  // Loads the tree again after a test changed it.
  void Reload() { ASSERT_TRUE(files_->Reload().ok()); }

  fs::path temp_;
  fs::path root_;
  std::unique_ptr<StaticFiles> files_;
};

TEST_F(StaticFilesTest, ServesFilesAndDirectoryIndexes) {
  EXPECT_EQ(Served("/app.js"), "app.js");
  EXPECT_EQ(Served("/app.js?v=3&x=..%2f"), "app.js");
  EXPECT_EQ(Served("/"), "index.html");
  EXPECT_EQ(Served("/sub"), "sub/index.html");
  EXPECT_EQ(Served("/sub/"), "sub/index.html");
  EXPECT_EQ(Served("/sub/deeper/x.js"), "sub/deeper/x.js");
  EXPECT_EQ(Served("/%61pp.js"), "app.js");
  EXPECT_EQ(Served("//app.js"), "app.js");
  absl::StatusOr<std::shared_ptr<const StaticFile>> file = files_->Resolve("/app.js");
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(*(*file)->body, "contents of web/app.js");
}

TEST_F(StaticFilesTest, RefusesTraversal) {
  ASSERT_TRUE(fs::exists(root_ / "../secret.txt"));
  for (std::string_view target : {"/../secret.txt",
                                  "/%2e%2e/secret.txt",
                                  "/%2E%2E/secret.txt",
                                  "/sub/../index.html",
                                  "/sub/%2e%2e/%2e%2e/secret.txt",
                                  "/a/%2e%2e/%2e%2e/x",
                                  "/..%2fsecret.txt",
                                  "/sub%2findex.html",
                                  "/sub%2Findex.html",
                                  "/..\\secret.txt",
                                  "/%2e%2e%5csecret.txt",
                                  "/sub%5cindex.html",
                                  "/app.js%00.html",
                                  "/./app.js",
                                  "/%2e/app.js",
                                  "/.",
                                  "/%zz",
                                  "http://host/app.js",
                                  "*",
                                  ""}) {
    EXPECT_EQ(Code(target), absl::StatusCode::kNotFound) << target;
  }
}

TEST_F(StaticFilesTest, RefusesHiddenFilesAndMissingOnes) {
  EXPECT_EQ(Code("/.env"), absl::StatusCode::kNotFound);
  EXPECT_EQ(Code("/.git/config"), absl::StatusCode::kNotFound);
  EXPECT_EQ(Code("/%2egit/config"), absl::StatusCode::kNotFound);
  EXPECT_EQ(Code("/missing.js"), absl::StatusCode::kNotFound);
  // A link whose target is hidden is refused too.
  fs::create_symlink(".env", root_ / "env.txt");
  Reload();
  EXPECT_EQ(Code("/env.txt"), absl::StatusCode::kNotFound);
}

TEST_F(StaticFilesTest, RefusesDirectoriesWithoutIndexAndNonRegularFiles) {
  EXPECT_EQ(Code("/empty"), absl::StatusCode::kNotFound);
  EXPECT_EQ(Code("/empty/"), absl::StatusCode::kNotFound);
  EXPECT_EQ(Code("/sub/deeper/"), absl::StatusCode::kNotFound);
  // A FIFO is skipped at load, never opened (that would wait for a writer).
  ASSERT_EQ(mkfifo((root_ / "pipe.js").c_str(), 0600), 0);
  Reload();
  EXPECT_EQ(Code("/pipe.js"), absl::StatusCode::kNotFound);
  // An index.html that is a directory is not a file either.
  fs::create_directories(root_ / "empty/index.html");
  Reload();
  EXPECT_EQ(Code("/empty/"), absl::StatusCode::kNotFound);
}

TEST_F(StaticFilesTest, SymlinksMayNotLeaveTheRoot) {
  fs::create_symlink(temp_ / "secret.txt", root_ / "absolute.txt");
  fs::create_symlink("../secret.txt", root_ / "relative.txt");
  fs::create_symlink(temp_, root_ / "up");
  fs::create_symlink("/etc/passwd", root_ / "passwd.txt");
  // A sibling whose name starts with the root's: not inside it.
  fs::create_symlink(temp_ / "web2/file.txt", root_ / "sibling.txt");
  fs::create_symlink(temp_ / "web2", root_ / "sibling");
  Reload();
  for (std::string_view target :
       {"/absolute.txt", "/relative.txt", "/up/secret.txt", "/up/web2/file.txt", "/passwd.txt",
        "/sibling.txt", "/sibling/file.txt"}) {
    EXPECT_EQ(Code(target), absl::StatusCode::kNotFound) << target;
  }
}

TEST_F(StaticFilesTest, SymlinksInsideTheRootAreFollowed) {
  fs::create_symlink("app.js", root_ / "current.js");
  fs::create_symlink("sub", root_ / "alias");
  // Links back up to a directory being walked (a loop) are not followed.
  fs::create_symlink("..", root_ / "sub/deeper/up");
  fs::create_symlink(".", root_ / "here");
  Reload();
  EXPECT_EQ(Served("/current.js"), "app.js");
  EXPECT_EQ(Served("/alias/"), "sub/index.html");
  EXPECT_EQ(Code("/here/app.js"), absl::StatusCode::kNotFound);
  EXPECT_EQ(Code("/sub/deeper/up/index.html"), absl::StatusCode::kNotFound);
  // The content type follows the requested name; the bytes are loaded once for both names.
  EXPECT_EQ((*files_->Resolve("/current.js"))->content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ((*files_->Resolve("/current.js"))->body, (*files_->Resolve("/app.js"))->body);
}

TEST_F(StaticFilesTest, ARootReachedThroughASymlinkWorks) {
  fs::create_symlink(root_, temp_ / "link-to-web");
  absl::StatusOr<std::unique_ptr<StaticFiles>> files = StaticFiles::Open(temp_ / "link-to-web");
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_TRUE((*files)->Resolve("/app.js").ok());
  EXPECT_FALSE((*files)->Resolve("/../secret.txt").ok());
}

TEST_F(StaticFilesTest, OpenNeedsAnExistingDirectory) {
  EXPECT_EQ(StaticFiles::Open(temp_ / "nowhere").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(StaticFiles::Open(temp_ / "secret.txt").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(StaticFilesTest, ContentTypesFollowTheExtension) {
  for (auto [target, type] :
       {std::pair<std::string_view, std::string_view>{"/index.html", "text/html; charset=utf-8"},
        {"/LOUD.HTML", "text/html; charset=utf-8"},
        {"/", "text/html; charset=utf-8"},
        {"/app.js", "text/javascript; charset=utf-8"},
        {"/lib.mjs", "text/javascript; charset=utf-8"},
        {"/style.css", "text/css; charset=utf-8"},
        {"/data.json", "application/json"},
        {"/app.js.map", "application/json"},
        {"/logo.svg", "image/svg+xml"},
        {"/logo.png", "image/png"},
        {"/favicon.ico", "image/x-icon"},
        {"/notes.txt", "text/plain; charset=utf-8"},
        {"/mod.wasm", "application/wasm"},
        {"/font.woff2", "font/woff2"},
        {"/blob.bin", "application/octet-stream"}}) {
    absl::StatusOr<std::shared_ptr<const StaticFile>> file = files_->Resolve(target);
    ASSERT_TRUE(file.ok()) << target;
    EXPECT_EQ((*file)->content_type, type) << target;
  }
}

TEST_F(StaticFilesTest, FilesAreServedAsLoadedUntilTheNextReload) {
  std::string before = (*files_->Resolve("/app.js"))->etag;
  EXPECT_TRUE(before.starts_with("W/\"")) << before;
  std::ofstream(root_ / "app.js") << "a longer new build of app.js";
  std::ofstream(root_ / "new.js") << "new";
  // A request is a lookup in what was loaded: nothing changes until a reload.
  EXPECT_EQ((*files_->Resolve("/app.js"))->etag, before);
  EXPECT_EQ(*(*files_->Resolve("/app.js"))->body, "contents of web/app.js");
  EXPECT_EQ(Code("/new.js"), absl::StatusCode::kNotFound);
  Reload();
  std::string after = (*files_->Resolve("/app.js"))->etag;
  EXPECT_NE(before, after);
  EXPECT_EQ(*(*files_->Resolve("/app.js"))->body, "a longer new build of app.js");
  EXPECT_EQ(Served("/new.js"), "new.js");
  fs::remove(root_ / "new.js");
  Reload();
  EXPECT_EQ(Code("/new.js"), absl::StatusCode::kNotFound);
}

TEST_F(StaticFilesTest, AReloadOfARootThatIsGoneKeepsTheFilesLoaded) {
  fs::remove_all(root_);
  EXPECT_FALSE(files_->Reload().ok());
  EXPECT_EQ(Served("/app.js"), "app.js");
}

TEST_F(StaticFilesTest, WeakEtagsCompareAsGetAndHeadDo) {
  std::string etag = (*files_->Resolve("/app.js"))->etag;
  EXPECT_TRUE(EtagMatches(etag, etag));
  EXPECT_TRUE(EtagMatches("\"x\", " + etag, etag));
  EXPECT_TRUE(EtagMatches(etag.substr(2), etag));  // Weak comparison ignores W/.
  EXPECT_TRUE(EtagMatches("*", etag));
  EXPECT_FALSE(EtagMatches("W/\"other\"", etag));
  EXPECT_FALSE(EtagMatches("", etag));
  EXPECT_FALSE(EtagMatches(" , ", etag));
}

TEST_F(StaticFilesTest, FilesOverTheLimitAreRefusedNotRead) {
  fs::resize_file(root_ / "blob.bin", StaticFiles::kMaxFileBytes + 1);  // Sparse: no real bytes.
  Reload();
  EXPECT_EQ(Code("/blob.bin"), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Served("/app.js"), "app.js");
}

TEST(AcceptsGzip, ReadsTheCodingsAndTheirWeights) {
  EXPECT_TRUE(AcceptsGzip("gzip, deflate, br"));
  EXPECT_TRUE(AcceptsGzip("br;q=1.0, GZIP;q=0.5"));
  EXPECT_TRUE(AcceptsGzip("*"));
  EXPECT_FALSE(AcceptsGzip(""));
  EXPECT_FALSE(AcceptsGzip("identity"));
  EXPECT_FALSE(AcceptsGzip("br, gzip;q=0"));
  EXPECT_FALSE(AcceptsGzip("gzip; q=0.000"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=bogus"));
  EXPECT_FALSE(AcceptsGzip("*, gzip;q=0"));  // Named, it wins over the wildcard.
  EXPECT_TRUE(AcceptsGzip("*;q=0.1, identity"));
}

}  // namespace
}  // namespace herald
