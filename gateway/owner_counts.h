// Places held per owner (a client address, a credential) under a cap: the bookkeeping of every
// per-owner share (connections, topics, idempotency keys).
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>

#include "absl/container/flat_hash_map.h"

namespace herald {

// Not thread-safe: the owner's lock guards it. An owner holding nothing takes no memory.
class OwnerCounts {
 public:
  // Takes one place for `owner` unless it holds `cap` already (0: no cap), not counting
  // `freed` places it is about to give back; false, taking nothing, past the cap.
  bool Take(const std::string& owner, size_t cap, size_t freed = 0) {
    auto it = counts_.find(owner);
    size_t held = it == counts_.end() ? 0 : it->second;
    if (cap != 0 && held - std::min(held, freed) >= cap) return false;
    if (it == counts_.end()) {
      counts_.emplace(owner, 1);
    } else {
      ++it->second;
    }
    return true;
  }

  void GiveBack(const std::string& owner) {
    auto it = counts_.find(owner);
    if (it != counts_.end() && --it->second == 0) counts_.erase(it);
  }

 private:
  absl::flat_hash_map<std::string, size_t> counts_;
};

}  // namespace herald
