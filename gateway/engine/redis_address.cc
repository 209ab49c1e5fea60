// Parsing of the Redis engine's address.
#include "engine/redis_address.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace herald {
namespace {

// `url` with what could be credentials (all before its last '@', as the parser takes them)
// masked: an error message must not carry a password.
std::string Redacted(absl::string_view url) {
  size_t authority = url.find("://");
  authority = authority == absl::string_view::npos ? 0 : authority + 3;
  size_t at = url.rfind('@');
  if (at == absl::string_view::npos || at < authority) return std::string(url);
  return absl::StrCat(url.substr(0, authority), "***", url.substr(at));
}

absl::Status Invalid(absl::string_view url, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "--broker: ", why, " in '", Redacted(url),
      "'; expected redis://[:password@]host[:port][/db] or "
      "redis+cluster://[:password@]host:port[,host:port...]"));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes; false when one is malformed.
bool PercentDecode(absl::string_view text, std::string& out) {
  out.clear();
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return false;
    int high = HexValue(text[i + 1]);
    int low = HexValue(text[i + 2]);
    if (high < 0 || low < 0) return false;
    out.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return true;
}

absl::StatusOr<RedisEndpoint> ParseEndpoint(absl::string_view url, absl::string_view text) {
  RedisEndpoint endpoint;
  absl::string_view port_text;
  bool has_port = false;
  if (absl::StartsWith(text, "[")) {
    size_t close = text.find(']');
    if (close == absl::string_view::npos) return Invalid(url, "unclosed '[' in a host");
    endpoint.host = std::string(text.substr(1, close - 1));
    absl::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return Invalid(url, "junk after a bracketed host");
      has_port = true;
      port_text = rest.substr(1);
    }
  } else {
    size_t colon = text.rfind(':');
    endpoint.host = std::string(text.substr(0, colon));
    if (colon != absl::string_view::npos) {
      has_port = true;
      port_text = text.substr(colon + 1);
    }
  }
  if (endpoint.host.empty()) return Invalid(url, "a host is missing");
  if (endpoint.host.find_first_of("/?#@ ") != std::string::npos) {
    return Invalid(url, "a host has a character hosts cannot have");
  }
  if (has_port) {
    uint32_t port = 0;
    if (!absl::SimpleAtoi(port_text, &port) || port == 0 || port > 65535) {
      return Invalid(url, "a port is not 1..65535");
    }
    endpoint.port = static_cast<uint16_t>(port);
  }
  return endpoint;
}

}  // namespace

absl::StatusOr<RedisAddress> ParseRedisAddress(absl::string_view url) {
  RedisAddress address;
  absl::string_view rest = url;
  if (absl::ConsumePrefix(&rest, "redis+cluster://")) {
    address.cluster = true;
  } else if (!absl::ConsumePrefix(&rest, "redis://")) {
    return Invalid(url, "the scheme is not redis:// or redis+cluster://");
  }
  if (rest.find_first_of("?#") != absl::string_view::npos) {
    return Invalid(url, "query strings and fragments are not supported");
  }
  if (size_t at = rest.rfind('@'); at != absl::string_view::npos) {
    absl::string_view credentials = rest.substr(0, at);
    rest = rest.substr(at + 1);
    size_t colon = credentials.find(':');
    absl::string_view user = credentials.substr(0, colon);
    absl::string_view password =
        colon == absl::string_view::npos ? absl::string_view() : credentials.substr(colon + 1);
    if (colon == absl::string_view::npos) {
      // redis://secret@host: the password alone, as redis-cli reads it.
      password = user;
      user = {};
    }
    if (!PercentDecode(user, address.username) || !PercentDecode(password, address.password)) {
      return Invalid(url, "a malformed %-escape in the credentials");
    }
  }
  absl::string_view hosts = rest;
  if (size_t slash = rest.find('/'); slash != absl::string_view::npos) {
    hosts = rest.substr(0, slash);
    absl::string_view database = rest.substr(slash + 1);
    if (!database.empty() &&
        (!absl::SimpleAtoi(database, &address.database) || address.database < 0)) {
      return Invalid(url, "the database is not a number");
    }
  }
  if (address.cluster && address.database != 0) {
    return Invalid(url, "a Redis Cluster has only database 0");
  }
  for (absl::string_view text : absl::StrSplit(hosts, ',')) {
    absl::StatusOr<RedisEndpoint> endpoint = ParseEndpoint(url, text);
    if (!endpoint.ok()) return endpoint.status();
    address.endpoints.push_back(*std::move(endpoint));
  }
  if (!address.cluster && address.endpoints.size() != 1) {
    return Invalid(url, "redis:// takes one host; use redis+cluster:// for several");
  }
  return address;
}

std::string RedisAddress::Describe() const {
  std::string credentials;
  if (!password.empty()) credentials = absl::StrCat(username, ":***@");
  std::vector<std::string> hosts;
  for (const RedisEndpoint& endpoint : endpoints) {
    bool ipv6 = endpoint.host.find(':') != std::string::npos;
    hosts.push_back(ipv6 ? absl::StrCat("[", endpoint.host, "]:", endpoint.port)
                         : absl::StrCat(endpoint.host, ":", endpoint.port));
  }
  return absl::StrCat(cluster ? "redis+cluster://" : "redis://", credentials,
                      absl::StrJoin(hosts, ","), cluster || database == 0 ? "" : "/",
                      cluster || database == 0 ? "" : absl::StrCat(database));
}

}  // namespace herald
