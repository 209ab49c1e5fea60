// Static files from --web_root through the real gateway: answers, caching, methods, and
// traversal attempts sent raw on the socket.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <zlib.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "integration/gateway_test.h"
#include "support/http_request.h"

namespace herald::testing {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kIndex = "<!doctype html><title>Herald demo</title>";
constexpr std::string_view kApp = "console.log('herald');\n";
constexpr std::string_view kSecret = "outside the web root";

class StaticFilesTest : public GatewayTest {
 protected:
  // <temp>/web: index.html, app.js, sub/index.html; <temp>/secret.txt lies outside it.
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "herald-web-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    temp_ = pattern;
    root_ = temp_ / "web";
    fs::create_directories(root_ / "sub");
    std::ofstream(root_ / "index.html") << kIndex;
    std::ofstream(root_ / "app.js") << kApp;
    std::ofstream(root_ / "sub/index.html") << "sub";
    std::ofstream(temp_ / "secret.txt") << kSecret;
  }

  void TearDown() override { fs::remove_all(temp_); }

  // The status line of the answer to `target` sent as is, not normalised by a client library.
  std::string RawStatusLine(std::string_view target) {
    std::string answer =
        RawExchange(http_port(), "GET " + std::string(target) +
                                     " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(answer.find(kSecret), std::string::npos) << target;
    return answer.substr(0, answer.find("\r\n"));
  }

  fs::path temp_;
  fs::path root_;
};

TEST_F(StaticFilesTest, ServesTheIndexAndFilesWithTheirTypes) {
  StartGateway({"--web_root=" + root_.string()});
  HttpResponse index = Fetch(http_port(), "GET", "/");
  EXPECT_EQ(index.status, 200) << index.error;
  EXPECT_EQ(index.body, kIndex);
  EXPECT_EQ(index.Header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(index.Header("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(index.Header("Cache-Control"), "no-cache");
  HttpResponse app = Fetch(http_port(), "GET", "/app.js?v=1");
  EXPECT_EQ(app.status, 200) << app.error;
  EXPECT_EQ(app.body, kApp);
  EXPECT_EQ(app.Header("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(Fetch(http_port(), "GET", "/sub/").body, "sub");
  HttpResponse missing = Fetch(http_port(), "GET", "/missing.js");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.Header("X-Content-Type-Options"), "nosniff");
  EXPECT_TRUE(gateway_->SawLogLine("static files from " + fs::canonical(root_).string()));
}

std::string Gunzip(const std::string& bytes) {
  z_stream stream{};
  if (inflateInit2(&stream, 15 + 16) != Z_OK) return "";
  std::string out(1 << 20, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  stream.avail_in = static_cast<uInt>(bytes.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  int result = inflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  inflateEnd(&stream);
  return result == Z_STREAM_END ? out : "";
}

// A page on another origin may import the SDK (CORS, without credentials), and clients that take
// gzip get it gzipped, as loaded once; a file gzip would not shrink goes as it is.
TEST_F(StaticFilesTest, FilesGoGzippedToClientsThatTakeItAndToAnyOrigin) {
  std::string bundle;
  for (int i = 0; i < 2000; ++i) bundle += "export const answer" + std::to_string(i) + " = 42;\n";
  std::ofstream(root_ / "bundle.js") << bundle;
  StartGateway({"--web_root=" + root_.string()});
  HttpResponse gzipped = Fetch(http_port(), "GET", "/bundle.js", "",
                               {{"Accept-Encoding", "br, gzip;q=0.8"}, {"Origin", "https://a.io"}});
  ASSERT_EQ(gzipped.status, 200);
  EXPECT_EQ(gzipped.Header("Content-Encoding"), "gzip");
  EXPECT_EQ(gzipped.Header("Vary"), "Accept-Encoding");
  EXPECT_EQ(gzipped.Header("Access-Control-Allow-Origin"), "*");
  EXPECT_FALSE(gzipped.Header("Access-Control-Allow-Credentials").has_value());
  EXPECT_LT(gzipped.body.size(), bundle.size() / 4);
  EXPECT_EQ(Gunzip(gzipped.body), bundle);
  // Revalidating the gzipped form matches its own tag.
  std::optional<std::string> tag = gzipped.Header("ETag");
  ASSERT_TRUE(tag.has_value());
  EXPECT_EQ(Fetch(http_port(), "GET", "/bundle.js", "",
                  {{"Accept-Encoding", "gzip"}, {"If-None-Match", *tag}})
                .status,
            304);
  HttpResponse plain = Fetch(http_port(), "GET", "/bundle.js", "", {{"Accept-Encoding", "gzip;q=0"}});
  EXPECT_FALSE(plain.Header("Content-Encoding").has_value());
  EXPECT_EQ(plain.body, bundle);
  EXPECT_NE(plain.Header("ETag"), tag);
  HttpResponse tiny = Fetch(http_port(), "GET", "/app.js", "", {{"Accept-Encoding", "gzip"}});
  EXPECT_FALSE(tiny.Header("Content-Encoding").has_value());
  EXPECT_EQ(tiny.body, kApp);
}

TEST_F(StaticFilesTest, RevalidationAnswers304) {
  StartGateway({"--web_root=" + root_.string()});
  HttpResponse first = Fetch(http_port(), "GET", "/app.js");
  std::optional<std::string> etag = first.Header("ETag");
  ASSERT_TRUE(etag.has_value());
  EXPECT_TRUE(etag->starts_with("W/\"")) << *etag;
  HttpResponse again = Fetch(http_port(), "GET", "/app.js", "", {{"If-None-Match", *etag}});
  EXPECT_EQ(again.status, 304) << again.error;
  EXPECT_EQ(again.body, "");
  EXPECT_EQ(again.Header("ETag"), etag);
}

TEST_F(StaticFilesTest, FilesAreLoadedAtStartAndAgainOnSighup) {
  StartGateway({"--web_root=" + root_.string()});
  std::optional<std::string> etag = Fetch(http_port(), "GET", "/app.js").Header("ETag");
  ASSERT_TRUE(etag.has_value());
  // A new build on disk: requests are answered from memory until the gateway reloads.
  std::ofstream(root_ / "app.js") << "console.log('a new build');\n";
  std::ofstream(root_ / "added.js") << "added";
  EXPECT_EQ(Fetch(http_port(), "GET", "/app.js", "", {{"If-None-Match", *etag}}).status, 304);
  EXPECT_EQ(Fetch(http_port(), "GET", "/added.js").status, 404);
  ASSERT_TRUE(gateway_->SendSignal(SIGHUP));
  ASSERT_TRUE(gateway_->WaitForLogLine("reloaded: static files from", kWait));
  // The new build changes the tag: the full file comes back.
  HttpResponse changed = Fetch(http_port(), "GET", "/app.js", "", {{"If-None-Match", *etag}});
  EXPECT_EQ(changed.status, 200);
  EXPECT_EQ(changed.body, "console.log('a new build');\n");
  EXPECT_EQ(Fetch(http_port(), "GET", "/added.js").body, "added");
}

TEST_F(StaticFilesTest, HeadAnswersTheHeadersOnly) {
  StartGateway({"--web_root=" + root_.string()});
  // Raw, to see that no body follows the headers (on a kept-alive connection it would be read
  // as the next answer).
  std::string answer =
      RawExchange(http_port(), "HEAD /app.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(answer.starts_with("HTTP/1.1 200")) << answer;
  EXPECT_NE(answer.find("Content-Length: " + std::to_string(kApp.size()) + "\r\n"),
            std::string::npos)
      << answer;
  EXPECT_NE(answer.find("ETag: W/\""), std::string::npos) << answer;
  EXPECT_TRUE(answer.ends_with("\r\n\r\n")) << answer;
}

TEST_F(StaticFilesTest, OtherMethodsAre405) {
  StartGateway({"--web_root=" + root_.string()});
  HttpResponse post = Fetch(http_port(), "POST", "/index.html", "x");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.Header("Allow"), "GET, HEAD");
  EXPECT_EQ(Fetch(http_port(), "DELETE", "/app.js").status, 405);
}

TEST_F(StaticFilesTest, HeadOfAMissingFileOrAnotherRouteHasNoBodyEither) {
  StartGateway({"--web_root=" + root_.string()});
  // Pipelined on one kept connection: a body after a HEAD answer would be read as the start of
  // the next answer.
  std::string answer = RawExchange(http_port(),
                                   "HEAD /missing.js HTTP/1.1\r\nHost: x\r\n\r\n"
                                   "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                                   "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  size_t second = answer.find("\r\n\r\nHTTP/1.1 200");
  ASSERT_TRUE(answer.starts_with("HTTP/1.1 404")) << answer;
  ASSERT_NE(second, std::string::npos) << answer;
  size_t third = answer.find("\r\n\r\nHTTP/1.1 200", second + 4);
  ASSERT_NE(third, std::string::npos) << answer;
  EXPECT_TRUE(answer.ends_with("\r\n\r\nok\n")) << answer;
}

TEST_F(StaticFilesTest, TraversalAttemptsSentRawAre404) {
  StartGateway({"--web_root=" + root_.string()});
  for (std::string_view target :
       {"/../secret.txt", "/%2e%2e/secret.txt", "/sub/%2e%2e/%2e%2e/secret.txt", "/..%2fsecret.txt",
        "/sub/..%2f..%2fsecret.txt", "/..\\secret.txt", "/%2e%2e%5csecret.txt",
        "/%2e%2e/web/app.js"}) {
    EXPECT_EQ(RawStatusLine(target), "HTTP/1.1 404 Not Found") << target;
  }
  // Absolute-form targets are not mapped to files either.
  EXPECT_EQ(RawStatusLine("http://x/../secret.txt"), "HTTP/1.1 404 Not Found");
}

TEST_F(StaticFilesTest, ASymlinkOutOfTheRootIs404) {
  fs::create_symlink("/etc/passwd", root_ / "passwd.txt");
  fs::create_symlink(temp_ / "secret.txt", root_ / "secret.txt");
  StartGateway({"--web_root=" + root_.string()});
  HttpResponse passwd = Fetch(http_port(), "GET", "/passwd.txt");
  EXPECT_EQ(passwd.status, 404);
  EXPECT_EQ(passwd.body.find("root:"), std::string::npos);
  EXPECT_EQ(RawStatusLine("/secret.txt"), "HTTP/1.1 404 Not Found");
}

TEST_F(StaticFilesTest, NoneTurnsStaticFilesOffAndOtherRoutesStay) {
  StartGateway({"--web_root=none"});
  EXPECT_EQ(Fetch(http_port(), "GET", "/").status, 404);
  EXPECT_EQ(Fetch(http_port(), "GET", "/app.js").status, 404);
  EXPECT_TRUE(gateway_->SawLogLine("static files are off"));
  HttpResponse health = Fetch(http_port(), "GET", "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");
}

TEST_F(StaticFilesTest, ExistingRoutesKeepTheirAnswers) {
  StartGateway({"--web_root=" + root_.string()});
  // Files named like the routes do not shadow them.
  std::ofstream(root_ / "healthz") << "shadow";
  HttpResponse health = Fetch(http_port(), "GET", "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");
  EXPECT_EQ(Fetch(http_port(), "GET", "/readyz").body, "ready\n");
  EXPECT_EQ(Fetch(http_port(), "GET", "/v1/publish").status, 405);
  EXPECT_EQ(Fetch(http_port(), "GET", "/sse").status, 400);
}

TEST_F(StaticFilesTest, AMissingWebRootIsNotAnError) {
  StartGateway({"--web_root=" + (temp_ / "nowhere").string()});
  EXPECT_EQ(Fetch(http_port(), "GET", "/").status, 404);
  EXPECT_TRUE(gateway_->SawLogLine("static files are off: " + (temp_ / "nowhere").string()));
}

TEST_F(StaticFilesTest, TheDefaultWebRootIsNextToTheExecutable) {
  StartGateway();
  fs::path expected =
      fs::weakly_canonical(fs::path(BinaryPath("herald"))).parent_path().parent_path() /
      "share/herald/web";
  EXPECT_TRUE(gateway_->SawLogLine("web_root=" + expected.string())) << expected;
}

}  // namespace
}  // namespace herald::testing
