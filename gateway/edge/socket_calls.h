// Non-blocking socket calls, made again when a signal interrupts them.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cerrno>
#include <cstddef>

namespace herald {

// recv without waiting: the bytes read (0: the peer closed), or -1 with errno set.
inline ssize_t ReceiveNow(int fd, void* data, size_t size) {
  for (;;) {
    ssize_t got = ::recv(fd, data, size, MSG_DONTWAIT);
    if (got >= 0 || errno != EINTR) return got;
  }
}

// send without waiting (and without SIGPIPE): the bytes taken, or -1 with errno set.
inline ssize_t SendNow(int fd, const void* data, size_t size) {
  for (;;) {
    ssize_t sent = ::send(fd, data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent >= 0 || errno != EINTR) return sent;
  }
}

// Whether a failed call's errno only means "not now" (nothing to read, no room to write).
inline bool WouldBlock(int error) { return error == EAGAIN || error == EWOULDBLOCK; }

}  // namespace herald
