// Fan-out at volume: completeness and order for many subscribers, and slow consumers cut off.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <iostream>
#include <thread>

#include "integration/gateway_test.h"
#include "support/http_request.h"

namespace herald::testing {
namespace {

class FanoutTest : public GatewayTest {};

// Streams `count` events to `topic` through one PublishStream, pipelined.
void StreamEvents(herald::v1::Publisher::Stub& publisher, const std::string& topic, int count,
                  size_t payload_bytes = 16) {
  grpc::ClientContext context;
  auto stream = publisher.PublishStream(&context);
  std::thread writer([&] {
    for (int i = 1; i <= count; ++i) {
      herald::v1::PublishRequest request;
      request.set_topic(topic);
      std::string data = std::to_string(i);
      data.resize(std::max(payload_bytes, data.size()), '.');
      request.set_data(std::move(data));
      if (!stream->Write(request)) break;
    }
    stream->WritesDone();
  });
  herald::v1::PublishResponse response;
  int answered = 0;
  while (stream->Read(&response)) {
    EXPECT_FALSE(response.has_error()) << response.error().message();
    EXPECT_EQ(response.offset(), static_cast<uint64_t>(++answered));
  }
  writer.join();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(answered, count);
}

TEST_F(FanoutTest, TenThousandEventsReachHundredWebSocketAndHundredSseClientsInOrder) {
  // Every publish is to be taken, also where the build is slow (sanitizers): no overload
  // pushback here (it has a test of its own below).
  StartGateway({"--threads=2", "--max_queue_bytes=4194304", "--max_delivery_lag=0"});
  constexpr int kEvents = 10000;
  constexpr int kClientsPerTransport = 100;
  std::vector<std::shared_ptr<WsClient>> ws_clients;
  std::vector<std::shared_ptr<SseClient>> sse_clients;
  for (int i = 0; i < kClientsPerTransport; ++i) {
    ws_clients.push_back(ConnectWs("/ws?topic=ticker"));
    sse_clients.push_back(ConnectSse("/sse?topic=ticker"));
    ASSERT_TRUE(ws_clients.back() && sse_clients.back());
  }

  StreamEvents(*publisher_, "ticker", kEvents);

  for (const std::shared_ptr<WsClient>& client : ws_clients) {
    ASSERT_TRUE(client->WaitForEvents(kEvents, 60s)) << client->EventCount();
    std::vector<herald::v1::Event> events = client->Events();
    ASSERT_EQ(events.size(), static_cast<size_t>(kEvents));
    for (int i = 0; i < kEvents; ++i) {
      ASSERT_EQ(events[i].offset(), static_cast<uint64_t>(i + 1));
    }
    // Events pending together travel together: far fewer frames than events.
    EXPECT_LT(client->FrameCount(), static_cast<size_t>(kEvents));
  }
  for (const std::shared_ptr<SseClient>& client : sse_clients) {
    ASSERT_TRUE(client->WaitForEvents(kEvents + 1, 60s)) << client->EventCount();
    std::vector<SseEvent> events = DataEvents(*client);
    ASSERT_EQ(events.size(), static_cast<size_t>(kEvents));
    for (int i = 0; i < kEvents; ++i) {
      ASSERT_EQ(Json(events[i].data).at("offset").to_number<uint64_t>(),
                static_cast<uint64_t>(i + 1));
    }
  }
}

// 2,000 events of 8 KiB (16 MB) pass any kernel socket buffers (4 MB at most here) plus the
// default 1 MiB queue.
constexpr int kFloodEvents = 2000;
constexpr size_t kFloodEventBytes = 8 * 1024;

TEST_F(FanoutTest, AWebSocketClientThatStopsReadingIsClosedWith4408WhileOthersGetEverything) {
  StartGateway();
  std::shared_ptr<WsClient> stalled = ConnectStalledWs("/ws?topic=flood");
  ASSERT_TRUE(stalled);
  std::shared_ptr<WsClient> healthy = ConnectWs("/ws?topic=flood");
  std::shared_ptr<SseClient> healthy_sse = ConnectSse("/sse?topic=flood");
  ASSERT_TRUE(healthy && healthy_sse);

  PublishPaced("flood", kFloodEvents, kFloodEventBytes, [&](size_t n) {
    return healthy->WaitForEvents(n, kWait) && healthy_sse->WaitForEvents(n + 1, kWait);
  });
  EXPECT_FALSE(healthy->Ended());
  EXPECT_FALSE(healthy_sse->Ended());

  // Reading again, the stalled client drains what the kernel held, then finds the close.
  stalled->StartReading();
  std::optional<uint16_t> code = stalled->WaitForClose(30s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 4408);
  ASSERT_TRUE(stalled->Disconnect().has_value());
  EXPECT_EQ(stalled->Disconnect()->code(), 4408u);
  EXPECT_LT(stalled->EventCount(), static_cast<size_t>(kFloodEvents));
}

TEST_F(FanoutTest, AnSseClientThatStopsReadingIsEndedWhileOthersGetEverything) {
  StartGateway();
  std::shared_ptr<SseClient> stalled = ConnectStalledSse("/sse?topic=flood");
  ASSERT_TRUE(stalled);
  std::shared_ptr<WsClient> healthy = ConnectWs("/ws?topic=flood");
  ASSERT_TRUE(healthy);

  PublishPaced("flood", kFloodEvents, kFloodEventBytes,
               [&](size_t n) { return healthy->WaitForEvents(n, kWait); });

  stalled->StartReading();
  ASSERT_TRUE(stalled->WaitForEnd(30s));
  std::vector<SseEvent> events = stalled->Events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type, "herald.disconnect");
  EXPECT_EQ(Json(events.back().data).at("code").to_number<int>(), 4408);
  EXPECT_LT(DataEvents(*stalled).size(), static_cast<size_t>(kFloodEvents));
}

TEST_F(FanoutTest, AGrpcSubscriberThatStopsReadingIsCutOffAndTheGatewayCarriesOn) {
  StartGateway();
  grpc::ClientContext context;
  herald::v1::SubscribeRequest request;
  request.add_topics("flood");
  auto stalled = subscriber_->Subscribe(&context, request);
  stalled->WaitForInitialMetadata();
  std::shared_ptr<WsClient> healthy = ConnectWs("/ws?topic=flood");
  ASSERT_TRUE(healthy);

  PublishPaced("flood", kFloodEvents, kFloodEventBytes,
               [&](size_t n) { return healthy->WaitForEvents(n, kWait); });

  // Reading again, it gets what was on the way, then the end of the stream.
  herald::v1::Event event;
  size_t received = 0;
  while (stalled->Read(&event)) ++received;
  EXPECT_LT(received, static_cast<size_t>(kFloodEvents));
  EXPECT_EQ(stalled->Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(gateway_->Running());
  ASSERT_TRUE(Publish(Request("flood", "after")).ok());
  EXPECT_TRUE(healthy->WaitForEvents(kFloodEvents + 1, kWait));
}

TEST_F(FanoutTest, GrpcSubscribersCancellingMidStreamLeaveTheGatewayServing) {
  StartGateway();
  std::shared_ptr<WsClient> healthy = ConnectWs("/ws?topic=flood");
  ASSERT_TRUE(healthy);
  for (int round = 0; round < 5; ++round) {
    grpc::ClientContext context;
    herald::v1::SubscribeRequest request;
    request.add_topics("flood");
    auto reader = subscriber_->Subscribe(&context, request);
    reader->WaitForInitialMetadata();
    for (int i = 0; i < 200; ++i) ASSERT_TRUE(Publish(Request("flood", std::string(8192, 'c'))).ok());
    herald::v1::Event event;
    ASSERT_TRUE(reader->Read(&event));
    context.TryCancel();  // Writes are in flight and queued.
    while (reader->Read(&event)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  EXPECT_TRUE(healthy->WaitForEvents(1000, kWait));
  EXPECT_TRUE(gateway_->Running());
  // Every cancelled call was finished and let go of (a leaked one would stay counted).
  auto deadline = std::chrono::steady_clock::now() + kWait;
  std::string metrics;
  while (std::chrono::steady_clock::now() < deadline) {
    metrics = Fetch(http_port(), "GET", "/metrics").body;
    if (metrics.find("herald_connections{transport=\"grpc\"} 0\n") != std::string::npos) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_NE(metrics.find("herald_connections{transport=\"grpc\"} 0\n"), std::string::npos)
      << metrics;
}

// Past its knee (its loop behind by more than --max_delivery_lag), the gateway refuses
// publishes instead of queueing them without bound: clients that read are never cut, and every
// publish is either refused or delivered to every subscriber, in order.
TEST_F(FanoutTest, PastItsKneeTheGatewayPushesBackOnPublishersAndCutsNoReadingClient) {
  StartGateway({"--threads=1", "--max_delivery_lag=1ms"});
  constexpr int kSubscribers = 200;
  constexpr int kPublishers = 2;
  constexpr int kEventsEach = 3000;
  std::vector<std::shared_ptr<WsClient>> clients;
  for (int i = 0; i < kSubscribers; ++i) {
    clients.push_back(ConnectWs("/ws?topic=flood"));
    ASSERT_TRUE(clients.back());
  }
  std::atomic<int> accepted{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> publishers;
  for (int p = 0; p < kPublishers; ++p) {
    publishers.emplace_back([&] {
      grpc::ClientContext context;
      auto stream = publisher_->PublishStream(&context);
      std::thread writer([&] {
        for (int i = 0; i < kEventsEach; ++i) {
          if (!stream->Write(Request("flood", std::string(200, 'f')))) break;
        }
        stream->WritesDone();
      });
      herald::v1::PublishResponse response;
      while (stream->Read(&response)) {
        if (!response.has_error()) {
          ++accepted;
          continue;
        }
        EXPECT_EQ(response.error().code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
        ++refused;
      }
      writer.join();
      EXPECT_TRUE(stream->Finish().ok());
    });
  }
  for (std::thread& publisher : publishers) publisher.join();
  EXPECT_EQ(accepted + refused, kPublishers * kEventsEach);
  EXPECT_GT(refused.load(), 0);
  EXPECT_GT(accepted.load(), 0);
  std::cout << "accepted " << accepted << ", refused " << refused << "\n";
  for (const std::shared_ptr<WsClient>& client : clients) {
    ASSERT_TRUE(client->WaitForEvents(static_cast<size_t>(accepted.load()), kWait))
        << client->EventCount() << " of " << accepted;
    EXPECT_FALSE(client->Ended()) << client->CloseReason();
  }
  // Nothing more, nothing twice, nothing out of order: refused publishes took no offset.
  std::vector<herald::v1::Event> events = clients.front()->Events();
  ASSERT_EQ(events.size(), static_cast<size_t>(accepted.load()));
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].offset(), i + 1);
}

}  // namespace
}  // namespace herald::testing
