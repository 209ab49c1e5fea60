// Where the Redis engine connects: the --broker address, parsed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace herald {

struct RedisEndpoint {
  std::string host;
  uint16_t port = 6379;

  friend bool operator==(const RedisEndpoint&, const RedisEndpoint&) = default;
};

struct RedisAddress {
  // One server, or with `cluster` the seed nodes the slot map is read from.
  std::vector<RedisEndpoint> endpoints;
  bool cluster = false;
  std::string username;  // ACL user; empty: the default user.
  std::string password;  // Empty: no AUTH.
  int database = 0;      // SELECT; a cluster has only database 0.

  // The address with its password masked, for logs.
  std::string Describe() const;
};

// Parses `redis://[[user]:password@]host[:port][/db]` or
// `redis+cluster://[[user]:password@]host:port[,host:port...]`. IPv6 hosts go in brackets.
// User and password may be percent-encoded.
absl::StatusOr<RedisAddress> ParseRedisAddress(absl::string_view url);

}  // namespace herald
