// Turns a presented credential (a JWT or a publisher key) into a Grant, with keys that SIGHUP
// reloads.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "auth/auth_config.h"
#include "auth/grant.h"
#include "auth/jwt.h"
#include "auth/publisher_keys.h"

namespace herald {

// What an admin key may administer.
struct AdminGrant {
  std::vector<std::string> topics;  // Topic patterns; empty: every topic, and the whole gateway.

  bool all() const { return topics.empty(); }
  bool Covers(absl::string_view topic) const;
};

class Authenticator {
 public:
  // Reads the key files; an unreadable or invalid file is an error.
  static absl::StatusOr<std::unique_ptr<Authenticator>> Create(AuthConfig config);

  // Re-reads the key files. On an error the keys in use stay as they were.
  absl::Status Reload();

  // True when no key is configured: every request is allowed.
  bool open() const { return open_; }

  // The grant of `credential` (a bearer token: a publisher key or a JWT) at `now`.
  // UNAUTHENTICATED when it is missing, unknown, invalid or expired; in open mode, a grant that
  // allows everything whatever is presented.
  absl::StatusOr<Grant> Authenticate(absl::string_view credential,
                                     absl::Time now = absl::Now()) const;

  // Whether --admin_keys_file is set (the Admin API is on).
  bool admin_enabled() const { return !config_.admin_keys_file.empty(); }
  // The admin grant of `credential`: FAILED_PRECONDITION when no --admin_keys_file is set (the
  // Admin API is off), UNAUTHENTICATED when it is not one of those keys or has expired.
  absl::StatusOr<AdminGrant> AuthenticateAdmin(absl::string_view credential,
                                               absl::Time now = absl::Now()) const;

  // Whether `grant`, given earlier, came from a publisher key that is no longer configured (a
  // reload removed it) or has expired by the keys now loaded (a reload set its `expires=` in
  // the past): what it opened is to be closed.
  bool Revoked(const Grant& grant) const;
  // Whether a publisher key now loaded expires after `after` and at or before `until`.
  bool KeyExpiredBetween(absl::Time after, absl::Time until) const;

  // A one-line summary of the keys in use (counts, never secrets).
  std::string Describe() const;

 private:
  struct Keys {
    JwtKeySet jwt;
    PublisherKeys publisher;
    PublisherKeys admin;
  };

  explicit Authenticator(AuthConfig config) : config_(std::move(config)) {}
  absl::StatusOr<std::shared_ptr<const Keys>> LoadKeys() const;
  std::shared_ptr<const Keys> keys() const;

  const AuthConfig config_;
  bool open_ = true;
  mutable absl::Mutex mutex_;
  std::shared_ptr<const Keys> keys_ ABSL_GUARDED_BY(mutex_);
};

// The token of an `Authorization: Bearer <token>` value; empty when it is not a bearer value.
absl::string_view BearerToken(absl::string_view authorization);

}  // namespace herald
