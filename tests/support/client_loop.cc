// ClientLoop: starts and stops the background io_context thread.
#include "support/client_loop.h"

#include <cstdio>
#include <exception>

namespace herald::testing {

ClientLoop::ClientLoop()
    : work_guard_(boost::asio::make_work_guard(context_)), thread_([this] {
        for (;;) {
          try {
            context_.run();
            return;
          } catch (const std::exception& e) {
            // A handler threw: report it and keep the loop alive for the other clients.
            std::fprintf(stderr, "[client_loop] handler threw: %s\n", e.what());
          }
        }
      }) {}

ClientLoop::~ClientLoop() {
  work_guard_.reset();
  context_.stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace herald::testing
