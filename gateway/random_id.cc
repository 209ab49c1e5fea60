// Random identifiers.
#include "random_id.h"

#include <random>

namespace herald {

std::string RandomId(size_t bytes) {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  id.reserve(bytes * 2);
  uint64_t value = 0;
  for (size_t i = 0; i < bytes; ++i) {
    if (i % 8 == 0) value = generator();
    unsigned char byte = static_cast<unsigned char>(value);
    value >>= 8;
    id.push_back(kHex[byte >> 4]);
    id.push_back(kHex[byte & 0xF]);
  }
  return id;
}

}  // namespace herald
