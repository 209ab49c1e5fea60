// The wire form of a failure: herald.v1.Error from an absl::Status (the code numbers are gRPC's,
// which absl shares).
#pragma once

#include "absl/status/status.h"
#include "herald/v1/event.pb.h"

namespace herald {

herald::v1::Error ErrorProto(const absl::Status& status);

}  // namespace herald
