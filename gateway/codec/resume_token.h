// The SSE resume token: one `id:` that holds a connection's position in every topic it follows.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "topic/topic_position.h"

namespace herald {

// "<epoch>-<offset>" per topic, in the connection's topic order, joined by '.'; "-0" is the
// position of a topic that had no history yet. Built by the SDK, opaque to other clients.
std::string EncodeResumeToken(const std::vector<TopicPosition>& positions);
// The same, appended to `out`.
void AppendResumeToken(const std::vector<TopicPosition>& positions, std::string* out);

// The positions of a token made for `topic_count` topics; nullopt when the token is malformed,
// tampered with or made for another number of topics.
std::optional<std::vector<TopicPosition>> DecodeResumeToken(absl::string_view token,
                                                            size_t topic_count);

}  // namespace herald
