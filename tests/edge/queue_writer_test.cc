// Telling a peer that reads from one that does not, by what the kernel holds unsent.
#include "edge/queue_writer.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <optional>
#include <thread>

#include "hub/loop_load.h"

namespace herald {
namespace {

// A connected loopback TCP pair: `sender` (non-blocking) and `receiver`.
struct TcpPair {
  int sender = -1;
  int receiver = -1;

  TcpPair() {
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    listen(listener, 1);
    getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
    sender = socket(AF_INET, SOCK_STREAM, 0);
    connect(sender, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    receiver = accept(listener, nullptr, nullptr);
    close(listener);
    fcntl(sender, F_SETFL, fcntl(sender, F_GETFL) | O_NONBLOCK);
  }
  ~TcpPair() {
    close(sender);
    close(receiver);
  }
};

TEST(PeerDrains, APeerThatStopsReadingFillsTheSocketAndOneThatReadsEmptiesIt) {
  TcpPair pair;
  ASSERT_GE(pair.receiver, 0);
  EXPECT_TRUE(PeerDrains(pair.sender));

  std::string chunk(64 * 1024, 'x');
  size_t sent = 0;
  while (true) {
    ssize_t written = send(pair.sender, chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (written <= 0) break;
    sent += static_cast<size_t>(written);
  }
  EXPECT_GT(sent, 0u);
  EXPECT_FALSE(PeerDrains(pair.sender));

  // The peer reads everything: the kernel holds nothing for it any more.
  std::vector<char> buffer(1 << 20);
  size_t received = 0;
  while (received < sent) {
    ssize_t read = recv(pair.receiver, buffer.data(), buffer.size(), 0);
    ASSERT_GT(read, 0);
    received += static_cast<size_t>(read);
  }
  for (int i = 0; i < 100 && !PeerDrains(pair.sender); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(PeerDrains(pair.sender));
}

TEST(PeerDrains, NotASocketIsNotAPeerThatDrains) { EXPECT_FALSE(PeerDrains(-1)); }

// A gateway-side stream of a loopback connection, and the peer's socket.
struct StreamPair {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket peer{io};
  std::optional<EdgeStream> stream;

  StreamPair() {
    using boost::asio::ip::tcp;
    tcp::acceptor acceptor(io, tcp::endpoint(boost::asio::ip::address_v4::loopback(), 0));
    peer.connect(acceptor.local_endpoint());
    stream.emplace(boost::beast::tcp_stream(acceptor.accept()));
  }
  // Writes to the peer, who does not read, until the socket takes no more.
  void FillSocket() {
    int fd = stream->tcp().socket().native_handle();
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    std::string chunk(64 * 1024, 'x');
    while (send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL) > 0) {
    }
  }
};

std::shared_ptr<const std::string> Bytes(size_t size) {
  return std::make_shared<const std::string>(size, 'x');
}

TEST(RoomForLive, PastTheLimitAPeerThatReadsIsKeptUpToTwiceIt) {
  StreamPair pair;
  LoopLoad load;
  OutgoingQueue queue(1000, 0, {}, &load);
  ASSERT_TRUE(RoomForLive(queue, *pair.stream, 900, load));
  ASSERT_TRUE(queue.Push(Bytes(900)));
  EXPECT_EQ(load.overdrawn_queues(), 0u);

  EXPECT_TRUE(RoomForLive(queue, *pair.stream, 500, load));
  EXPECT_TRUE(queue.overdrawn());
  EXPECT_EQ(load.overdrawn_queues(), 1u);
  ASSERT_TRUE(queue.Push(Bytes(500)));
  EXPECT_FALSE(RoomForLive(queue, *pair.stream, 700, load));  // Past twice the limit.
}

// One connection alone, whatever its peer does (a TLS peer that stalls and then drains once
// looks like one that reads while its queue is past the limit), never makes the loop look
// behind: the loop is judged on how many of its connections are.
TEST(RoomForLive, OneOverdrawnQueueDoesNotMakeTheLoopBackloggedManyDo) {
  StreamPair first, second;
  LoopLoad load;
  {
    OutgoingQueue a(1000, 0, {}, &load);
    ASSERT_TRUE(a.Push(Bytes(900)));
    ASSERT_TRUE(RoomForLive(a, *first.stream, 500, load));
    ASSERT_TRUE(a.overdrawn());
    EXPECT_FALSE(load.WriteBacklogged(/*attached=*/1));
    EXPECT_FALSE(load.WriteBacklogged(/*attached=*/2));

    OutgoingQueue b(1000, 0, {}, &load);
    ASSERT_TRUE(b.Push(Bytes(900)));
    ASSERT_TRUE(RoomForLive(b, *second.stream, 500, load));
    EXPECT_TRUE(load.WriteBacklogged(/*attached=*/2));
    EXPECT_TRUE(load.WriteBacklogged(/*attached=*/8));
    EXPECT_FALSE(load.WriteBacklogged(/*attached=*/9));  // Two of nine: a few connections.
    for (int i = 0; i < 6; ++i) load.CountOverdrawnQueue(+1);
    EXPECT_TRUE(load.WriteBacklogged(/*attached=*/1000));  // Eight: many, whatever the share.
    for (int i = 0; i < 6; ++i) load.CountOverdrawnQueue(-1);

    // Back under its limit once written: no longer counted.
    a.StartWrite(kMaxGatherBuffers);
    EXPECT_FALSE(a.overdrawn());
    EXPECT_EQ(load.overdrawn_queues(), 1u);
    EXPECT_FALSE(load.WriteBacklogged(/*attached=*/2));
  }
  EXPECT_EQ(load.overdrawn_queues(), 0u);  // A queue that goes is no longer counted.
}

// A small write that waited says nothing about how many writes the backlog takes: the batches
// behind it are full ones.
TEST(EstimatedWriteWait, CountsTheBatchesBehindNotWritesOfTheCurrentSize) {
  absl::Duration waited = absl::Milliseconds(100);
  EXPECT_EQ(EstimatedWriteWait(waited, 0, 100), waited);
  EXPECT_EQ(EstimatedWriteWait(waited, 64 * 1024, 100), waited * 1.25);
  EXPECT_EQ(EstimatedWriteWait(waited, 1024 * 1024, OutgoingQueue::kMaxWriteBytes), waited * 5);
  EXPECT_EQ(EstimatedWriteWait(waited, 1024 * 1024, 512 * 1024), waited * 3);
}

TEST(RoomForLive, PastTheLimitAPeerThatDoesNotReadIsASlowConsumer) {
  StreamPair pair;
  pair.FillSocket();
  LoopLoad load;
  OutgoingQueue queue(1000, 0, {}, &load);
  ASSERT_TRUE(RoomForLive(queue, *pair.stream, 900, load));  // Within the limit: no question.
  ASSERT_TRUE(queue.Push(Bytes(900)));
  EXPECT_FALSE(RoomForLive(queue, *pair.stream, 500, load));
  EXPECT_FALSE(queue.overdrawn());
  EXPECT_EQ(load.overdrawn_queues(), 0u);
}

TEST(RoomForLive, AnOverdrawnQueueWhosePeerStopsReadingIsCutAtTheNextLook) {
  StreamPair pair;
  LoopLoad load;
  OutgoingQueue queue(1000, 0);
  ASSERT_TRUE(queue.Push(Bytes(900)));
  ASSERT_TRUE(RoomForLive(queue, *pair.stream, 500, load));
  ASSERT_TRUE(queue.overdrawn());
  pair.FillSocket();
  // What the last look found holds for a moment; the next look finds the socket full.
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_FALSE(RoomForLive(queue, *pair.stream, 10, load));
}

TEST(RoomForLive, APlainWriteWaitingForTheSocketMeansThePeerDoesNotKeepUp) {
  StreamPair pair;
  LoopLoad load;
  OutgoingQueue queue(1000, 0);
  ASSERT_TRUE(queue.Push(Bytes(100)));
  // A plain write is pending only while the socket is full.
  queue.StartWrite(kMaxGatherBuffers);
  ASSERT_TRUE(queue.writing());
  ASSERT_TRUE(queue.Push(Bytes(900)));
  // This socket is in fact empty (PeerDrains would say yes): the pending write is what tells.
  ASSERT_TRUE(PeerDrains(pair.stream->tcp().socket().native_handle()));
  EXPECT_FALSE(RoomForLive(queue, *pair.stream, 500, load));
  EXPECT_FALSE(queue.overdrawn());
  EXPECT_EQ(load.overdrawn_queues(), 0u);
}

// A gRPC stream tells in its own way whether its consumer reads; the policy is the same.
TEST(RoomForLive, ATransportThatJudgesItsOwnPeerGetsTheSamePolicy) {
  LoopLoad load;
  OutgoingQueue reads(1000, 0, {}, &load);
  OutgoingQueue stalled(1000, 0, {}, &load);
  auto bytes = std::make_shared<const std::string>(900, 'x');
  for (OutgoingQueue* queue : {&reads, &stalled}) {
    ASSERT_TRUE(RoomForLive(*queue, 900, [] { return false; }));  // Within the limit.
    ASSERT_TRUE(queue->PushMessage(bytes, *bytes, "", false));
  }
  EXPECT_TRUE(RoomForLive(reads, 900, [] { return true; }));
  EXPECT_TRUE(reads.overdrawn());
  EXPECT_FALSE(RoomForLive(stalled, 900, [] { return false; }));
  EXPECT_FALSE(stalled.overdrawn());
  EXPECT_EQ(load.overdrawn_queues(), 1u);
}

}  // namespace
}  // namespace herald
