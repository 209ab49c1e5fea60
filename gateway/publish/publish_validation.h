// Checks a publish request where it enters the gateway, the same way for every transport.
#pragma once

#include <cstddef>

#include "absl/status/status.h"
#include "herald/v1/event.pb.h"

namespace herald {

// Bytes the event would carry: data, type, content type, meta and idempotency key.
size_t PublishedBytes(const herald::v1::PublishRequest& request);

// OK, or INVALID_ARGUMENT saying what is wrong: a bad topic, a reserved `herald.` type, a type
// or content type with control characters, an idempotency key over 128 bytes, an event with
// neither type nor data, one over
// `max_message_bytes`, or data that is not valid JSON under a JSON content type.
absl::Status ValidatePublishRequest(const herald::v1::PublishRequest& request,
                                    size_t max_message_bytes);

}  // namespace herald
