// The WebSocket wire format (RFC 6455) on the server side: the handshake answer, the frames
// the server sends, and a reader of the frames clients send.
#pragma once

#include <boost/asio/buffer.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace herald {

enum class WsOpcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xa,
};

// The Sec-WebSocket-Accept answer to a client's Sec-WebSocket-Key.
std::string WsAcceptKey(std::string_view client_key);
// True when `client_key` is what RFC 6455 asks for: 16 bytes in base64.
bool IsValidWsKey(std::string_view client_key);

// Writes the header of a final, unmasked server frame into `out` (10 bytes at most); returns
// its size.
size_t WriteWsFrameHeader(WsOpcode opcode, uint64_t payload_bytes, char* out);
// The header of one binary message (MessageFraming's header for WebSocket).
size_t WriteWsBinaryHeader(size_t payload_bytes, char* out);
// A whole control frame; `payload` is cut to the 125 bytes a control frame may hold.
std::string WsControlFrame(WsOpcode opcode, std::string_view payload);
// A close frame with `code` and as much of `reason` as fits (cut at a UTF-8 boundary);
// code 0 sends a close frame without a status.
std::string WsCloseFrame(uint16_t code, std::string_view reason);

// Reads client frames: unmasks them, joins fragmented messages, and checks the protocol. The
// read buffer grows for a large message and shrinks back once it has been handled, so an idle
// connection holds only a small one.
class WsFrameReader {
 public:
  explicit WsFrameReader(size_t max_message_bytes) : max_message_bytes_(max_message_bytes) {}

  // Where the next read from the socket goes; Commit() tells how much arrived.
  boost::asio::mutable_buffer ReadBuffer();
  void Commit(size_t bytes) { end_ += bytes; }
  // Frees the buffers when nothing read waits in them (no partial frame or message), so an idle
  // connection holds none; the next ReadBuffer() makes a new one.
  void ReleaseWhenEmpty();
  // The heap bytes the reader holds, for tests.
  size_t buffer_capacity() const { return HeapBytes(buffer_) + HeapBytes(message_); }

  struct Item {
    enum Kind {
      kNeedMore,  // Nothing complete yet: read more.
      kMessage,   // `payload` is a whole message; `text` tells its type.
      kPing,
      kPong,
      kClose,     // `code` (0 when the peer sent none) and `reason`.
      kError,     // The peer broke the protocol: close with `code`, giving `reason`.
    };
    Kind kind = kNeedMore;
    bool text = false;
    // Valid until the next call to Next(), ReadBuffer() or ReleaseWhenEmpty().
    std::string_view payload;
    uint16_t code = 0;
    std::string_view reason;
  };
  // The next thing the peer sent, from what was read so far. After kError or kClose the reader
  // must not be used again.
  Item Next();

 private:
  static size_t HeapBytes(const std::string& bytes) {
    return bytes.capacity() > std::string().capacity() ? bytes.capacity() : 0;
  }
  Item Fail(uint16_t code, std::string_view reason);

  const size_t max_message_bytes_;
  std::string buffer_;
  size_t begin_ = 0;   // Start of what was read and not yet handled.
  size_t end_ = 0;     // End of what was read.
  size_t needed_ = 0;  // Bytes the frame at begin_ needs, once its header was seen.
  // A fragmented message being joined.
  bool in_message_ = false;
  bool message_text_ = false;
  std::string message_;
};

}  // namespace herald
