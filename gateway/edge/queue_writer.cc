// Non-blocking gather writes.
#include "edge/queue_writer.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>

namespace herald {

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
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    error = boost::system::error_code(errno, boost::system::system_category());
    return 0;
  }
}

}  // namespace herald
