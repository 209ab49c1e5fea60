// Fuzzes credentials: JWT verification (HS256 and ES256 keys), JWKS documents, PEM keys,
// publisher key files and topic patterns. Every input is tried as each of them.
#include <openssl/err.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "auth/jwt.h"
#include "auth/publisher_keys.h"
#include "auth/topic_pattern.h"
#include "fuzz_check.h"
#include "topic/topic.h"

namespace herald::fuzz {
namespace {

const JwtKeySet& Keys() {
  static const JwtKeySet* keys = [] {
    auto* set = new JwtKeySet;
    HERALD_FUZZ_CHECK(set->AddHs256Secret(kHs256Secret).ok());
    HERALD_FUZZ_CHECK(set->AddPublicKeysPem(kEs256PublicKeyPem, "es1").ok());
    return set;
  }();
  return *keys;
}

JwtVerifyOptions PlainOptions() {
  JwtVerifyOptions options;
  options.now = FuzzNow();
  return options;
}

JwtVerifyOptions StrictOptions() {
  JwtVerifyOptions options = PlainOptions();
  options.audience = "herald";
  options.issuer = "https://issuer.example";
  return options;
}

void CheckClaims(const JwtClaims& claims, const JwtVerifyOptions& options) {
  HERALD_FUZZ_CHECK(claims.expires + options.leeway > options.now);
}

// The input as a compact token.
void VerifyToken(absl::string_view token) {
  for (const JwtVerifyOptions& options : {PlainOptions(), StrictOptions()}) {
    absl::StatusOr<JwtClaims> claims = Keys().Verify(token, options);
    if (claims.ok()) {
      CheckClaims(*claims, options);
    } else {
      HERALD_FUZZ_CHECK(claims.status().code() == absl::StatusCode::kUnauthenticated);
    }
  }
}

// The input as claims, signed with the HS256 secret: the signature always verifies, so only the
// claims decide.
void VerifySignedClaims(absl::string_view claims_json) {
  absl::StatusOr<std::string> token = SignJwt("HS256", claims_json, kHs256Secret, "");
  if (!token.ok()) {
    HERALD_FUZZ_CHECK(token.status().code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  for (const JwtVerifyOptions& options : {PlainOptions(), StrictOptions()}) {
    absl::StatusOr<JwtClaims> claims = Keys().Verify(*token, options);
    if (claims.ok()) {
      CheckClaims(*claims, options);
      continue;
    }
    absl::string_view reason = claims.status().message();
    HERALD_FUZZ_CHECK(reason != "bad signature");
    HERALD_FUZZ_CHECK(!absl::StartsWith(reason, "malformed"));
    HERALD_FUZZ_CHECK(reason != "token too large" || token->size() > kMaxJwtBytes);
  }
}

// The input as a JWKS document; when it loads, the keys verify (or not) a token.
void LoadJwks(absl::string_view json) {
  JwtKeySet keys;
  absl::Status status = keys.AddJwks(json);
  if (!status.ok()) {
    HERALD_FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    HERALD_FUZZ_CHECK(keys.empty());
    return;
  }
  HERALD_FUZZ_CHECK(!keys.empty());
  // The seed corpus's corpus/jwt/es256_kid_token (kid "es1"), which the EC key of the jwks
  // seeds verifies.
  static constexpr char kToken[] =
      "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImVzMSJ9."
      "eyJzdWIiOiJzdmMiLCJzdWJzY3JpYmUiOlsiPiJdfQ."
      "kFxZ7QpN-CcLZa2_mpLOIeYB9IYZOCH_RUHxZZnHRv-OFZ27j0MmHk4DRIYabKCMpmPJuPDIRswLIuL9UC1sFQ";
  (void)keys.Verify(kToken, PlainOptions());
}

// The input as PEM public keys or certificates.
void LoadPem(absl::string_view pem) {
  JwtKeySet keys;
  absl::Status status = keys.AddPublicKeysPem(pem);
  if (!status.ok()) {
    HERALD_FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    HERALD_FUZZ_CHECK(keys.empty());
  } else {
    HERALD_FUZZ_CHECK(!keys.empty());
  }
}

// The input as a publisher keys file: every raw key of a file that parses is found, with the
// patterns of its last line (a later line for the same key replaces an earlier one).
void ParsePublisherKeys(absl::string_view text) {
  absl::StatusOr<PublisherKeys> keys = PublisherKeys::Parse(text);
  if (!keys.ok()) {
    HERALD_FUZZ_CHECK(keys.status().code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  size_t lines = 0;
  std::map<PublisherKeys::Digest, size_t> pattern_counts;
  std::vector<absl::string_view> raw_keys;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    ++lines;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    HERALD_FUZZ_CHECK(fields.size() >= 2);
    PublisherKeys::Digest digest;
    absl::string_view key = fields[0];
    if (absl::ConsumePrefix(&key, "sha256:")) {
      std::string bytes = absl::HexStringToBytes(key);
      HERALD_FUZZ_CHECK(bytes.size() == digest.size());
      std::copy(bytes.begin(), bytes.end(), digest.begin());
    } else {
      digest = PublisherKeys::Sha256(key);
      raw_keys.push_back(key);
    }
    pattern_counts[digest] = fields.size() - 1;
  }
  HERALD_FUZZ_CHECK(keys->size() == lines);
  for (absl::string_view key : raw_keys) {
    std::optional<Grant> grant = keys->Find(key);
    HERALD_FUZZ_CHECK(grant.has_value());
    HERALD_FUZZ_CHECK(grant->subscribe.size() + grant->publish.size() ==
                      pattern_counts[PublisherKeys::Sha256(key)]);
    for (const std::string& pattern : grant->subscribe) {
      HERALD_FUZZ_CHECK(ValidateTopicPattern(pattern).ok());
    }
    for (const std::string& pattern : grant->publish) {
      HERALD_FUZZ_CHECK(ValidateTopicPattern(pattern).ok());
    }
  }
}

// The input as "<pattern>\n<topic>": matching agrees with a plain reference, and an invalid
// pattern matches nothing.
void MatchPattern(absl::string_view input) {
  size_t newline = input.find('\n');
  absl::string_view pattern = input.substr(0, newline);
  absl::string_view topic =
      newline == absl::string_view::npos ? absl::string_view() : input.substr(newline + 1);
  bool pattern_valid = ValidateTopicPattern(pattern).ok();
  if (pattern_valid && ValidateTopic(pattern).ok()) {
    HERALD_FUZZ_CHECK(TopicPatternMatches(pattern, pattern));  // No wildcard: itself.
  }
  if (!ValidateTopic(topic).ok()) {
    (void)TopicPatternMatches(pattern, topic);
    return;
  }
  bool matches = TopicPatternMatches(pattern, topic);
  if (!pattern_valid) {
    HERALD_FUZZ_CHECK(!matches);
  } else {
    HERALD_FUZZ_CHECK(matches == ReferencePatternMatches(pattern, topic));
  }
}

}  // namespace
}  // namespace herald::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  // Each call leaves OpenSSL's error queue as empty as it found it (jwt.cc promises so; a stale
  // error would be blamed on the next OpenSSL call of the thread, a TLS handshake say).
  herald::fuzz::VerifyToken(input);
  HERALD_FUZZ_CHECK(ERR_peek_error() == 0);
  herald::fuzz::VerifySignedClaims(input);
  HERALD_FUZZ_CHECK(ERR_peek_error() == 0);
  herald::fuzz::LoadJwks(input);
  HERALD_FUZZ_CHECK(ERR_peek_error() == 0);
  herald::fuzz::LoadPem(input);
  HERALD_FUZZ_CHECK(ERR_peek_error() == 0);
  herald::fuzz::ParsePublisherKeys(input);
  herald::fuzz::MatchPattern(input);
  return 0;
}
