// Checks of the thread promises made in comments ("called on the client's loop"): active in
// debug and sanitizer builds (no NDEBUG), where a broken promise aborts the process and fails
// the suite; compiled out of release builds (the condition is not even evaluated).
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <cstdlib>

namespace herald {

// Aborts, naming `function`, unless `on_thread`.
inline void AssertThread(bool on_thread, const char* function) {
  if (on_thread) return;
  std::fprintf(stderr, "herald: %s called off its event loop\n", function);
  std::abort();
}

// The io_context an executor of one (a socket's, a timer's) runs on.
template <typename Executor>
boost::asio::io_context& LoopOf(const Executor& executor) {
  return static_cast<boost::asio::io_context&>(
      boost::asio::query(executor, boost::asio::execution::context));
}

}  // namespace herald

#ifdef NDEBUG
#define HERALD_ASSERT_THREAD(on_thread) ((void)0)
#else
#define HERALD_ASSERT_THREAD(on_thread) ::herald::AssertThread((on_thread), __func__)
#endif

namespace herald {

// Whether the calling thread may touch what `loop` owns: it runs the loop, or the loop has
// stopped (at shutdown, what the loops owned is destroyed by the thread that stopped them).
inline bool OnLoopOrStopped(boost::asio::io_context& loop) {
  return loop.get_executor().running_in_this_thread() || loop.stopped();
}

}  // namespace herald

// In a function that must run on the thread of io_context `loop`.
#define HERALD_ASSERT_ON_LOOP(loop) HERALD_ASSERT_THREAD(::herald::OnLoopOrStopped(loop))
