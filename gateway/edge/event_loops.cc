// Event loop threads.
#include "edge/event_loops.h"

#include <boost/asio/post.hpp>

#include "loop_check.h"

namespace herald {

EventLoops::EventLoops(size_t count) {
  for (size_t i = 0; i < count; ++i) {
    contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
    work_guards_.emplace_back(contexts_.back()->get_executor());
  }
}

EventLoops::~EventLoops() { Stop(); }

std::vector<HubLoop> EventLoops::HubLoops() {
  std::vector<HubLoop> loops;
  for (const std::unique_ptr<boost::asio::io_context>& context : contexts_) {
    loops.push_back(
        {.post = [context = context.get()](
                     std::function<void()> task) { boost::asio::post(*context, std::move(task)); },
         .runs_here = [context = context.get()] { return OnLoopOrStopped(*context); }});
  }
  return loops;
}

void EventLoops::Start() {
  for (const std::unique_ptr<boost::asio::io_context>& context : contexts_) {
    threads_.emplace_back([context = context.get()] { context->run(); });
  }
}

void EventLoops::Stop() {
  work_guards_.clear();
  for (const std::unique_ptr<boost::asio::io_context>& context : contexts_) context->stop();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

}  // namespace herald
