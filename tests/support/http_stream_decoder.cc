// HttpStreamDecoder: status line, headers, chunked / Content-Length / close-delimited bodies.
#include "support/http_stream_decoder.h"

#include <algorithm>
#include <cctype>
#include <limits>

namespace herald::testing {
namespace {

constexpr std::size_t kMaxLineBytes = 64 * 1024;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool ContainsTokenIgnoreCase(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    std::string_view item = Trim(list.substr(0, comma));
    const std::size_t semi = item.find(';');
    if (EqualsIgnoreCase(Trim(item.substr(0, semi)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

bool HttpStreamDecoder::TakeLine(std::string_view* bytes, std::string* line) {
  const std::size_t lf = bytes->find('\n');
  if (lf == std::string_view::npos) {
    partial_line_.append(*bytes);
    bytes->remove_prefix(bytes->size());
    if (partial_line_.size() > kMaxLineBytes) Fail("line too long");
    return false;
  }
  partial_line_.append(bytes->substr(0, lf));
  bytes->remove_prefix(lf + 1);
  if (!partial_line_.empty() && partial_line_.back() == '\r') partial_line_.pop_back();
  *line = std::move(partial_line_);
  partial_line_.clear();
  return true;
}

bool HttpStreamDecoder::Feed(std::string_view bytes, std::string* body) {
  std::string line;
  while (!bytes.empty()) {
    switch (state_) {
      case State::kStatusLine:
        if (!TakeLine(&bytes, &line)) break;
        HandleStatusLine(line);
        break;
      case State::kHeaders:
        if (!TakeLine(&bytes, &line)) break;
        HandleHeaderLine(line);
        break;
      case State::kChunkSize:
        if (!TakeLine(&bytes, &line)) break;
        HandleChunkSize(line);
        break;
      case State::kChunkData:
      case State::kFixedBody: {
        const std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, bytes.size()));
        body->append(bytes.substr(0, n));
        bytes.remove_prefix(n);
        remaining_ -= n;
        if (remaining_ == 0) {
          state_ = state_ == State::kChunkData ? State::kChunkDataEnd : State::kDone;
        }
        break;
      }
      case State::kChunkDataEnd:
        if (!TakeLine(&bytes, &line)) break;
        if (!line.empty()) {
          Fail("missing CRLF after chunk data");
        } else {
          state_ = State::kChunkSize;
        }
        break;
      case State::kTrailers:
        if (!TakeLine(&bytes, &line)) break;
        if (line.empty()) state_ = State::kDone;
        break;
      case State::kUntilClose:
        body->append(bytes);
        bytes.remove_prefix(bytes.size());
        break;
      case State::kDone:
        extra_bytes_ += bytes.size();
        bytes.remove_prefix(bytes.size());
        break;
      case State::kError:
        return false;
    }
  }
  return state_ != State::kError;
}

void HttpStreamDecoder::FinishEof() {
  if (state_ == State::kUntilClose) {
    state_ = State::kDone;
  } else if (state_ != State::kDone && state_ != State::kError) {
    Fail(HeadersDone() ? "connection closed before the end of the body"
                       : "connection closed before the end of the headers");
  }
}

void HttpStreamDecoder::HandleStatusLine(const std::string& line) {
  // "HTTP/1.1 200 OK"
  if (line.rfind("HTTP/", 0) != 0) {
    Fail("bad status line: " + line);
    return;
  }
  const std::size_t space = line.find(' ');
  if (space == std::string::npos || line.size() < space + 4) {
    Fail("bad status line: " + line);
    return;
  }
  int code = 0;
  for (std::size_t i = space + 1; i < space + 4; ++i) {
    if (line[i] < '0' || line[i] > '9') {
      Fail("bad status code: " + line);
      return;
    }
    code = code * 10 + (line[i] - '0');
  }
  status_line_ = line;
  status_code_ = code;
  state_ = State::kHeaders;
}

void HttpStreamDecoder::HandleHeaderLine(const std::string& line) {
  if (line.empty()) {
    StartBody();
    return;
  }
  if (line.front() == ' ' || line.front() == '\t') {
    // Obsolete line folding: continue the previous value.
    if (headers_.empty()) {
      Fail("continuation line without a header");
      return;
    }
    headers_.back().second += " ";
    headers_.back().second += Trim(line);
    return;
  }
  const std::size_t colon = line.find(':');
  if (colon == std::string::npos || colon == 0) {
    Fail("bad header line: " + line);
    return;
  }
  headers_.emplace_back(std::string(Trim(std::string_view(line).substr(0, colon))),
                        std::string(Trim(std::string_view(line).substr(colon + 1))));
}

void HttpStreamDecoder::StartBody() {
  // A final response to our GET: 1xx (other than 101, which we never ask for), 204 and 304 have
  // no body.
  if ((status_code_ >= 100 && status_code_ < 200) || status_code_ == 204 ||
      status_code_ == 304) {
    if (status_code_ >= 100 && status_code_ < 200 && status_code_ != 101) {
      // Interim response: another status line follows.
      headers_.clear();
      state_ = State::kStatusLine;
      return;
    }
    framing_ = Framing::kNone;
    state_ = State::kDone;
    return;
  }
  if (auto te = Header("Transfer-Encoding"); te && ContainsTokenIgnoreCase(*te, "chunked")) {
    framing_ = Framing::kChunked;
    state_ = State::kChunkSize;
    return;
  }
  if (auto cl = Header("Content-Length")) {
    std::uint64_t length = 0;
    std::string_view digits = Trim(*cl);
    if (digits.empty()) {
      Fail("empty Content-Length");
      return;
    }
    for (char c : digits) {
      if (c < '0' || c > '9' || length > std::numeric_limits<std::uint64_t>::max() / 10) {
        Fail("bad Content-Length: " + *cl);
        return;
      }
      length = length * 10 + static_cast<std::uint64_t>(c - '0');
    }
    framing_ = Framing::kContentLength;
    remaining_ = length;
    state_ = length == 0 ? State::kDone : State::kFixedBody;
    return;
  }
  framing_ = Framing::kUntilClose;
  state_ = State::kUntilClose;
}

void HttpStreamDecoder::HandleChunkSize(const std::string& line) {
  std::string_view size_text = line;
  size_text = Trim(size_text.substr(0, size_text.find(';')));
  if (size_text.empty() || size_text.size() > 15) {
    Fail("bad chunk size line: " + line);
    return;
  }
  std::uint64_t size = 0;
  for (char c : size_text) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else {
      Fail("bad chunk size line: " + line);
      return;
    }
    size = size * 16 + static_cast<std::uint64_t>(digit);
  }
  if (size == 0) {
    state_ = State::kTrailers;
    return;
  }
  remaining_ = size;
  state_ = State::kChunkData;
}

std::optional<std::string> HttpStreamDecoder::Header(std::string_view name) const {
  for (const auto& [key, value] : headers_) {
    if (EqualsIgnoreCase(key, name)) return value;
  }
  return std::nullopt;
}

void HttpStreamDecoder::Fail(std::string message) {
  state_ = State::kError;
  error_ = std::move(message);
}

}  // namespace herald::testing
