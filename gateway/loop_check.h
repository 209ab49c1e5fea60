// Checks of the thread promises made in comments ("called on the client's loop"): active in
// debug and sanitizer builds (no NDEBUG), free in release builds.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <cstdlib>

namespace herald {

// Aborts with `what` unless the calling thread runs `loop`.
inline void AssertOnLoop(boost::asio::io_context& loop, const char* what) {
  if (loop.get_executor().running_in_this_thread()) return;
  std::fprintf(stderr, "herald: %s called off its event loop\n", what);
  std::abort();
}

}  // namespace herald

#ifdef NDEBUG
#define HERALD_ASSERT_ON_LOOP(loop) ((void)0)
#else
#define HERALD_ASSERT_ON_LOOP(loop) ::herald::AssertOnLoop((loop), __func__)
#endif

namespace herald {

// The io_context an executor of one (a socket's, a timer's) runs on.
template <typename Executor>
boost::asio::io_context& LoopOf(const Executor& executor) {
  return static_cast<boost::asio::io_context&>(
      boost::asio::query(executor, boost::asio::execution::context));
}

}  // namespace herald
