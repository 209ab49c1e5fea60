// GET /v1/history.
#include "edge/http_history.h"

#include "absl/strings/str_cat.h"
#include "codec/encoded_event.h"
#include "codec/sse_encoding.h"

namespace herald {

void HistoryJson(const std::string& topic, uint32_t limit, EdgeContext& context,
                 std::function<void(HttpAnswer)> done) {
  context.engine.ReadHistory(
      topic, limit == 0 ? kDefaultHistoryLimit : limit,
      [done = std::move(done), topic](absl::StatusOr<TopicHistory> history) {
        if (!history.ok()) {
          done({HttpStatusFor(history.status()), ErrorJson(history.status())});
          return;
        }
        // Topic names and epochs are made of characters JSON strings take as they are.
        std::string json = absl::StrCat("{\"topic\":\"", topic, "\",\"epoch\":\"",
                                        history->position.epoch,
                                        "\",\"offset\":", history->position.offset, ",\"events\":[");
        size_t first = FirstOfLatestWithin(history->events, kMaxHistoryAnswerBytes);
        for (size_t i = first; i < history->events.size(); ++i) {
          if (i > first) json += ',';
          json += EventJson(history->events[i]->event());
        }
        json += "]}";
        done({200, std::move(json)});
      });
}

}  // namespace herald
