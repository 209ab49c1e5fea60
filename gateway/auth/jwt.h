// JSON Web Tokens: verification of HS256 / RS256 / ES256 compact tokens, and signing for tools.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace herald {

// Tokens longer than this are refused before any decoding.
inline constexpr size_t kMaxJwtBytes = 8 << 10;

// The claims Herald reads from a verified token.
struct JwtClaims {
  std::string subject;                          // "sub" ("" when absent)
  absl::Time expires = absl::InfiniteFuture();  // "exp" (InfiniteFuture when absent)
  std::vector<std::string> subscribe;           // "subscribe": topic patterns
  std::vector<std::string> publish;             // "publish": topic patterns
};

struct JwtVerifyOptions {
  absl::Time now = absl::Now();
  absl::Duration leeway = absl::Seconds(10);  // allowed clock skew for exp and nbf
  // When non-empty, "aud" (a string or an array of strings) must contain it.
  std::string audience;
  // When non-empty, "iss" must equal it.
  std::string issuer;
  // A token without "exp" is refused (it would be valid forever).
  bool require_exp = false;
  // When positive, a token whose "exp" is further than this from now is refused, and so is one
  // without "exp": a leaked token stops working within this time.
  absl::Duration max_lifetime = absl::ZeroDuration();
};

// Verification keys: HS256 secrets and RS256 / ES256 (P-256) public keys, each optionally named
// by a key id. Immutable once built; Verify is safe to call from many threads at once.
class JwtKeySet {
 public:
  JwtKeySet();
  ~JwtKeySet();
  JwtKeySet(JwtKeySet&& other) noexcept;
  JwtKeySet& operator=(JwtKeySet&& other) noexcept;
  JwtKeySet(const JwtKeySet&) = delete;
  JwtKeySet& operator=(const JwtKeySet&) = delete;

  // An HS256 secret; an empty secret is INVALID_ARGUMENT.
  absl::Status AddHs256Secret(std::string secret, std::string kid = "");

  // Every public key in `pem`: "PUBLIC KEY" blocks and/or "CERTIFICATE" blocks (the certificate's
  // key), RSA (at least 2048 bits) or EC P-256. Any other block, key type or curve is
  // INVALID_ARGUMENT, and so is a PEM without any key; on error no key is added.
  absl::Status AddPublicKeysPem(absl::string_view pem, std::string kid = "");

  // The keys of a JWKS document {"keys":[{"kty":"RSA","kid","n","e"} |
  // {"kty":"EC","crv":"P-256","kid","x","y"}]}. Keys with "use" other than "sig", with an "alg"
  // other than RS256 / ES256 for their type, or of another type or curve are skipped. A document
  // that is not such JSON, holds a malformed RSA / EC key, or yields no key at all is
  // INVALID_ARGUMENT; on error no key is added.
  absl::Status AddJwks(absl::string_view json);

  bool empty() const;
  size_t size() const;

  // The claims of a valid token; UNAUTHENTICATED with a short reason ("token expired",
  // "bad signature", "unknown kid", ...) for anything else.
  absl::StatusOr<JwtClaims> Verify(absl::string_view token, const JwtVerifyOptions& options) const;

 private:
  struct Key;  // Defined in jwt.cc.

  std::vector<Key> keys_;
};

// Signs `claims_json` (a JSON object, used byte for byte as the payload) as a compact JWT. `alg`
// is "HS256" (key = the secret), "RS256" or "ES256" (key = an unencrypted private key in PEM, RSA
// or EC P-256). `kid` is put in the header when not empty. Used by tests and by a small
// token-minting tool.
absl::StatusOr<std::string> SignJwt(absl::string_view alg, absl::string_view claims_json,
                                    absl::string_view key, absl::string_view kid = "");

}  // namespace herald
