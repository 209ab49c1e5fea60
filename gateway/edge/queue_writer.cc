// Non-blocking gather writes.
#include "edge/queue_writer.h"

#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>

#include "edge/socket_calls.h"

namespace herald {

bool PeerDrains(int fd) {
  int unsent = 0;
  int send_buffer = 0;
  socklen_t length = sizeof(send_buffer);
  // Bytes not sent yet (SIOCOUTQNSD), not those sent and waiting for their acknowledgement
  // (which SIOCOUTQ counts too): a reader on a long round trip is not a stalled one.
  if (ioctl(fd, SIOCOUTQNSD, &unsent) != 0 ||
      getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &send_buffer, &length) != 0) {
    return false;
  }
  // SO_SNDBUF counts the kernel's overhead too, about as much again as the data.
  return unsent < send_buffer / 4;
}

namespace {

// A TLS write this old, with this much queued behind it, to a peer that reads, tells that the
// loop is behind (plain writes happen at once: one that waits has a full socket).
constexpr auto kNoticedWriteWait = std::chrono::milliseconds(100);
constexpr size_t kNoticedBacklogBytes = 64 * 1024;
// How long what PeerDrains found is taken as still true.
constexpr auto kPeerCheckValidFor = std::chrono::milliseconds(100);

// Whether the peer takes what it is sent. A plain write waits only on a full socket: then it
// does not, whatever an earlier look found. Otherwise PeerDrains, asked at most once per
// kPeerCheckValidFor per connection.
bool PeerStillDrains(OutgoingQueue& queue, EdgeStream& stream,
                     std::chrono::steady_clock::time_point now) {
  if (!stream.is_tls() && queue.writing()) return false;
  if (now - queue.peer_check().at >= kPeerCheckValidFor) {
    queue.set_peer_check({now, PeerDrains(stream.tcp().socket().native_handle())});
  }
  return queue.peer_check().drains;
}

void NoteLongTlsWrite(OutgoingQueue& queue, EdgeStream& stream, LoopLoad& load) {
  if (!stream.is_tls() || !queue.writing() || queue.pending_bytes() < kNoticedBacklogBytes) {
    return;
  }
  auto now = std::chrono::steady_clock::now();
  auto waited = now - queue.write_started();
  if (waited < kNoticedWriteWait) return;
  if (PeerStillDrains(queue, stream, now)) {
    load.NoteWriteWait(
        EstimatedWriteWait(absl::FromChrono(waited), queue.pending_bytes(), queue.write_bytes()));
  }
}

}  // namespace

absl::Duration EstimatedWriteWait(absl::Duration waited, size_t pending_bytes,
                                  size_t write_bytes) {
  // The batches behind this one are full ones (a small write waiting says nothing about how
  // many of them there are): each waits about as long.
  size_t batch_bytes = std::max(write_bytes, OutgoingQueue::kMaxWriteBytes);
  double batches_behind = static_cast<double>(pending_bytes) / static_cast<double>(batch_bytes);
  return waited * (1 + batches_behind);
}

bool RoomForLive(OutgoingQueue& queue, EdgeStream& stream, size_t bytes, LoopLoad& load) {
  NoteLongTlsWrite(queue, stream, load);
  return RoomForLive(queue, bytes, [&] {
    return PeerStillDrains(queue, stream, std::chrono::steady_clock::now());
  });
}

bool RoomForLive(OutgoingQueue& queue, size_t bytes, absl::FunctionRef<bool()> peer_reads) {
  if (!queue.overdrawn() && queue.live_room() >= bytes) return true;
  // Past the limit (until the queue is back under it): a slow consumer, unless its peer reads.
  if (!peer_reads()) return false;
  // Counted among the loop's overdrawn queues: the loop, not this connection, is then judged
  // (LoopLoad::WriteBacklogged).
  queue.Overdraw();
  return queue.live_room() >= bytes;
}

size_t SendSome(int fd, const std::vector<boost::asio::const_buffer>& buffers,
                boost::system::error_code& error) {
  iovec iov[kMaxGatherBuffers];
  size_t count = std::min(buffers.size(), kMaxGatherBuffers);
  for (size_t i = 0; i < count; ++i) {
    iov[i].iov_base = const_cast<void*>(buffers[i].data());
    iov[i].iov_len = buffers[i].size();
  }
  msghdr message{};
  message.msg_iov = iov;
  message.msg_iovlen = count;
  for (;;) {
    ssize_t sent = ::sendmsg(fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent >= 0) return static_cast<size_t>(sent);
    if (errno == EINTR) continue;
    if (WouldBlock(errno)) return 0;
    error = boost::system::error_code(errno, boost::system::system_category());
    return 0;
  }
}

}  // namespace herald
