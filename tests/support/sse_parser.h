// SseParser: incremental parser of a text/event-stream body (HTML "server-sent events" rules).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald::testing {

// One dispatched Server-Sent Event.
struct SseEvent {
  // Value of this event's own `id:` line (has_id tells whether it had one).
  std::string id;
  bool has_id = false;
  // Value of the `event:` line; empty when the event had none (a browser reports "message").
  std::string type;
  // The `data:` lines joined with "\n".
  std::string data;
  // The stream's last event ID when this event was dispatched (what a browser would resend as
  // Last-Event-ID): ids persist across events that carry none.
  std::string last_event_id;
};

// Feed it the decoded body bytes in pieces of any size (a CRLF, a UTF-8 sequence or a field may be
// split across calls). Dispatched events, comments and retry values accumulate in the parser;
// callers drain them with TakeEvents() / TakeComments() or read the totals.
class SseParser {
 public:
  SseParser() = default;

  // Consumes `bytes`: complete lines are interpreted at once; a trailing partial line is kept.
  void Feed(std::string_view bytes);

  // Events dispatched since the last call (a blank line dispatches one).
  std::vector<SseEvent> TakeEvents();
  // Comment lines (those starting with ':') seen since the last call, without the ':' and one
  // optional following space: ": ping" gives "ping".
  std::vector<std::string> TakeComments();

  // Last `retry:` value (only lines whose value is all ASCII digits count, as in the spec).
  std::optional<std::int64_t> retry() const { return retry_; }
  // The persistent last event ID buffer.
  const std::string& last_event_id() const { return last_event_id_; }
  // Lines whose field name is not one of id/event/data/retry (ignored per spec, counted here).
  std::size_t unknown_field_count() const { return unknown_field_count_; }
  // Bytes of an incomplete line or event still buffered (discarded by the spec at end of stream).
  bool HasPartialEvent() const;

 private:
  void ProcessLine(std::string_view line);
  void ProcessField(std::string_view field, std::string_view value);
  void Dispatch();

  bool first_line_ = true;     // a UTF-8 BOM is stripped from the first line only
  bool skip_next_lf_ = false;  // the previous chunk ended with CR: a leading LF belongs to it
  std::string line_;

  std::string data_;  // each data line followed by "\n", as in the spec
  std::string event_type_;
  std::string event_id_;
  bool event_has_id_ = false;
  std::string last_event_id_;
  std::optional<std::int64_t> retry_;
  std::size_t unknown_field_count_ = 0;

  std::vector<SseEvent> events_;
  std::vector<std::string> comments_;
};

}  // namespace herald::testing
