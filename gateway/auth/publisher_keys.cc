// Publisher keys file parsing and constant-time lookup.
#include "auth/publisher_keys.h"

#include <algorithm>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "auth/topic_pattern.h"

namespace herald {
namespace {

constexpr absl::string_view kHashPrefix = "sha256:";
constexpr absl::string_view kSubscribePrefix = "subscribe:";
constexpr absl::string_view kExpiresPrefix = "expires=";
// Keys shorter than this are too easy to guess.
constexpr size_t kMinKeyBytes = 16;

std::string Hex(const PublisherKeys::Digest& digest) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

absl::StatusOr<PublisherKeys::Digest> ParseDigest(absl::string_view hex) {
  if (hex.size() != 64) return absl::InvalidArgumentError("sha256: needs 64 hex digits");
  for (char c : hex) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError("sha256: needs 64 hex digits");
    }
  }
  std::string bytes = absl::HexStringToBytes(hex);
  PublisherKeys::Digest digest;
  std::copy(bytes.begin(), bytes.end(), digest.begin());
  return digest;
}

}  // namespace

PublisherKeys::Digest PublisherKeys::Sha256(absl::string_view bytes) {
  Digest digest;
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest.data());
  return digest;
}

absl::StatusOr<PublisherKeys> PublisherKeys::Parse(absl::string_view text, KeyFile kind) {
  PublisherKeys keys;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    auto error = [line_number, kind](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(
          kind == KeyFile::kAdmin ? "admin" : "publisher", " keys line ", line_number, ": ", why));
    };
    // An admin key alone administers every topic; a publisher key alone would allow nothing.
    if (fields.size() < 2 && kind == KeyFile::kPublisher) {
      return error("a key needs at least one topic pattern");
    }
    Key key;
    if (absl::StartsWith(fields[0], kHashPrefix)) {
      absl::StatusOr<Digest> digest = ParseDigest(fields[0].substr(kHashPrefix.size()));
      if (!digest.ok()) return error(digest.status().message());
      key.digest = *digest;
    } else {
      if (fields[0].size() < kMinKeyBytes) {
        return error(absl::StrCat("a key must be at least ", kMinKeyBytes, " characters"));
      }
      key.digest = Sha256(fields[0]);
    }
    key.grant.key_id = Hex(key.digest);
    key.grant.subject = absl::StrCat("key:", key.grant.key_id.substr(0, 8));
    key.grant.publisher_key = true;
    for (size_t i = 1; i < fields.size(); ++i) {
      absl::string_view pattern = fields[i];
      if (absl::ConsumePrefix(&pattern, kExpiresPrefix)) {
        std::string error_text;
        if (!absl::ParseTime(absl::RFC3339_full, pattern, &key.grant.expires, &error_text)) {
          return error(absl::StrCat("field ", i + 1,
                                    ": expires= needs an RFC 3339 time (2027-03-01T00:00:00Z)"));
        }
        continue;
      }
      bool subscribe = absl::ConsumePrefix(&pattern, kSubscribePrefix);
      // The field is not echoed: with the columns swapped, it would be the key.
      if (!ValidateTopicPattern(pattern).ok()) {
        return error(absl::StrCat("field ", i + 1,
                                  " is not a topic pattern (each line: the key, then patterns)"));
      }
      (subscribe ? key.grant.subscribe : key.grant.publish).emplace_back(pattern);
    }
    keys.keys_.push_back(std::move(key));
  }
  return keys;
}

bool PublisherKeys::Holds(absl::string_view key_id, absl::Time now) const {
  for (const Key& key : keys_) {
    if (key.grant.key_id == key_id) return !key.grant.Expired(now);
  }
  return false;
}

bool PublisherKeys::ExpiresBetween(absl::Time after, absl::Time until) const {
  return std::any_of(keys_.begin(), keys_.end(), [&](const Key& key) {
    return key.grant.expires > after && key.grant.expires <= until;
  });
}

std::optional<Grant> PublisherKeys::Find(absl::string_view key) const {
  Digest digest = Sha256(key);
  const Key* found = nullptr;
  // Every key is compared, whatever matches, so the time taken tells nothing.
  for (const Key& candidate : keys_) {
    if (CRYPTO_memcmp(candidate.digest.data(), digest.data(), digest.size()) == 0) {
      found = &candidate;
    }
  }
  if (!found) return std::nullopt;
  return found->grant;
}

}  // namespace herald
