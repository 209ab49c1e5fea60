// The wire form of a failed command: herald.v1.Error from an absl::Status.
#pragma once

#include "absl/status/status.h"
#include "herald/v1/event.pb.h"

namespace herald {

herald::v1::Error ErrorProto(const absl::Status& status);

}  // namespace herald
