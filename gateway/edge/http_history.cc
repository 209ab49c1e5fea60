// GET /v1/history.
#include "edge/http_history.h"

#include <boost/asio/post.hpp>

#include "absl/strings/str_cat.h"
#include "codec/encoded_event.h"
#include "codec/sse_encoding.h"

namespace herald {

void HistoryJson(const std::string& topic, uint32_t limit, std::string reader, EdgeContext& context,
                 boost::asio::io_context& loop, std::function<void(HttpAnswer)> done) {
  context.engine.ReadHistory(
      topic, limit == 0 ? kDefaultHistoryLimit : limit,
      [&loop, &budget = context.history_reads.answers, done = std::move(done), topic,
       reader = std::move(reader)](absl::StatusOr<TopicHistory> history) mutable {
        // Built on the requesting loop: a large answer must not hold up the engine's thread
        // (with Redis, every publish and live event of the node waits behind it).
        boost::asio::post(loop, [&budget, done = std::move(done), topic = std::move(topic),
                                 reader = std::move(reader), history = std::move(history)] {
          if (!history.ok()) {
            done({HttpStatusFor(history.status()), ErrorJson(history.status())});
            return;
          }
          // Topic names and epochs are made of characters JSON strings take as they are.
          std::string json = absl::StrCat("{\"topic\":\"", topic, "\",\"epoch\":\"",
                                          history->position.epoch, "\",\"offset\":",
                                          history->position.offset, ",\"events\":[");
          const std::vector<std::shared_ptr<const EncodedEvent>>& events = history->events;
          size_t first = FirstOfLatestWithin(events, kMaxHistoryAnswerBytes, JsonAnswerBytes);
          // Its place is taken before it is built: a refused answer costs no memory.
          size_t bytes = json.size() + 2;  // And "]}".
          for (size_t i = first; i < events.size(); ++i) bytes += JsonAnswerBytes(*events[i]);
          if (first < events.size()) --bytes;  // One comma fewer than events.
          std::shared_ptr<void> place = budget.Take(bytes, reader);
          if (!place) {
            absl::Status busy = HistoryAnswerRefused(budget, bytes);
            done({HttpStatusFor(busy), ErrorJson(busy)});
            return;
          }
          json.reserve(bytes);
          for (size_t i = first; i < events.size(); ++i) {
            if (i > first) json += ',';
            absl::StrAppend(&json, events[i]->sse_json(EpochField::kIncluded));
          }
          json += "]}";
          done({200, std::move(json), std::move(place)});
        });
      });
}

}  // namespace herald
