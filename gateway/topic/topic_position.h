// A position in a topic's history.
#pragma once

#include <cstdint>
#include <string>

namespace herald {

struct TopicPosition {
  std::string epoch;
  uint64_t offset = 0;  // Last offset in that epoch; 0 when none yet.

  friend bool operator==(const TopicPosition&, const TopicPosition&) = default;
};

}  // namespace herald
