// Telling a peer that reads from one that does not, by what the kernel holds unsent.
#include "edge/queue_writer.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

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

}  // namespace
}  // namespace herald
