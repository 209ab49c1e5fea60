// Writes a connection's OutgoingQueue to its stream: the one write path of WebSocket and SSE.
#pragma once

#include <boost/asio/write.hpp>
#include <boost/system/error_code.hpp>
#include <memory>

#include "absl/functional/function_ref.h"
#include "absl/time/time.h"
#include "edge/edge_stream.h"
#include "edge/outgoing_queue.h"
#include "hub/loop_load.h"

namespace herald {

// The most buffers one plain write gathers (Linux's IOV_MAX).
inline constexpr size_t kMaxGatherBuffers = 1024;

enum class WriteProgress {
  kDone,     // Everything queued was written.
  kWaiting,  // A write waits for the socket; the session's OnWrite(error) follows.
  kFailed,   // The connection is gone.
};

// One non-blocking gather write of as many of `buffers` as one sendmsg takes (IOV_MAX); returns
// the bytes written, 0 when the socket is full.
size_t SendSome(int fd, const std::vector<boost::asio::const_buffer>& buffers,
                boost::system::error_code& error);

// Whether the peer of socket `fd` takes what it is sent: the kernel holds less than about half
// a send buffer of it not sent yet. A peer that stopped reading fills the buffer.
bool PeerDrains(int fd);

// How long the last of `pending_bytes` waits, when a write of `write_bytes` has waited
// `waited`: the batches behind it (of up to OutgoingQueue::kMaxWriteBytes) wait as long each.
absl::Duration EstimatedWriteWait(absl::Duration waited, size_t pending_bytes,
                                  size_t write_bytes);

// Whether `bytes` more live bytes (events, replies) may be queued. Within the queue's limit they
// may. Past it, a peer whose socket still drains is not a slow consumer: the event loop may
// write more slowly than events come (over TLS, encrypting is the work). The queue may then take
// up to twice its limit while it catches up, and counts among `load`'s overdrawn queues: when
// enough of the loop's connections are (LoopLoad::WriteBacklogged), the gateway pushes back on
// publishers. False: a slow consumer (its socket is full, or even that is passed).
bool RoomForLive(OutgoingQueue& queue, EdgeStream& stream, size_t bytes, LoopLoad& load);
// The same policy for a transport that tells in its own way whether its peer reads
// (`peer_reads`, asked only past the limit): a gRPC stream. The queue counts in the LoopLoad it
// was made with.
bool RoomForLive(OutgoingQueue& queue, size_t bytes, absl::FunctionRef<bool()> peer_reads);

// Writes what `queue` holds (only when !queue.writing()). On plain TCP the batches go out at
// once by non-blocking gather writes, no asynchronous operation in between, as long as the
// socket takes them; once it is full, the rest waits for the socket to drain. Over TLS each
// batch, copied into one buffer, is one asynchronous write through the TLS stream. `session`
// (kept alive meanwhile) has OnWrite(boost::system::error_code), called when a wait or an
// asynchronous write ends.
template <typename Session>
WriteProgress WriteQueue(const std::shared_ptr<Session>& session, EdgeStream& stream,
                         OutgoingQueue& queue) {
  if (stream.is_tls()) {
    boost::asio::async_write(
        stream, queue.StartWrite(/*max_buffers=*/1),
        [session, &queue](boost::system::error_code error, size_t written) {
          queue.CompleteWrite(written);
          session->OnWrite(error);
        });
    return WriteProgress::kWaiting;
  }
  auto& socket = stream.tcp().socket();
  while (queue.has_pending()) {
    boost::system::error_code error;
    size_t written = SendSome(socket.native_handle(), queue.StartWrite(kMaxGatherBuffers), error);
    if (error) {
      queue.CompleteWrite(0);
      return WriteProgress::kFailed;
    }
    if (queue.CompleteWrite(written)) continue;
    // The socket is full: the rest waits for it (writing() stays true meanwhile).
    queue.StartWrite(kMaxGatherBuffers);
    socket.async_wait(boost::asio::socket_base::wait_write,
                      [session, &queue](boost::system::error_code error) {
                        queue.CompleteWrite(0);
                        session->OnWrite(error);
                      });
    return WriteProgress::kWaiting;
  }
  return WriteProgress::kDone;
}

// The write path of a stream transport (WebSocketSession, SseSession): writes what `queue` holds
// and tells `session` how it went: AfterWrites() once all of it left, EndConnection() when the
// connection failed, nothing while a write waits (the session's OnWrite follows). Only when
// !queue.writing() and queue.has_pending().
template <typename Session>
void WriteOut(const std::shared_ptr<Session>& session, EdgeStream& stream, OutgoingQueue& queue) {
  switch (WriteQueue(session, stream, queue)) {
    case WriteProgress::kDone:
      session->AfterWrites();
      break;
    case WriteProgress::kWaiting:
      break;
    case WriteProgress::kFailed:
      session->EndConnection();
      break;
  }
}

// What a stream transport's OnWrite(error) does: ends the connection after an error, writes
// what was queued meanwhile, or else tells the session everything left (AfterWrites).
template <typename Session>
void ContinueWrites(const std::shared_ptr<Session>& session, OutgoingQueue& queue,
                    boost::system::error_code error) {
  if (error) {
    session->EndConnection();
  } else if (queue.has_pending()) {
    session->Flush();
  } else {
    session->AfterWrites();
  }
}

}  // namespace herald
