// Fixture for integration tests: a real `herald` on free ports, a client loop, gRPC stubs.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "herald/v1/publisher.grpc.pb.h"
#include "herald/v1/subscriber.grpc.pb.h"
#include "support/client_loop.h"
#include "support/gateway_process.h"
#include "support/sse_client.h"
#include "support/ws_client.h"

namespace herald::testing {

using namespace std::chrono_literals;

inline constexpr std::chrono::milliseconds kWait = 10s;

// A position as a client keeps it: the epoch and the last offset it saw.
struct TopicPositionForTest {
  std::string epoch;
  uint64_t offset = 0;
};

class GatewayTest : public ::testing::Test {
 public:
  // Starts the gateway with extra flags; tests that need flags call it again before clients.
  void StartGateway(std::vector<std::string> flags = {}) {
    std::string error;
    gateway_ = GatewayProcess::Start(std::move(flags), &error);
    ASSERT_NE(gateway_, nullptr) << error;
    channel_ = grpc::CreateChannel(gateway_->grpc_target(), grpc::InsecureChannelCredentials());
    publisher_ = herald::v1::Publisher::NewStub(channel_);
    subscriber_ = herald::v1::Subscriber::NewStub(channel_);
  }

  uint16_t http_port() const { return gateway_->http_port(); }

  static herald::v1::PublishRequest Request(std::string topic, std::string data,
                                            std::string content_type = "text/plain") {
    herald::v1::PublishRequest request;
    request.set_topic(std::move(topic));
    request.set_data(std::move(data));
    request.set_content_type(std::move(content_type));
    return request;
  }

  // Unary Publish; the status and response for the caller to check.
  grpc::Status Publish(const herald::v1::PublishRequest& request,
                       herald::v1::PublishResponse* response = nullptr) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kWait);
    herald::v1::PublishResponse ignored;
    return publisher_->Publish(&context, request, response ? response : &ignored);
  }

  grpc::Status PublishForTest(std::string topic, std::string data) {
    return Publish(Request(std::move(topic), std::move(data)));
  }

  // Subscribes by command; the reply.
  std::optional<herald::v1::Reply> SubscribeWs(WsClient& ws, uint32_t id, const std::string& topic,
                                               std::optional<TopicPositionForTest> since) {
    herald::v1::ClientMessage message;
    message.set_id(id);
    herald::v1::SubscribeCommand* subscribe = message.mutable_subscribe();
    subscribe->set_topic(topic);
    if (since) {
      subscribe->set_recover(true);
      subscribe->set_epoch(since->epoch);
      subscribe->set_offset(since->offset);
    }
    ws.Send(message);
    return ws.WaitForReply(id, kWait);
  }

  std::shared_ptr<WsClient> ConnectWs(const std::string& target) {
    std::shared_ptr<WsClient> client = WsClient::Connect(loop_, http_port(), target);
    EXPECT_NE(client, nullptr) << target;
    if (client) {
      EXPECT_TRUE(client->WaitForConnected(kWait).has_value());
    }
    return client;
  }

  // A client that stopped reading, with a small receive buffer so it backs up fast.
  std::shared_ptr<WsClient> ConnectStalledWs(const std::string& target) {
    WsOptions options;
    options.start_reading = false;
    options.receive_buffer_bytes = 4096;
    WsHandshakeResult result = WsClient::TryConnect(loop_, http_port(), target, options);
    EXPECT_NE(result.client, nullptr) << result.error;
    return result.client;
  }

  std::shared_ptr<SseClient> ConnectStalledSse(const std::string& target) {
    SseOptions options;
    options.start_reading = false;
    options.receive_buffer_bytes = 4096;
    std::shared_ptr<SseClient> client =
        SseClient::ConnectWithOptions(loop_, http_port(), target, options);
    EXPECT_NE(client, nullptr) << target;
    return client;
  }

  // Publishes `count` events of `payload_bytes`, pausing every 100 until `caught_up(n)` says
  // the healthy clients have the first n: they never lag by more than 100 events, while a
  // client that does not read falls behind by megabytes.
  void PublishPaced(const std::string& topic, int count, size_t payload_bytes,
                    const std::function<bool(size_t)>& caught_up) {
    for (int i = 1; i <= count; ++i) {
      ASSERT_TRUE(PublishForTest(topic, std::string(payload_bytes, 'p')).ok());
      if (i % 100 == 0) {
        ASSERT_TRUE(caught_up(static_cast<size_t>(i))) << "at event " << i;
      }
    }
  }

  std::shared_ptr<SseClient> ConnectSse(const std::string& target,
                                        std::vector<std::string> headers = {}) {
    std::shared_ptr<SseClient> client =
        SseClient::Connect(loop_, http_port(), target, std::move(headers));
    EXPECT_NE(client, nullptr) << target;
    if (client) {
      EXPECT_EQ(client->StatusCode(), 200);
      // The first event tells the subscriptions are in place.
      EXPECT_TRUE(client->WaitForEvents(1, kWait));
    }
    return client;
  }

  // The SSE events that carry application data (not herald.* control events).
  static std::vector<SseEvent> DataEvents(const SseClient& client) {
    std::vector<SseEvent> events;
    for (SseEvent& event : client.Events()) {
      if (event.type.rfind("herald.", 0) != 0) events.push_back(std::move(event));
    }
    return events;
  }

  static boost::json::object Json(const std::string& text) {
    return boost::json::parse(text).as_object();
  }

  static std::string Str(const boost::json::value& value) {
    const boost::json::string& text = value.as_string();
    return std::string(text.data(), text.size());
  }

  // Declared first: destroyed after the clients that run on it.
  ClientLoop loop_;
  std::unique_ptr<GatewayProcess> gateway_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<herald::v1::Publisher::Stub> publisher_;
  std::unique_ptr<herald::v1::Subscriber::Stub> subscriber_;
};

}  // namespace herald::testing
