// Request target parsing with Boost.URL.
#include "edge/request_target.h"

#include <algorithm>
#include <boost/url/parse.hpp>

#include "hub/topic.h"

namespace herald {

absl::StatusOr<RequestTarget> ParseRequestTarget(std::string_view target) {
  // The views of the parsed URL point into `target`, which the caller keeps alive.
  boost::system::result<boost::urls::url_view> url = boost::urls::parse_origin_form(target);
  if (!url) return absl::InvalidArgumentError("malformed request target");
  RequestTarget parsed;
  parsed.path = url->path();
  for (const boost::urls::param& param : url->params()) {
    if (param.key == "topic") {
      if (absl::Status status = ValidateTopic(param.value); !status.ok()) return status;
      if (std::find(parsed.topics.begin(), parsed.topics.end(), param.value) ==
          parsed.topics.end()) {
        parsed.topics.push_back(param.value);
      }
    } else if (param.key == "last_event_id") {
      parsed.last_event_id = param.value;
    }
  }
  return parsed;
}

}  // namespace herald
