// An event loop as the hub sees it, apart from the hub's internals (the edge makes them).
#pragma once

#include <functional>

namespace herald {

// An event loop as the hub uses it: `post` runs a task on the loop's thread, later (never
// inline); `runs_here` tells whether the calling thread is the loop's (checked in debug builds).
struct HubLoop {
  std::function<void(std::function<void()>)> post;
  std::function<bool()> runs_here;
};

}  // namespace herald
