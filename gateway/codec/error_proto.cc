// absl::Status to herald.v1.Error.
#include "codec/error_proto.h"

namespace herald {

herald::v1::Error ErrorProto(const absl::Status& status) {
  herald::v1::Error error;
  error.set_code(static_cast<int32_t>(status.code()));
  error.set_message(std::string(status.message()));
  return error;
}

}  // namespace herald
