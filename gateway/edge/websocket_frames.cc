// WebSocket frames.
#include "edge/websocket_frames.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstring>

namespace herald {
namespace {

constexpr std::string_view kHandshakeGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr size_t kMaxControlPayload = 125;
// A new read buffer has this size.
constexpr size_t kFirstReadBuffer = 512;
// A read asks the socket for at least this much room.
constexpr size_t kMinReadRoom = 256;

std::string Base64(const unsigned char* data, size_t size) {
  std::string out(4 * ((size + 2) / 3), '\0');
  int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data,
                                static_cast<int>(size));
  out.resize(static_cast<size_t>(written));
  return out;
}

bool IsValidCloseCode(uint16_t code) {
  if (code >= 3000 && code <= 4999) return true;
  return code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006;
}

// The length of the longest prefix of `text`, at most `max` bytes, that does not cut a UTF-8
// sequence.
size_t Utf8Prefix(std::string_view text, size_t max) {
  if (text.size() <= max) return text.size();
  size_t size = max;
  while (size > 0 && (static_cast<unsigned char>(text[size]) & 0xc0) == 0x80) --size;
  return size;
}

}  // namespace

std::string WsAcceptKey(std::string_view client_key) {
  std::string input(client_key);
  input += kHandshakeGuid;
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  return Base64(digest, sizeof(digest));
}

bool IsValidWsKey(std::string_view client_key) {
  if (client_key.size() != 24 || client_key.substr(22) != "==") return false;
  unsigned char decoded[18];
  return EVP_DecodeBlock(decoded, reinterpret_cast<const unsigned char*>(client_key.data()),
                         24) == 18;
}

size_t WriteWsFrameHeader(WsOpcode opcode, uint64_t payload_bytes, char* out) {
  out[0] = static_cast<char>(0x80 | static_cast<uint8_t>(opcode));
  if (payload_bytes < 126) {
    out[1] = static_cast<char>(payload_bytes);
    return 2;
  }
  if (payload_bytes <= 0xffff) {
    out[1] = 126;
    out[2] = static_cast<char>(payload_bytes >> 8);
    out[3] = static_cast<char>(payload_bytes);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<char>(payload_bytes >> (56 - 8 * i));
  return 10;
}

size_t WriteWsBinaryHeader(size_t payload_bytes, char* out) {
  return WriteWsFrameHeader(WsOpcode::kBinary, payload_bytes, out);
}

std::string WsControlFrame(WsOpcode opcode, std::string_view payload) {
  payload = payload.substr(0, kMaxControlPayload);
  std::string frame(2, '\0');
  WriteWsFrameHeader(opcode, payload.size(), frame.data());
  frame.append(payload);
  return frame;
}

std::string WsCloseFrame(uint16_t code, std::string_view reason) {
  if (code == 0) return WsControlFrame(WsOpcode::kClose, {});
  std::string payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code));
  payload.append(reason.substr(0, Utf8Prefix(reason, kMaxControlPayload - 2)));
  return WsControlFrame(WsOpcode::kClose, payload);
}

boost::asio::mutable_buffer WsFrameReader::ReadBuffer() {
  if (begin_ == end_) begin_ = end_ = 0;
  size_t room = std::max(kMinReadRoom, needed_ > end_ - begin_ ? needed_ - (end_ - begin_) : 0);
  if (buffer_.size() - end_ < room) {
    // Move what is unhandled to the front, then grow if that is not room enough.
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    if (buffer_.size() - end_ < room) {
      buffer_.resize(std::max({end_ + room, 2 * buffer_.size(), kFirstReadBuffer}));
    }
  }
  return boost::asio::mutable_buffer(buffer_.data() + end_, buffer_.size() - end_);
}

void WsFrameReader::ReleaseWhenEmpty() {
  if (begin_ != end_) return;
  begin_ = end_ = 0;
  std::string().swap(buffer_);
  if (!in_message_) std::string().swap(message_);
}

WsFrameReader::Item WsFrameReader::Fail(uint16_t code, std::string_view reason) {
  Item item;
  item.kind = Item::kError;
  item.code = code;
  item.reason = reason;
  return item;
}

WsFrameReader::Item WsFrameReader::Next() {
  for (;;) {
    const auto* data = reinterpret_cast<const unsigned char*>(buffer_.data() + begin_);
    size_t available = end_ - begin_;
    if (available < 2) return {};
    bool fin = (data[0] & 0x80) != 0;
    auto opcode = static_cast<WsOpcode>(data[0] & 0x0f);
    if ((data[0] & 0x70) != 0) return Fail(1002, "reserved bits set");
    if ((data[1] & 0x80) == 0) return Fail(1002, "client frames must be masked");
    bool control = (data[0] & 0x08) != 0;
    switch (opcode) {
      case WsOpcode::kContinuation:
      case WsOpcode::kText:
      case WsOpcode::kBinary:
      case WsOpcode::kClose:
      case WsOpcode::kPing:
      case WsOpcode::kPong:
        break;
      default:
        return Fail(1002, "unknown opcode");
    }
    uint64_t length = data[1] & 0x7f;
    size_t header = 2;
    if (length == 126) {
      if (available < 4) return {};
      length = (uint64_t{data[2]} << 8) | data[3];
      header = 4;
    } else if (length == 127) {
      if (available < 10) return {};
      length = 0;
      for (int i = 0; i < 8; ++i) length = (length << 8) | data[2 + i];
      header = 10;
      if (length >> 63) return Fail(1002, "bad frame length");
    }
    if (control && (!fin || length > kMaxControlPayload)) {
      return Fail(1002, "bad control frame");
    }
    if (!control) {
      if (opcode == WsOpcode::kContinuation && !in_message_) {
        return Fail(1002, "continuation frame without a message");
      }
      if (opcode != WsOpcode::kContinuation && in_message_) {
        return Fail(1002, "new message before the last one ended");
      }
      size_t joined = in_message_ ? message_.size() : 0;
      if (length > max_message_bytes_ - joined) {
        return Fail(1009, "message too big");
      }
    }
    header += 4;  // The mask.
    if (available < header + length) {
      needed_ = header + static_cast<size_t>(length);
      return {};
    }
    needed_ = 0;
    char* payload = buffer_.data() + begin_ + header;
    const unsigned char* mask = data + header - 4;
    for (size_t i = 0; i < length; ++i) payload[i] = static_cast<char>(payload[i] ^ mask[i % 4]);
    std::string_view bytes(payload, static_cast<size_t>(length));
    begin_ += header + static_cast<size_t>(length);

    Item item;
    switch (opcode) {
      case WsOpcode::kPing:
        item.kind = Item::kPing;
        item.payload = bytes;
        return item;
      case WsOpcode::kPong:
        item.kind = Item::kPong;
        return item;
      case WsOpcode::kClose:
        item.kind = Item::kClose;
        if (bytes.size() == 1) return Fail(1002, "bad close frame");
        if (bytes.size() >= 2) {
          item.code = static_cast<uint16_t>((static_cast<unsigned char>(bytes[0]) << 8) |
                                            static_cast<unsigned char>(bytes[1]));
          if (!IsValidCloseCode(item.code)) return Fail(1002, "bad close code");
          item.reason = bytes.substr(2);
        }
        return item;
      default:
        break;
    }
    if (fin && !in_message_) {
      item.kind = Item::kMessage;
      item.text = opcode == WsOpcode::kText;
      item.payload = bytes;
      return item;
    }
    if (!in_message_) {
      in_message_ = true;
      message_text_ = opcode == WsOpcode::kText;
      message_.clear();
    }
    message_.append(bytes);
    if (!fin) continue;
    in_message_ = false;
    item.kind = Item::kMessage;
    item.text = message_text_;
    item.payload = message_;
    return item;
  }
}

}  // namespace herald
