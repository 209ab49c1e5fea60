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
  const std::vector<boost::asio::const_buffer>& buffers = queue.StartWrite(64);
  EXPECT_EQ(buffers.size(), 2u);
  EXPECT_EQ(boost::asio::buffer_size(buffers), 30u);
  EXPECT_TRUE(queue.writing());
  EXPECT_FALSE(queue.has_pending());
  EXPECT_TRUE(queue.Push(Bytes(5)));
  EXPECT_TRUE(queue.CompleteWrite(30));
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

TEST(OutgoingQueue, AnOverdrawnQueueTakesTwiceItsLimitUntilItIsBackUnderIt) {
  OutgoingQueue queue(100, 0);
  EXPECT_TRUE(queue.Push(Bytes(90)));
  EXPECT_EQ(queue.live_room(), 10u);
  EXPECT_FALSE(queue.Push(Bytes(20)));
  queue.Overdraw();
  EXPECT_EQ(queue.live_room(), 110u);
  EXPECT_TRUE(queue.Push(Bytes(20)));
  EXPECT_TRUE(queue.Push(Bytes(90)));
  EXPECT_FALSE(queue.Push(Bytes(1)));  // 200: twice the limit.
  // A write takes the pending bytes: back under the limit, the limit is the limit again.
  queue.StartWrite(64);
  EXPECT_FALSE(queue.overdrawn());
  EXPECT_EQ(queue.live_room(), 100u);
  EXPECT_TRUE(queue.CompleteWrite(200));
}

TEST(OutgoingQueue, AWriteTakesAbout256KiBAndLeavesTheRestPending) {
  OutgoingQueue queue(1 << 30, 0);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(queue.Push(Bytes(100 * 1024)));
  EXPECT_EQ(boost::asio::buffer_size(queue.StartWrite(64)), 300u * 1024);
  EXPECT_EQ(queue.pending_bytes(), 700u * 1024);
  EXPECT_TRUE(queue.CompleteWrite(300 * 1024));
  // Live bytes written leave room under the live limit.
  OutgoingQueue bounded(250 * 1024, 0);
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(bounded.Push(Bytes(100 * 1024)));
  bounded.StartWrite(64);
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
  const std::vector<boost::asio::const_buffer>& buffers = queue.StartWrite(64);
  ASSERT_EQ(buffers.size(), 1u);
  EXPECT_EQ(std::string(static_cast<const char*>(buffers[0].data()), buffers[0].size()), expected);
  EXPECT_TRUE(queue.CompleteWrite(expected.size()));
  EXPECT_FALSE(queue.has_pending());
}

std::string Concat(const std::vector<boost::asio::const_buffer>& buffers) {
  std::string out;
  for (const boost::asio::const_buffer& buffer : buffers) {
    out.append(static_cast<const char*>(buffer.data()), buffer.size());
  }
  return out;
}

// A framing that shows its runs: "<size>[" ... "]".
size_t TestHeader(size_t payload_bytes, char* out) {
  std::string header = std::to_string(payload_bytes) + "[";
  header.copy(out, header.size());
  return header.size();
}

TEST(OutgoingQueue, RunsOfMessageBytesAreFramedAndUnframedBytesLeaveAsTheyAre) {
  OutgoingQueue queue(1000, 0, {.header = &TestHeader, .trailer = "]"});
  queue.PushUnframed(std::make_shared<const std::string>("HEAD "));
  EXPECT_TRUE(queue.Push(std::make_shared<const std::string>("ab")));
  EXPECT_TRUE(queue.PushReplayed(std::make_shared<const std::string>("cde")));
  queue.PushUnframed(std::make_shared<const std::string>(" PING "));
  queue.PushLastWords(std::make_shared<const std::string>("bye"));
  std::string written = Concat(queue.StartWrite(64));
  EXPECT_EQ(written, "HEAD 5[abcde] PING 3[bye]");
  EXPECT_TRUE(queue.CompleteWrite(written.size()));
  EXPECT_FALSE(queue.has_pending());
}

TEST(OutgoingQueue, APartialWriteLeavesTheRestOfItsBatchForTheNextWrite) {
  OutgoingQueue queue(1000, 0, {.header = &TestHeader, .trailer = "]"});
  EXPECT_TRUE(queue.Push(std::make_shared<const std::string>("hello")));
  EXPECT_TRUE(queue.Push(std::make_shared<const std::string>("world")));
  EXPECT_EQ(Concat(queue.StartWrite(64)), "10[helloworld]");
  EXPECT_FALSE(queue.CompleteWrite(6));
  EXPECT_TRUE(queue.has_pending());
  EXPECT_FALSE(queue.writing());
  // Bytes queued meanwhile wait for the batch to finish; they are not mixed into it.
  EXPECT_TRUE(queue.Push(std::make_shared<const std::string>("!")));
  EXPECT_EQ(Concat(queue.StartWrite(64)), "loworld]");
  EXPECT_FALSE(queue.CompleteWrite(0));
  EXPECT_EQ(Concat(queue.StartWrite(64)), "loworld]");
  EXPECT_TRUE(queue.CompleteWrite(8));
  EXPECT_EQ(Concat(queue.StartWrite(64)), "1[!]");
  EXPECT_TRUE(queue.CompleteWrite(4));
  EXPECT_FALSE(queue.has_pending());
}

TEST(OutgoingQueue, CopiedBytesKeepTheirPlaceAcrossBatches) {
  OutgoingQueue queue(1 << 20, 0);
  std::string big(200 * 1024, 'b');
  EXPECT_TRUE(queue.PushCopy("id: 1\n", /*replayed=*/false));
  EXPECT_TRUE(queue.Push(std::make_shared<const std::string>(big)));
  EXPECT_TRUE(queue.PushCopy("id: 2\n", /*replayed=*/false));
  EXPECT_TRUE(queue.Push(std::make_shared<const std::string>(big)));
  EXPECT_TRUE(queue.PushCopy("id: 3\n", /*replayed=*/false));
  // The first batch stops after about 256 KiB; what is left keeps its copied bytes.
  std::string first = Concat(queue.StartWrite(64));
  EXPECT_EQ(first, "id: 1\n" + big + "id: 2\n" + big);
  EXPECT_TRUE(queue.PushCopy("id: 4\n", /*replayed=*/false));
  EXPECT_TRUE(queue.CompleteWrite(first.size()));
  EXPECT_EQ(Concat(queue.StartWrite(64)), "id: 3\nid: 4\n");
}

TEST(OutgoingQueue, CopiesCountTowardTheirLimit) {
  OutgoingQueue queue(10, 5);
  EXPECT_TRUE(queue.PushCopy("12345678", /*replayed=*/false));
  EXPECT_FALSE(queue.PushCopy("123", /*replayed=*/false));
  EXPECT_TRUE(queue.PushCopy("1234567", /*replayed=*/true));
  EXPECT_FALSE(queue.PushCopy("1", /*replayed=*/true));
}

TEST(OutgoingQueue, ALongBacklogLeavesInOrderAcrossBatchesAndPartialWrites) {
  OutgoingQueue queue(1 << 30, 0);
  auto body = std::make_shared<const std::string>(200, 'b');
  std::string expected;
  for (int i = 0; i < 3000; ++i) {
    std::string id = "id: " + std::to_string(i) + "\n";
    EXPECT_TRUE(queue.PushCopy(id, /*replayed=*/false));
    EXPECT_TRUE(queue.Push(body));
    expected += id + *body;
  }
  std::string written;
  int writes = 0;
  while (queue.has_pending()) {
    std::string batch = Concat(queue.StartWrite(64));
    // Each write takes only part of what it was offered, as a full socket would.
    size_t taken = std::min(batch.size(), size_t{100000});
    written += batch.substr(0, taken);
    queue.CompleteWrite(taken);
    ++writes;
  }
  EXPECT_EQ(written, expected);
  EXPECT_GT(writes, 6);
  EXPECT_EQ(queue.pending_bytes(), 0u);
}

TEST(OutgoingQueue, MessagesLeaveOneAtATimeWithTheirSuffixAndCountTowardTheLimit) {
  OutgoingQueue queue(40, 100);
  auto first = std::make_shared<const std::string>("headEVENT1");
  auto second = std::make_shared<const std::string>("EVENT2");
  EXPECT_TRUE(queue.PushMessage(first, std::string_view(*first).substr(4), "+e1", false));
  EXPECT_TRUE(queue.PushMessage(second, *second, "", false));
  EXPECT_EQ(queue.pending_bytes(), 15u);
  // 15 live bytes queued: 26 more would pass the limit of 40, unless replayed.
  EXPECT_FALSE(queue.PushMessage(first, *first, std::string(20, 'x'), false));
  EXPECT_TRUE(queue.PushMessage(first, *first, std::string(20, 'x'), true));

  const std::vector<OutgoingQueue::Piece>& message = queue.StartMessageWrite();
  ASSERT_EQ(message.size(), 2u);
  EXPECT_EQ(message[0].view(), "EVENT1");
  EXPECT_EQ(message[1].view(), "+e1");
  EXPECT_TRUE(queue.writing());
  EXPECT_EQ(queue.write_bytes(), 9u);
  EXPECT_TRUE(queue.CompleteWrite(queue.write_bytes()));

  const std::vector<OutgoingQueue::Piece>& next = queue.StartMessageWrite();
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].view(), "EVENT2");
  EXPECT_TRUE(queue.CompleteWrite(queue.write_bytes()));

  const std::vector<OutgoingQueue::Piece>& replayed = queue.StartMessageWrite();
  ASSERT_EQ(replayed.size(), 2u);
  EXPECT_EQ(replayed[0].view(), "headEVENT1");
  EXPECT_EQ(replayed[1].view(), std::string(20, 'x'));
  EXPECT_TRUE(queue.CompleteWrite(queue.write_bytes()));
  EXPECT_FALSE(queue.has_pending());
}

TEST(OutgoingQueue, AMessageLargerThanABatchStillLeavesWhole) {
  OutgoingQueue queue(4 << 20, 0);
  auto large = std::make_shared<const std::string>(OutgoingQueue::kMaxWriteBytes + 10, 'x');
  EXPECT_TRUE(queue.PushMessage(large, *large, "epoch", false));
  EXPECT_TRUE(queue.PushMessage(large, *large, "epoch", false));
  const std::vector<OutgoingQueue::Piece>& message = queue.StartMessageWrite();
  ASSERT_EQ(message.size(), 2u);
  EXPECT_EQ(message[1].view(), "epoch");
  EXPECT_TRUE(queue.CompleteWrite(queue.write_bytes()));
  EXPECT_TRUE(queue.has_pending());
}

TEST(OutgoingQueue, TellsItsLoopWhatItWroteAndHoldsInSteps) {
  LoopLoad load;
  {
    OutgoingQueue queue(1 << 20, 0, {}, &load, TransportKind::kSse);
    // Under a step: nothing told yet, and a queue that keeps up never tells anything.
    ASSERT_TRUE(queue.Push(Bytes(1000)));
    EXPECT_EQ(load.queued_bytes(), 0u);
    queue.StartWrite(64);
    EXPECT_EQ(load.sent_bytes(TransportKind::kSse), 1000u);
    EXPECT_TRUE(queue.CompleteWrite(1000));
    // A backlog is told once it grows by a step.
    ASSERT_TRUE(queue.Push(Bytes(OutgoingQueue::kQueuedReportStep)));
    EXPECT_EQ(load.queued_bytes(), OutgoingQueue::kQueuedReportStep);
    ASSERT_TRUE(queue.Push(Bytes(100)));
    EXPECT_EQ(load.queued_bytes(), OutgoingQueue::kQueuedReportStep);
    // Taken by a write down to nothing: told at once.
    queue.StartWrite(64);
    EXPECT_EQ(load.queued_bytes(), 0u);
    EXPECT_EQ(load.sent_bytes(TransportKind::kSse), 1100u + OutgoingQueue::kQueuedReportStep);
    EXPECT_EQ(load.sent_bytes(TransportKind::kWebSocket), 0u);
    ASSERT_TRUE(queue.CompleteWrite(100 + OutgoingQueue::kQueuedReportStep));
    ASSERT_TRUE(queue.Push(Bytes(2 * OutgoingQueue::kQueuedReportStep)));
    EXPECT_EQ(load.queued_bytes(), 2 * OutgoingQueue::kQueuedReportStep);
  }
  // A queue that goes takes its share with it.
  EXPECT_EQ(load.queued_bytes(), 0u);
}

TEST(OutgoingQueue, TimesOneEventAtATimeUntilItsLastByteIsWritten) {
  LoopLoad load;
  OutgoingQueue queue(1 << 20, 0, {}, &load);
  auto lag_count = [&load] {
    DurationHistogram::Totals totals;
    load.delivery_lag().AddTo(totals);
    uint64_t count = 0;
    for (uint64_t bucket : totals.buckets) count += bucket;
    return count;
  };
  int64_t published = absl::ToUnixMillis(absl::Now()) - 2000;
  ASSERT_TRUE(queue.Push(Bytes(100)));
  queue.SampleDeliveryLag(published);
  ASSERT_TRUE(queue.Push(Bytes(100)));
  queue.SampleDeliveryLag(published);  // One is timed already: not this one.
  queue.StartWrite(64);
  EXPECT_FALSE(queue.CompleteWrite(150));  // Its last byte not written yet.
  EXPECT_EQ(lag_count(), 0u);
  queue.StartWrite(64);
  EXPECT_TRUE(queue.CompleteWrite(50));
  EXPECT_EQ(lag_count(), 1u);
  DurationHistogram::Totals totals;
  load.delivery_lag().AddTo(totals);
  EXPECT_EQ(totals.buckets[10], 1u);  // kBounds[9] = 1 s < lag <= kBounds[10] = 2.5 s.
  // Dropped before it was written: never timed.
  ASSERT_TRUE(queue.Push(Bytes(100)));
  queue.SampleDeliveryLag(published);
  queue.DropPending();
  ASSERT_TRUE(queue.Push(Bytes(100)));
  queue.StartWrite(64);
  EXPECT_TRUE(queue.CompleteWrite(100));
  EXPECT_EQ(lag_count(), 1u);
}

}  // namespace
}  // namespace herald
