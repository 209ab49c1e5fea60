// Pre-encoded ServerMessage blocks written back to back decode as one ServerMessage.
#include <gtest/gtest.h>

#include "herald/v1/websocket.pb.h"
#include "codec/encoded_event.h"

namespace herald {
namespace {

TEST(Batch, ConcatenatedEventBlocksAndRepliesDecodeAsOneMessageInOrder) {
  std::string frame;
  for (uint64_t offset = 1; offset <= 4; ++offset) {
    herald::v1::Event event;
    event.set_topic("chat");
    event.set_offset(offset);
    event.set_data("payload " + std::to_string(offset));
    frame += EncodeEvent(event)->ws_frame();
  }
  herald::v1::ServerMessage reply_block;
  reply_block.add_replies()->set_id(9);
  frame += reply_block.SerializeAsString();

  herald::v1::ServerMessage message;
  ASSERT_TRUE(message.ParseFromString(frame));
  ASSERT_EQ(message.events_size(), 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(message.events(i).offset(), static_cast<uint64_t>(i + 1));
    EXPECT_EQ(message.events(i).data(), "payload " + std::to_string(i + 1));
  }
  ASSERT_EQ(message.replies_size(), 1);
  EXPECT_EQ(message.replies(0).id(), 9u);
}

}  // namespace
}  // namespace herald
