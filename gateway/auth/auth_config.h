// The auth flags: where credentials are checked against which keys.
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"

namespace herald {

// Where the keys come from (the auth flags).
struct AuthConfig {
  // `required`: refuse to start without keys. `auto`: check credentials when keys are
  // configured, run open (everything allowed) otherwise.
  bool required = false;
  std::string jwt_hs256_secret;       // Inline secret (cannot be reloaded).
  std::string jwt_hs256_secret_file;  // The whole file is the secret (a final newline is cut).
  std::string jwt_public_key_file;    // PEM public keys or certificates, or a JWKS document.
  std::string jwt_audience;
  std::string jwt_issuer;
  // Clock skew allowed between the token issuer and the gateway, for exp and nbf.
  absl::Duration jwt_leeway = absl::Seconds(10);
  // Tokens must carry "exp"; and, when positive, expire within this from now.
  bool jwt_require_exp = false;
  absl::Duration jwt_max_lifetime = absl::ZeroDuration();
  std::string publisher_keys_file;
  // Keys of the Admin API (the publisher keys' format: a bare key administers every topic, a key
  // followed by patterns only those). Not counted by HasKeys: they open nothing but Admin.
  std::string admin_keys_file;

  // --authorizer: the backend asked about clients without a verified credential (empty: none),
  // each call's deadline, the request headers it is given, its calls in flight at most, and
  // how long a grant it answered is reused.
  std::string authorizer;
  absl::Duration authorizer_timeout = absl::Seconds(1);
  std::vector<std::string> authorizer_headers = {"cookie", "authorization", "origin",
                                                 "user-agent"};
  size_t authorizer_max_calls = 1000;
  absl::Duration authorizer_cache_ttl = absl::ZeroDuration();  // 0: no grant is reused.

  bool HasKeys() const {
    return !jwt_hs256_secret.empty() || !jwt_hs256_secret_file.empty() ||
           !jwt_public_key_file.empty() || !publisher_keys_file.empty();
  }
};

}  // namespace herald
