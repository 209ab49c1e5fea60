// GET /v1/history.
#include "edge/http_history.h"

#include <boost/asio/post.hpp>

#include "absl/strings/str_cat.h"
#include "codec/encoded_event.h"
#include "codec/sse_encoding.h"

namespace herald {

void HistoryJson(const std::string& topic, uint32_t limit, EdgeContext& context,
                 boost::asio::io_context& loop, std::function<void(HttpAnswer)> done) {
  context.engine.ReadHistory(
      topic, limit == 0 ? kDefaultHistoryLimit : limit,
      [&loop, &budget = context.history_reads.answers, done = std::move(done),
       topic](absl::StatusOr<TopicHistory> history) mutable {
        // Built on the requesting loop: a large answer must not hold up the engine's thread
        // (with Redis, every publish and live event of the node waits behind it).
        boost::asio::post(loop, [&budget, done = std::move(done), topic = std::move(topic),
                                 history = std::move(history)] {
          if (!history.ok()) {
            done({HttpStatusFor(history.status()), ErrorJson(history.status())});
            return;
          }
          // Topic names and epochs are made of characters JSON strings take as they are.
          std::string json = absl::StrCat("{\"topic\":\"", topic, "\",\"epoch\":\"",
                                          history->position.epoch, "\",\"offset\":",
                                          history->position.offset, ",\"events\":[");
          size_t first =
              FirstOfLatestWithin(history->events, kMaxHistoryAnswerBytes, JsonAnswerBytes);
          for (size_t i = first; i < history->events.size(); ++i) {
            if (i > first) json += ',';
            absl::StrAppend(&json, history->events[i]->sse_json(EpochField::kIncluded));
          }
          json += "]}";
          std::shared_ptr<void> place = budget.Take(json.size());
          if (!place) {
            absl::Status busy = HistoryAnswerRefused(budget, json.size());
            done({HttpStatusFor(busy), ErrorJson(busy)});
            return;
          }
          done({200, std::move(json), std::move(place)});
        });
      });
}

}  // namespace herald
