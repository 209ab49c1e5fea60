// The authenticator: open mode, publisher keys and JWTs, reload keeping the old keys on error.
#include "auth/authenticator.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace herald {
namespace {

constexpr absl::string_view kSecret = "a-test-secret-of-at-least-32-bytes!!";

class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/herald-auth-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::system(absl::StrCat("rm -rf ", dir_).c_str()); }

  std::string Write(const std::string& name, absl::string_view text) {
    std::string path = absl::StrCat(dir_, "/", name);
    std::ofstream(path) << text;
    return path;
  }

  std::string dir_;
};

TEST_F(AuthenticatorTest, WithoutKeysEverythingIsAllowed) {
  absl::StatusOr<std::unique_ptr<Authenticator>> auth = Authenticator::Create({});
  ASSERT_TRUE(auth.ok());
  EXPECT_TRUE((*auth)->open());
  absl::StatusOr<Grant> grant = (*auth)->Authenticate("");
  ASSERT_TRUE(grant.ok());
  EXPECT_TRUE(grant->MayPublish("any.topic"));
}

TEST_F(AuthenticatorTest, RequiredModeWithoutKeysDoesNotStart) {
  AuthConfig config;
  config.required = true;
  EXPECT_EQ(Authenticator::Create(config).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(AuthenticatorTest, ChecksJwtsAndPublisherKeys) {
  AuthConfig config;
  config.jwt_hs256_secret_file = Write("secret", absl::StrCat(kSecret, "\n"));
  config.publisher_keys_file = Write("keys", "backend-key-0123456789 orders.>\n");
  absl::StatusOr<std::unique_ptr<Authenticator>> auth = Authenticator::Create(config);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_FALSE((*auth)->open());

  EXPECT_EQ((*auth)->Authenticate("").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*auth)->Authenticate("nope").status().code(), absl::StatusCode::kUnauthenticated);
  // A mistyped publisher key is named as one, not as a malformed token.
  EXPECT_EQ((*auth)->Authenticate("backend-key-0123456780").status().message(), "unknown key");
  EXPECT_EQ((*auth)->Authenticate("a.b").status().message(), "unknown key");
  EXPECT_EQ((*auth)->Authenticate("a.b.c").status().message(), "malformed token: bad base64url");

  absl::StatusOr<Grant> key = (*auth)->Authenticate("backend-key-0123456789");
  ASSERT_TRUE(key.ok());
  EXPECT_TRUE(key->MayPublish("orders.new"));

  absl::Time now = absl::Now();
  absl::StatusOr<std::string> token = SignJwt(
      "HS256",
      absl::StrCat(R"({"sub":"ada","exp":)", absl::ToUnixSeconds(now + absl::Hours(1)),
                   R"(,"subscribe":["chat.*"]})"),
      kSecret);
  ASSERT_TRUE(token.ok());
  absl::StatusOr<Grant> user = (*auth)->Authenticate(*token, now);
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->subject, "ada");
  EXPECT_TRUE(user->MaySubscribe("chat.lobby"));
  EXPECT_FALSE(user->MayPublish("chat.lobby"));
  EXPECT_EQ((*auth)->Authenticate(*token, now + absl::Hours(2)).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(AuthenticatorTest, ReloadSwapsKeysAndKeepsThemOnABadFile) {
  AuthConfig config;
  config.publisher_keys_file = Write("keys", "first-key-0123456789 a.>\n");
  absl::StatusOr<std::unique_ptr<Authenticator>> auth = Authenticator::Create(config);
  ASSERT_TRUE(auth.ok());
  ASSERT_TRUE((*auth)->Authenticate("first-key-0123456789").ok());

  Write("keys", "second-key-0123456789 a.>\n");
  ASSERT_TRUE((*auth)->Reload().ok());
  EXPECT_FALSE((*auth)->Authenticate("first-key-0123456789").ok());
  EXPECT_TRUE((*auth)->Authenticate("second-key-0123456789").ok());

  Write("keys", "broken\n");
  EXPECT_FALSE((*auth)->Reload().ok());
  EXPECT_TRUE((*auth)->Authenticate("second-key-0123456789").ok());
}

TEST(BearerToken, ReadsTheTokenOfABearerValueOnly) {
  EXPECT_EQ(BearerToken("Bearer abc.def"), "abc.def");
  EXPECT_EQ(BearerToken("bearer   abc "), "abc");
  EXPECT_EQ(BearerToken("Basic abc"), "");
  EXPECT_EQ(BearerToken("Bearer"), "");
  EXPECT_EQ(BearerToken(""), "");
}

}  // namespace
}  // namespace herald
