// HttpStreamDecoder: incremental decoder of an HTTP/1.1 response (status, headers, body framing).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herald::testing {

// Feed it the raw bytes of one HTTP/1.1 response in pieces of any size. It parses the status line
// and headers, then decodes the body according to its framing: `Transfer-Encoding: chunked`
// (chunk extensions and trailers are skipped), `Content-Length`, or delimited by the connection
// close. Decoded body bytes are appended to the caller's string.
class HttpStreamDecoder {
 public:
  enum class Framing { kUnknown, kChunked, kContentLength, kUntilClose, kNone };

  HttpStreamDecoder() = default;

  // Consumes `bytes`; appends decoded body bytes to `*body`. Returns false on a protocol error
  // (then error() says why and further input is ignored). Bytes after the end of the body are
  // ignored (count in extra_bytes()).
  bool Feed(std::string_view bytes, std::string* body);
  // The connection reached EOF: a close-delimited body is complete; anything else unfinished is
  // a truncated response.
  void FinishEof();

  bool HeadersDone() const { return state_ > State::kHeaders; }
  // True once the body ended by its own framing (last chunk, Content-Length reached, or EOF for a
  // close-delimited body).
  bool BodyComplete() const { return state_ == State::kDone; }
  bool Failed() const { return state_ == State::kError; }
  const std::string& error() const { return error_; }

  int status_code() const { return status_code_; }
  const std::string& status_line() const { return status_line_; }
  // Headers in arrival order, names as sent.
  const std::vector<std::pair<std::string, std::string>>& headers() const { return headers_; }
  // First header with this name (case-insensitive).
  std::optional<std::string> Header(std::string_view name) const;
  Framing framing() const { return framing_; }
  std::size_t extra_bytes() const { return extra_bytes_; }

 private:
  enum class State {
    kStatusLine,
    kHeaders,
    kChunkSize,
    kChunkData,
    kChunkDataEnd,
    kTrailers,
    kFixedBody,
    kUntilClose,
    kDone,
    kError,
  };

  // Takes one CRLF- (or LF-) terminated line out of `*bytes` into `*line`; false if incomplete.
  bool TakeLine(std::string_view* bytes, std::string* line);
  void HandleStatusLine(const std::string& line);
  void HandleHeaderLine(const std::string& line);
  void StartBody();
  void HandleChunkSize(const std::string& line);
  void Fail(std::string message);

  State state_ = State::kStatusLine;
  std::string partial_line_;
  std::string status_line_;
  int status_code_ = 0;
  std::vector<std::pair<std::string, std::string>> headers_;
  Framing framing_ = Framing::kUnknown;
  std::uint64_t remaining_ = 0;
  std::size_t extra_bytes_ = 0;
  std::string error_;
};

}  // namespace herald::testing
