// What a verified credential allows: the topics it may subscribe to and publish to, until when.
#pragma once

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace herald {

// How long a timer waits before checking expiry `expires` again: until it, in steps of at most a
// day (a far-future `exp` must not overflow a steady timer). Zero once it has passed.
inline std::chrono::milliseconds NextExpiryCheck(absl::Time expires, absl::Time now = absl::Now()) {
  absl::Duration left = std::clamp(expires - now, absl::ZeroDuration(), absl::Hours(24));
  return absl::ToChronoMilliseconds(left);
}

struct Grant {
  // Everything is allowed: the gateway runs without keys.
  bool open = false;
  std::string subject;  // The token's `sub`, or the publisher key's name.
  bool publisher_key = false;  // From --publisher_keys_file rather than a JWT.
  std::string key_id;          // A publisher key's SHA-256 (hex): which key it is.
  absl::Time expires = absl::InfiniteFuture();
  std::vector<std::string> subscribe;  // Topic patterns.
  std::vector<std::string> publish;    // Topic patterns.

  static Grant Open() {
    Grant grant;
    grant.open = true;
    return grant;
  }

  bool MaySubscribe(absl::string_view topic) const;
  bool MayPublish(absl::string_view topic) const;
  bool Expired(absl::Time now) const { return now >= expires; }
  // Tells credentials apart for rate limits: a JWT `sub` can never pass for a publisher key.
  std::string RateKey() const { return (publisher_key ? "key\n" : "jwt\n") + subject; }
  // What counts as one credential in per-credential shares (connections): RateKey, or empty for
  // open access and tokens without `sub`, which name nobody.
  std::string CredentialKey() const { return open || subject.empty() ? "" : RateKey(); }
};

}  // namespace herald
