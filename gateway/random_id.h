// Random identifiers for epochs and client ids.
#pragma once

#include <cstddef>
#include <string>

namespace herald {

// `bytes` random bytes as lowercase hex (2 * bytes characters). Thread-safe.
std::string RandomId(size_t bytes);

}  // namespace herald
