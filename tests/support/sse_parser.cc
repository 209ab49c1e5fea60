// SseParser: incremental text/event-stream parsing (lines, fields, dispatch).
#include "support/sse_parser.h"

#include <utility>

namespace herald::testing {

void SseParser::Feed(std::string_view bytes) {
  while (!bytes.empty()) {
    if (skip_next_lf_) {
      skip_next_lf_ = false;
      if (bytes.front() == '\n') {
        bytes.remove_prefix(1);
        continue;
      }
    }
    const std::size_t end = bytes.find_first_of("\r\n");
    if (end == std::string_view::npos) {
      line_.append(bytes);
      return;
    }
    line_.append(bytes.substr(0, end));
    // A CR ends the line; an LF right after it (maybe in the next Feed) is the same line end.
    skip_next_lf_ = bytes[end] == '\r';
    bytes.remove_prefix(end + 1);
    std::string line = std::move(line_);
    line_.clear();
    ProcessLine(line);
  }
}

void SseParser::ProcessLine(std::string_view line) {
  if (first_line_) {
    first_line_ = false;
    if (line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
  }
  if (line.empty()) {
    Dispatch();
    return;
  }
  if (line.front() == ':') {
    line.remove_prefix(1);
    if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    comments_.emplace_back(line);
    return;
  }
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    ProcessField(line, {});
    return;
  }
  std::string_view value = line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  ProcessField(line.substr(0, colon), value);
}

void SseParser::ProcessField(std::string_view field, std::string_view value) {
  if (field == "event") {
    event_type_.assign(value);
  } else if (field == "data") {
    data_.append(value);
    data_.push_back('\n');
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) {
      last_event_id_.assign(value);
      event_id_.assign(value);
      event_has_id_ = true;
    }
  } else if (field == "retry") {
    if (value.empty()) return;
    std::int64_t retry = 0;
    for (char c : value) {
      if (c < '0' || c > '9') return;
      retry = retry * 10 + (c - '0');
    }
    retry_ = retry;
  } else {
    ++unknown_field_count_;
  }
}

void SseParser::Dispatch() {
  if (data_.empty()) {
    event_type_.clear();
    event_id_.clear();
    event_has_id_ = false;
    return;
  }
  data_.pop_back();  // the "\n" after the last data line
  SseEvent event;
  event.id = std::move(event_id_);
  event.has_id = event_has_id_;
  event.type = std::move(event_type_);
  event.data = std::move(data_);
  event.last_event_id = last_event_id_;
  events_.push_back(std::move(event));
  data_.clear();
  event_type_.clear();
  event_id_.clear();
  event_has_id_ = false;
}

std::vector<SseEvent> SseParser::TakeEvents() { return std::exchange(events_, {}); }

std::vector<std::string> SseParser::TakeComments() { return std::exchange(comments_, {}); }

bool SseParser::HasPartialEvent() const {
  return !line_.empty() || !data_.empty() || !event_type_.empty() || event_has_id_;
}

}  // namespace herald::testing
