// Request target parsing with Boost.URL.
#include "edge/request_target.h"

#include <algorithm>
#include <boost/url/parse.hpp>

#include "absl/strings/numbers.h"
#include "topic/topic.h"

namespace herald {
namespace {

// Other parameters kept at most (each looked for among those kept: a bound on the work).
constexpr size_t kMaxOtherParams = 32;

}  // namespace

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
    } else if (param.key == "token") {
      parsed.token = param.value;
    } else if (param.key == "limit") {
      if (!absl::SimpleAtoi(param.value, &parsed.limit)) {
        return absl::InvalidArgumentError("limit must be a whole number");
      }
    } else if (parsed.other_params.size() < kMaxOtherParams &&
               std::none_of(parsed.other_params.begin(), parsed.other_params.end(),
                            [&](const auto& other) { return other.first == param.key; })) {
      parsed.other_params.emplace_back(param.key, param.value);
    }
  }
  return parsed;
}

std::string_view CookieValue(std::string_view cookie_header, std::string_view name) {
  while (!cookie_header.empty()) {
    size_t end = cookie_header.find(';');
    std::string_view pair = cookie_header.substr(0, end);
    cookie_header = end == std::string_view::npos ? std::string_view() : cookie_header.substr(end + 1);
    while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t')) pair.remove_prefix(1);
    size_t equals = pair.find('=');
    if (equals == std::string_view::npos || pair.substr(0, equals) != name) continue;
    std::string_view value = pair.substr(equals + 1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    // RFC 6265 allows the value in double quotes.
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    return value;
  }
  return {};
}

}  // namespace herald
