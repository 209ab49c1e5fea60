// The WebSocket wire format: handshake answer, server frames, and the reader of client frames.
#include "edge/websocket_frames.h"

#include <gtest/gtest.h>

#include <cstring>

namespace herald {
namespace {

// A client frame: masked with a fixed key, as RFC 6455 requires of clients.
std::string ClientFrame(uint8_t first_byte, std::string_view payload) {
  std::string frame;
  frame.push_back(static_cast<char>(first_byte));
  const char mask[4] = {0x11, 0x22, 0x33, 0x44};
  if (payload.size() < 126) {
    frame.push_back(static_cast<char>(0x80 | payload.size()));
  } else {
    frame.push_back(static_cast<char>(0x80 | 126));
    frame.push_back(static_cast<char>(payload.size() >> 8));
    frame.push_back(static_cast<char>(payload.size()));
  }
  frame.append(mask, 4);
  for (size_t i = 0; i < payload.size(); ++i) frame.push_back(payload[i] ^ mask[i % 4]);
  return frame;
}

void Feed(WsFrameReader& reader, std::string_view bytes) {
  while (!bytes.empty()) {
    boost::asio::mutable_buffer room = reader.ReadBuffer();
    size_t size = std::min(room.size(), bytes.size());
    std::memcpy(room.data(), bytes.data(), size);
    reader.Commit(size);
    bytes.remove_prefix(size);
  }
}

TEST(WebSocketFrames, AnswersTheHandshakeKeyAsRfc6455Shows) {
  EXPECT_EQ(WsAcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_TRUE(IsValidWsKey("dGhlIHNhbXBsZSBub25jZQ=="));
  EXPECT_FALSE(IsValidWsKey(""));
  EXPECT_FALSE(IsValidWsKey("not a key"));
  EXPECT_FALSE(IsValidWsKey("dGhlIHNhbXBsZSBub25jZQ"));
}

TEST(WebSocketFrames, ServerHeadersUseTheShortestLength) {
  char header[10];
  EXPECT_EQ(WriteWsBinaryHeader(125, header), 2u);
  EXPECT_EQ(std::string(header, 2), std::string("\x82\x7d", 2));
  EXPECT_EQ(WriteWsBinaryHeader(126, header), 4u);
  EXPECT_EQ(std::string(header, 4), std::string("\x82\x7e\x00\x7e", 4));
  EXPECT_EQ(WriteWsBinaryHeader(70000, header), 10u);
  EXPECT_EQ(std::string(header, 10), std::string("\x82\x7f\0\0\0\0\0\x01\x11\x70", 10));
}

TEST(WebSocketFrames, CloseFrameCarriesCodeAndAReasonCutToFit) {
  EXPECT_EQ(WsCloseFrame(4408, "slow consumer"), std::string("\x88\x0f\x11\x38slow consumer"));
  EXPECT_EQ(WsCloseFrame(0, ""), std::string("\x88\x00", 2));
  // 130 bytes of two-byte characters: cut to 122 (not 123, which would split one).
  std::string reason;
  for (int i = 0; i < 65; ++i) reason += "é";
  std::string frame = WsCloseFrame(1000, reason);
  EXPECT_EQ(frame.size(), 2u + 2u + 122u);
}

TEST(WebSocketFrames, ReadsMessagesWholeAcrossReadsAndFragments) {
  WsFrameReader reader(1000);
  std::string bytes = ClientFrame(0x82, "first") + ClientFrame(0x02, "sec") +
                      ClientFrame(0x89, "p") + ClientFrame(0x80, "ond");
  // One byte at a time: nothing completes early.
  for (size_t i = 0; i + 1 < ClientFrame(0x82, "first").size(); ++i) {
    Feed(reader, bytes.substr(i, 1));
    EXPECT_EQ(reader.Next().kind, WsFrameReader::Item::kNeedMore);
  }
  Feed(reader, bytes.substr(ClientFrame(0x82, "first").size() - 1));
  WsFrameReader::Item item = reader.Next();
  ASSERT_EQ(item.kind, WsFrameReader::Item::kMessage);
  EXPECT_FALSE(item.text);
  EXPECT_EQ(item.payload, "first");
  // A ping may come between the fragments of a message.
  item = reader.Next();
  ASSERT_EQ(item.kind, WsFrameReader::Item::kPing);
  EXPECT_EQ(item.payload, "p");
  item = reader.Next();
  ASSERT_EQ(item.kind, WsFrameReader::Item::kMessage);
  EXPECT_EQ(item.payload, "second");
  EXPECT_EQ(reader.Next().kind, WsFrameReader::Item::kNeedMore);
}

TEST(WebSocketFrames, ALargeMessageGrowsTheBufferWhichIsReleasedAfter) {
  std::string big(60000, 'x');
  std::string frame = ClientFrame(0x82, big);
  WsFrameReader large(100000);
  Feed(large, frame);
  WsFrameReader::Item item = large.Next();
  ASSERT_EQ(item.kind, WsFrameReader::Item::kMessage);
  EXPECT_EQ(item.payload.size(), 60000u);
  EXPECT_EQ(large.Next().kind, WsFrameReader::Item::kNeedMore);
  EXPECT_GE(large.buffer_capacity(), 60000u);
  large.ReleaseWhenEmpty();
  EXPECT_EQ(large.buffer_capacity(), 0u);
  EXPECT_LE(large.ReadBuffer().size(), 1024u);
}

TEST(WebSocketFrames, APartialFrameIsKeptWhenBuffersAreReleased) {
  std::string frame = ClientFrame(0x82, "kept whole");
  WsFrameReader reader(1000);
  Feed(reader, frame.substr(0, 5));
  EXPECT_EQ(reader.Next().kind, WsFrameReader::Item::kNeedMore);
  reader.ReleaseWhenEmpty();
  EXPECT_GT(reader.buffer_capacity(), 0u);
  Feed(reader, frame.substr(5));
  WsFrameReader::Item item = reader.Next();
  ASSERT_EQ(item.kind, WsFrameReader::Item::kMessage);
  EXPECT_EQ(item.payload, "kept whole");
}

TEST(WebSocketFrames, AFragmentedMessageSurvivesReleasedReadBuffers) {
  WsFrameReader reader(1000);
  Feed(reader, ClientFrame(0x02, "first half, "));  // Binary, not final.
  EXPECT_EQ(reader.Next().kind, WsFrameReader::Item::kNeedMore);
  reader.ReleaseWhenEmpty();
  Feed(reader, ClientFrame(0x80, "second half"));  // Continuation, final.
  WsFrameReader::Item item = reader.Next();
  ASSERT_EQ(item.kind, WsFrameReader::Item::kMessage);
  EXPECT_EQ(item.payload, "first half, second half");
  EXPECT_FALSE(item.text);
}

TEST(WebSocketFrames, ReportsProtocolErrorsWithTheirCloseCodes) {
  struct Case {
    std::string bytes;
    uint16_t code;
  };
  std::string unmasked("\x82\x01x", 3);
  std::vector<Case> cases = {
      {unmasked, 1002},
      {ClientFrame(0xc2, "x"), 1002},              // A reserved bit (compression not agreed).
      {ClientFrame(0x83, "x"), 1002},              // Unknown opcode.
      {ClientFrame(0x09, "x"), 1002},              // A fragmented ping.
      {ClientFrame(0x80, "x"), 1002},              // A continuation with no message.
      {ClientFrame(0x02, "x") + ClientFrame(0x82, "y"), 1002},  // A message inside a message.
      {ClientFrame(0x82, std::string(101, 'x')), 1009},
      {ClientFrame(0x02, std::string(60, 'x')) + ClientFrame(0x80, std::string(60, 'x')), 1009},
      {ClientFrame(0x88, "x"), 1002},              // A one-byte close payload.
      {ClientFrame(0x88, std::string("\x03\xed", 2)), 1002},  // Close code 1005 on the wire.
  };
  for (const Case& test : cases) {
    WsFrameReader reader(100);
    Feed(reader, test.bytes);
    WsFrameReader::Item item = reader.Next();
    while (item.kind == WsFrameReader::Item::kMessage) item = reader.Next();
    EXPECT_EQ(item.kind, WsFrameReader::Item::kError);
    EXPECT_EQ(item.code, test.code);
  }
}

TEST(WebSocketFrames, AFragmentedMessageDoesNotCountTowardTheNextOnesLimit) {
  WsFrameReader reader(100);
  Feed(reader, ClientFrame(0x02, std::string(60, 'x')) + ClientFrame(0x80, std::string(30, 'x')) +
                   ClientFrame(0x82, std::string(20, 'y')) +
                   ClientFrame(0x02, std::string(50, 'z')) + ClientFrame(0x80, std::string(50, 'z')));
  WsFrameReader::Item item = reader.Next();
  ASSERT_EQ(item.kind, WsFrameReader::Item::kMessage);
  EXPECT_EQ(item.payload.size(), 90u);
  item = reader.Next();
  ASSERT_EQ(item.kind, WsFrameReader::Item::kMessage);
  EXPECT_EQ(item.payload, std::string(20, 'y'));
  item = reader.Next();
  ASSERT_EQ(item.kind, WsFrameReader::Item::kMessage);
  EXPECT_EQ(item.payload.size(), 100u);
}

TEST(WebSocketFrames, ReadsCloseFramesTextMessagesAndPongs) {
  WsFrameReader reader(100);
  Feed(reader, ClientFrame(0x81, "hi") + ClientFrame(0x8a, "") +
                   ClientFrame(0x88, std::string("\x03\xe8" "done", 6)));
  WsFrameReader::Item item = reader.Next();
  ASSERT_EQ(item.kind, WsFrameReader::Item::kMessage);
  EXPECT_TRUE(item.text);
  EXPECT_EQ(reader.Next().kind, WsFrameReader::Item::kPong);
  item = reader.Next();
  ASSERT_EQ(item.kind, WsFrameReader::Item::kClose);
  EXPECT_EQ(item.code, 1000);
  EXPECT_EQ(item.reason, "done");
}

}  // namespace
}  // namespace herald
