// The bounded outgoing queue.
#include "edge/outgoing_queue.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

std::shared_ptr<const std::string> Bytes(size_t size) {
  return std::make_shared<const std::string>(size, 'x');
}

TEST(OutgoingQueue, BatchesEverythingPendingIntoOneWrite) {
  OutgoingQueue queue(100, 0);
  EXPECT_TRUE(queue.Push(Bytes(10)));
  EXPECT_TRUE(queue.Push(Bytes(20)));
  EXPECT_EQ(queue.pending_bytes(), 30u);
  const std::vector<boost::asio::const_buffer>& buffers = queue.StartWrite();
  EXPECT_EQ(buffers.size(), 2u);
  EXPECT_EQ(boost::asio::buffer_size(buffers), 30u);
  EXPECT_TRUE(queue.writing());
  EXPECT_FALSE(queue.has_pending());
  EXPECT_TRUE(queue.Push(Bytes(5)));
  queue.CompleteWrite();
  EXPECT_FALSE(queue.writing());
  EXPECT_TRUE(queue.has_pending());
}

TEST(OutgoingQueue, RefusesPastTheLimitButTakesLastWords) {
  OutgoingQueue queue(25, 100);
  EXPECT_TRUE(queue.Push(Bytes(20)));
  EXPECT_FALSE(queue.Push(Bytes(10)));
  EXPECT_EQ(queue.pending_bytes(), 20u);
  queue.DropPending();
  EXPECT_FALSE(queue.has_pending());
  EXPECT_TRUE(queue.PushReplayed(Bytes(40)));
  EXPECT_EQ(queue.pending_bytes(), 40u);
  // Replayed bytes leave the live limit to what comes live...
  EXPECT_TRUE(queue.Push(Bytes(20)));
  EXPECT_EQ(queue.pending_bytes(), 60u);
  // ...within the total limit (25 + 100).
  EXPECT_FALSE(queue.PushReplayed(Bytes(70)));
  queue.PushLastWords(Bytes(70));
  EXPECT_EQ(queue.pending_bytes(), 130u);
}

TEST(OutgoingQueue, AWriteTakesAbout256KiBAndLeavesTheRestPending) {
  OutgoingQueue queue(1 << 30, 0);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(queue.Push(Bytes(100 * 1024)));
  EXPECT_EQ(boost::asio::buffer_size(queue.StartWrite()), 300u * 1024);
  EXPECT_EQ(queue.pending_bytes(), 700u * 1024);
  queue.CompleteWrite();
  // Live bytes written leave room under the live limit.
  OutgoingQueue bounded(250 * 1024, 0);
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(bounded.Push(Bytes(100 * 1024)));
  bounded.StartWrite();
  EXPECT_TRUE(bounded.Push(Bytes(200 * 1024)));
}

TEST(OutgoingQueue, ABatchOfManyPiecesIsWrittenFromOneBuffer) {
  OutgoingQueue queue(1 << 20, 0);
  std::string expected;
  for (int i = 0; i < 100; ++i) {
    std::string piece = std::to_string(i) + ",";
    expected += piece;
    EXPECT_TRUE(queue.Push(std::make_shared<const std::string>(piece)));
  }
  const std::vector<boost::asio::const_buffer>& buffers = queue.StartWrite();
  ASSERT_EQ(buffers.size(), 1u);
  EXPECT_EQ(std::string(static_cast<const char*>(buffers[0].data()), buffers[0].size()), expected);
  queue.CompleteWrite();
  EXPECT_FALSE(queue.has_pending());
}

}  // namespace
}  // namespace herald
