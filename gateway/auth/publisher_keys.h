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
// lets the key publish; `subscribe:pattern` lets it use Subscriber.Subscribe and History.
// Blank lines and lines starting with `#` are skipped.
//
//   # orders service
//   9f1c2d...long-random-key  orders.>  subscribe:orders.>
//   sha256:3a7bd3e2...        prices.*
class PublisherKeys {
 public:
  using Digest = std::array<unsigned char, 32>;

  static absl::StatusOr<PublisherKeys> Parse(absl::string_view text);

  bool empty() const { return keys_.empty(); }
  size_t size() const { return keys_.size(); }
  // The grant of `key`, when it is one of the keys.
  std::optional<Grant> Find(absl::string_view key) const;

  static Digest Sha256(absl::string_view bytes);

 private:
  struct Key {
    Digest digest;
    Grant grant;
  };
  std::vector<Key> keys_;
};

}  // namespace herald
