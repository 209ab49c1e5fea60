// One single-threaded Asio io_context per thread: each loop owns its connections and a shard.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <thread>
#include <vector>

#include "hub/hub_loop.h"

namespace herald {

class EventLoops {
 public:
  explicit EventLoops(size_t count);
  ~EventLoops();

  size_t size() const { return contexts_.size(); }
  boost::asio::io_context& context(size_t index) { return *contexts_[index]; }
  // The loops as the hub uses them: HubLoop i posts to, and checks for, loop i.
  std::vector<HubLoop> HubLoops();

  void Start();
  // Stops every loop (pending handlers are dropped) and joins the threads.
  void Stop();

 private:
  using WorkGuard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<WorkGuard> work_guards_;
  std::vector<std::thread> threads_;
};

}  // namespace herald
