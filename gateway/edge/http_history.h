// GET /v1/history: a topic's current position and recent events as JSON, for a page that renders
// them and then subscribes from that position.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <string>

#include "edge/edge_context.h"
#include "edge/http_publish.h"

namespace herald {

// Reads the last `limit` events of `topic` (0: the default) that fit the answer size, and gives
// `done` 200 with {"topic", "epoch", "offset", "events": [<the SSE JSON of each event>]}, or an
// error status with {"code", "message"}. The answer is built and `done` called on `loop` (the
// requesting connection's), not on the engine's thread, from each event's cached SSE JSON. The
// topic is valid and the caller may read it; the answer takes its place in the budget as
// `reader`'s (see HistoryReader).
void HistoryJson(const std::string& topic, uint32_t limit, std::string reader, EdgeContext& context,
                 boost::asio::io_context& loop, std::function<void(HttpAnswer)> done);

}  // namespace herald
