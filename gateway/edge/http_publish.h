// POST /v1/publish: a PublishRequest as proto3 JSON in, a PublishResponse as JSON out.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "edge/edge_context.h"

namespace herald {

struct HttpAnswer {
  HttpAnswer(unsigned status, std::string json, std::shared_ptr<void> held = nullptr)
      : status(status), json(std::move(json)), held(std::move(held)) {}

  unsigned status = 200;
  std::string json;
  // Kept until the answer is written: its place in a budget (AnswerBudget).
  std::shared_ptr<void> held;
};

// Parses, checks and publishes `body` when `grant` may publish to its topic; `done` gets the
// answer, possibly on another thread: 200 with the PublishResponse, or 400 / 403 / 413 / 429 /
// 500 with {"code", "message"}.
void PublishJson(std::string_view body, const Grant& grant, EdgeContext& context,
                 std::function<void(HttpAnswer)> done);

// The HTTP status for a failed publish.
unsigned HttpStatusFor(const absl::Status& status);

// {"code": <grpc code>, "message": "..."} for a failure.
std::string ErrorJson(const absl::Status& status);

}  // namespace herald
