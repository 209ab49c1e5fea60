// One-shot blocking HTTP helpers: Fetch (a parsed request/response) and RawExchange (raw bytes).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herald::testing {

struct HttpResponse {
  int status = 0;  // 0 when no response was received (see error)
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string error;  // empty on success

  // First header with this name (case-insensitive).
  std::optional<std::string> Header(std::string_view name) const;
};

// Sends one request to 127.0.0.1:port (Host and, with a body, Content-Length are set; `headers`
// are added or override) and reads the whole response. Blocks at most `timeout`.
HttpResponse Fetch(std::uint16_t port, std::string method, std::string target,
                   std::string body = "",
                   std::vector<std::pair<std::string, std::string>> headers = {},
                   std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Writes `raw_request` as is (while already reading, so an early answer is not lost), then
// returns everything received until the server closes or `timeout` passes.
std::string RawExchange(std::uint16_t port, std::string raw_request,
                        std::chrono::milliseconds timeout = std::chrono::seconds(5));

// A peer that never reads: a socket connected to 127.0.0.1:port from `from` (another loopback
// address is another client) with a 4 KiB receive buffer (a small window, so what it is sent
// backs up in the sender rather than in kernel buffers), after `raw_request` was written on it.
// The caller closes it; -1 when connecting or writing failed.
int SendAndNeverRead(std::uint16_t port, std::string_view raw_request,
                     const char* from = "127.0.0.1");

}  // namespace herald::testing
