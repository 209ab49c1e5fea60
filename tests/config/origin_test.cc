// Allowed origins: exact, any, and subdomain wildcards.
#include <gtest/gtest.h>

#include "config/config.h"

namespace herald {
namespace {

TEST(OriginMatches, ExactAndAny) {
  EXPECT_TRUE(OriginMatches("*", "https://evil.example"));
  EXPECT_TRUE(OriginMatches("https://app.example.com", "https://app.example.com"));
  EXPECT_FALSE(OriginMatches("https://app.example.com", "http://app.example.com"));
  EXPECT_FALSE(OriginMatches("https://app.example.com", "https://app.example.com:8443"));
}

TEST(OriginMatches, SubdomainWildcards) {
  EXPECT_TRUE(OriginMatches("https://*.example.com", "https://app.example.com"));
  EXPECT_TRUE(OriginMatches("https://*.example.com", "https://a.b.example.com"));
  EXPECT_FALSE(OriginMatches("https://*.example.com", "https://example.com"));
  EXPECT_FALSE(OriginMatches("https://*.example.com", "http://app.example.com"));
  EXPECT_FALSE(OriginMatches("https://*.example.com", "https://app.example.com.evil.io"));
  EXPECT_FALSE(OriginMatches("https://*.example.com", "https://evil.io/.example.com"));
  EXPECT_FALSE(OriginMatches("https://*.example.com", "https://evilexample.com"));
  EXPECT_FALSE(OriginMatches("https://*.example.com", "https://user@app.example.com"));
  // A pattern without a scheme matches nothing (and is refused at start).
  EXPECT_FALSE(OriginMatches("*.example.com", "http://app.example.com"));
  EXPECT_FALSE(OriginMatches("*.example.com", "foo://app.example.com"));
  EXPECT_FALSE(OriginMatches("*.example.com", "app.example.com"));
  EXPECT_TRUE(OriginMatches("https://*.example.com:8443", "https://app.example.com:8443"));
  EXPECT_FALSE(OriginMatches("https://*.example.com:8443", "https://app.example.com"));
}

TEST(ValidateOriginPattern, APatternMustNameItsScheme) {
  for (const char* good : {"*", "https://app.example.com", "https://*.example.com",
                           "http://localhost:8080", "https://*.example.com:8443",
                           "http://[::1]:8080", "chrome-extension://abcdef"}) {
    EXPECT_TRUE(ValidateOriginPattern(good).ok()) << good;
  }
  for (const char* bad : {"*.example.com", "app.example.com", "://app.example.com",
                          "https://", "https://app.example.com/", "https://*", "https://a.*.com",
                          "https://user@app.example.com", "ht tp://x"}) {
    absl::Status status = ValidateOriginPattern(bad);
    EXPECT_FALSE(status.ok()) << bad;
    EXPECT_NE(status.message().find("--allowed_origins"), absl::string_view::npos) << bad;
  }
}

TEST(OriginAllowed, EmptyListAllowsAnyAndNoOriginIsAlwaysAllowed) {
  Config config;
  EXPECT_TRUE(config.OriginAllowed("https://anything.io"));
  config.allowed_origins = {"https://*.example.com"};
  EXPECT_TRUE(config.OriginAllowed(""));
  EXPECT_TRUE(config.OriginAllowed("https://app.example.com"));
  EXPECT_FALSE(config.OriginAllowed("https://app.example.org"));
}

}  // namespace
}  // namespace herald
