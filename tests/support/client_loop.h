// ClientLoop: one Asio io_context on a background thread, shared by a test's async clients.
#pragma once

#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace herald::testing {

// Runs an io_context on its own thread until destroyed. Many WsClient / SseClient objects share
// one loop, so a test can keep hundreds of connections reading at once.
//
// Declare the ClientLoop before the clients that use it (so it is destroyed after them): its
// destructor stops the loop, joins the thread and then destroys the handlers still pending, which
// releases the clients they keep alive.
class ClientLoop {
 public:
  ClientLoop();
  ~ClientLoop();

  ClientLoop(const ClientLoop&) = delete;
  ClientLoop& operator=(const ClientLoop&) = delete;

  boost::asio::io_context& context() { return context_; }
  boost::asio::io_context::executor_type executor() { return context_.get_executor(); }
  // True when called from the loop's own thread.
  bool InLoopThread() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  boost::asio::io_context context_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_guard_;
  std::thread thread_;
};

}  // namespace herald::testing
