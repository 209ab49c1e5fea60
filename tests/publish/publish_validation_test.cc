// Publish request checks.
#include "publish/publish_validation.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

herald::v1::PublishRequest Request(std::string topic, std::string data) {
  herald::v1::PublishRequest request;
  request.set_topic(std::move(topic));
  request.set_data(std::move(data));
  return request;
}

TEST(ValidatePublishRequest, AcceptsAPlainEvent) {
  EXPECT_TRUE(ValidatePublishRequest(Request("chat", "hi"), 100).ok());
  herald::v1::PublishRequest type_only = Request("chat", "");
  type_only.set_type("refresh");
  EXPECT_TRUE(ValidatePublishRequest(type_only, 100).ok());
}

TEST(ValidatePublishRequest, RefusesBadTopicEmptyAndOversizedEvents) {
  EXPECT_EQ(ValidatePublishRequest(Request("bad topic", "x"), 100).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidatePublishRequest(Request("chat", ""), 100).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidatePublishRequest(Request("chat", std::string(101, 'x')), 100).code(),
            absl::StatusCode::kInvalidArgument);
  herald::v1::PublishRequest big_meta = Request("chat", "x");
  (*big_meta.mutable_meta())["k"] = std::string(100, 'v');
  EXPECT_EQ(ValidatePublishRequest(big_meta, 100).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ValidatePublishRequest, RefusesReservedAndMultiLineTypes) {
  herald::v1::PublishRequest reserved = Request("chat", "x");
  reserved.set_type("herald.connected");
  EXPECT_EQ(ValidatePublishRequest(reserved, 100).code(), absl::StatusCode::kInvalidArgument);
  herald::v1::PublishRequest multi_line = Request("chat", "x");
  multi_line.set_type("a\ndata: injected");
  EXPECT_EQ(ValidatePublishRequest(multi_line, 100).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ValidatePublishRequest, JsonContentTypeNeedsValidJson) {
  herald::v1::PublishRequest request = Request("chat", "{\"a\":");
  request.set_content_type("application/json");
  EXPECT_EQ(ValidatePublishRequest(request, 100).code(), absl::StatusCode::kInvalidArgument);
  request.set_data("{\"a\": 1}");
  EXPECT_TRUE(ValidatePublishRequest(request, 100).ok());
}

}  // namespace
}  // namespace herald
