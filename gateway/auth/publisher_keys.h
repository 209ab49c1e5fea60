// Static keys for backends (--publisher_keys_file): each key with the topic patterns it covers.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "auth/grant.h"

namespace herald {

// Only SHA-256 hashes of the keys are kept, and a presented key is compared, in constant time,
// by its hash.
//
// The file has one key per line: the key (or `sha256:` and the hex SHA-256 of the key, so the
// file need not hold the secret), then its topic patterns separated by spaces. A bare pattern
// lets the key publish; `subscribe:pattern` lets it use Subscriber.Subscribe and History;
// `expires=<RFC 3339 time>` makes the key stop working then (what it opened is closed). Blank
// lines and lines starting with `#` are skipped.
//
//   # orders service
//   9f1c2d...long-random-key  orders.>  subscribe:orders.>
//   sha256:3a7bd3e2...        prices.*  expires=2027-03-01T00:00:00Z
class PublisherKeys {
 public:
  using Digest = std::array<unsigned char, 32>;

  // Which file the keys come from: a publisher key needs patterns, an admin key may stand
  // alone (it then administers every topic).
  enum class KeyFile { kPublisher, kAdmin };
  static absl::StatusOr<PublisherKeys> Parse(absl::string_view text,
                                             KeyFile kind = KeyFile::kPublisher);

  bool empty() const { return keys_.empty(); }
  size_t size() const { return keys_.size(); }
  // The grant of `key`, when it is one of the keys (expired or not).
  std::optional<Grant> Find(absl::string_view key) const;
  // Whether the key whose Grant::key_id is `key_id` is one of the keys and, at `now`, has not
  // expired.
  bool Holds(absl::string_view key_id, absl::Time now) const;
  // Whether one of the keys expires after `after` and at or before `until`.
  bool ExpiresBetween(absl::Time after, absl::Time until) const;

  static Digest Sha256(absl::string_view bytes);

 private:
  struct Key {
    Digest digest;
    Grant grant;
  };
  std::vector<Key> keys_;
};

}  // namespace herald
