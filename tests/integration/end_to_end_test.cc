// The thin path end to end: gRPC, WebSocket, SSE and HTTP publish against the real gateway.
#include <gtest/gtest.h>

#include "integration/gateway_test.h"
#include <fstream>
#include <thread>

#include "support/http_request.h"

namespace herald::testing {
namespace {

class EndToEndTest : public GatewayTest {
 protected:
  void SetUp() override { StartGateway(); }
};

TEST_F(EndToEndTest, GrpcPublishReachesWebSocketAndSseSubscribers) {
  std::shared_ptr<WsClient> ws = ConnectWs("/ws?topic=orders.eu");
  std::shared_ptr<SseClient> sse = ConnectSse("/sse?topic=orders.eu");
  ASSERT_TRUE(ws && sse);

  herald::v1::PublishRequest request = Request("orders.eu", R"({"id": 42})", "application/json");
  request.set_type("order.created");
  request.set_request_id("r-1");
  (*request.mutable_meta())["trace"] = "t1";
  herald::v1::PublishResponse response;
  ASSERT_TRUE(Publish(request, &response).ok());
  EXPECT_EQ(response.offset(), 1u);
  EXPECT_EQ(response.request_id(), "r-1");
  EXPECT_EQ(response.topic(), "orders.eu");
  EXPECT_FALSE(response.epoch().empty());

  // The subscriber was told the epoch when it subscribed; the event does not repeat it.
  EXPECT_EQ(ws->Connected()->subscriptions(0).epoch(), response.epoch());
  ASSERT_TRUE(ws->WaitForEvents(1, kWait));
  ASSERT_EQ(ws->Messages().back().events_size(), 1);
  EXPECT_EQ(ws->Messages().back().events(0).epoch(), "");
  herald::v1::Event event = ws->Events()[0];
  EXPECT_EQ(event.topic(), "orders.eu");
  EXPECT_EQ(event.offset(), 1u);
  EXPECT_EQ(event.epoch(), response.epoch());
  EXPECT_EQ(event.type(), "order.created");
  EXPECT_EQ(event.data(), R"({"id": 42})");
  EXPECT_EQ(event.meta().at("trace"), "t1");
  EXPECT_GT(event.time_unix_ms(), 0);

  ASSERT_TRUE(sse->WaitFor([&] { return DataEvents(*sse).size() == 1; }, kWait));
  SseEvent sse_event = DataEvents(*sse)[0];
  EXPECT_EQ(sse_event.type, "order.created");
  EXPECT_TRUE(sse_event.has_id);
  boost::json::object json = Json(sse_event.data);
  EXPECT_EQ(json.at("topic"), "orders.eu");
  EXPECT_EQ(json.at("offset").to_number<uint64_t>(), 1u);
  EXPECT_FALSE(json.contains("epoch"));
  EXPECT_EQ(sse_event.id, response.epoch() + "-1");
  EXPECT_EQ(json.at("data").at("id").to_number<int>(), 42);
  EXPECT_EQ(json.at("meta").at("trace"), "t1");
  EXPECT_EQ(json.at("time_unix_ms").to_number<int64_t>(), event.time_unix_ms());
}

TEST_F(EndToEndTest, SseStreamStartsWithRetryAndConnectedAndPingsWhenIdle) {
  StartGateway({"--sse_ping_interval=200ms"});
  std::shared_ptr<SseClient> sse = ConnectSse("/sse?topic=a&topic=b");
  ASSERT_TRUE(sse);
  EXPECT_EQ(sse->Header("Content-Type").value_or(""), "text/event-stream");
  EXPECT_EQ(sse->Retry().value_or(0), 2000);
  SseEvent connected = sse->Events()[0];
  EXPECT_EQ(connected.type, "herald.connected");
  EXPECT_FALSE(connected.has_id);
  boost::json::object json = Json(connected.data);
  EXPECT_FALSE(json.at("client_id").as_string().empty());
  ASSERT_EQ(json.at("subscriptions").as_array().size(), 2u);
  EXPECT_EQ(json.at("subscriptions").at(1).at("topic"), "b");
  EXPECT_TRUE(sse->WaitForComment("ping", kWait));
}

TEST_F(EndToEndTest, SseEncodesTextAndBinaryPayloadsAndEphemeralEventsHaveNoId) {
  std::shared_ptr<SseClient> sse = ConnectSse("/sse?topic=mixed");
  ASSERT_TRUE(sse);
  ASSERT_TRUE(Publish(Request("mixed", "hello\nworld", "text/plain")).ok());
  ASSERT_TRUE(Publish(Request("mixed", std::string("\x00\xff", 2), "image/png")).ok());
  herald::v1::PublishRequest typing = Request("mixed", "typing", "");
  typing.set_ephemeral(true);
  herald::v1::PublishResponse typing_response;
  ASSERT_TRUE(Publish(typing, &typing_response).ok());
  EXPECT_EQ(typing_response.offset(), 0u);

  ASSERT_TRUE(sse->WaitFor([&] { return DataEvents(*sse).size() == 3; }, kWait));
  std::vector<SseEvent> events = DataEvents(*sse);
  EXPECT_EQ(Json(events[0].data).at("data"), "hello\nworld");
  EXPECT_EQ(Json(events[1].data).at("data_base64"), "AP8=");
  EXPECT_FALSE(Json(events[1].data).contains("data"));
  EXPECT_FALSE(events[2].has_id);
  EXPECT_EQ(Json(events[2].data).at("offset").to_number<uint64_t>(), 0u);
  // The resume point stays on the last event kept in history.
  EXPECT_EQ(events[2].last_event_id, events[1].id);
}

TEST_F(EndToEndTest, PublishStreamAnswersEveryItemInOrderAndSurvivesABadOne) {
  grpc::ClientContext context;
  auto stream = publisher_->PublishStream(&context);
  std::vector<herald::v1::PublishRequest> requests = {
      Request("stream.t", "one"), Request("bad topic", "two"), Request("stream.t", "three")};
  for (size_t i = 0; i < requests.size(); ++i) {
    requests[i].set_request_id("id-" + std::to_string(i));
    ASSERT_TRUE(stream->Write(requests[i]));
  }
  stream->WritesDone();
  std::vector<herald::v1::PublishResponse> responses;
  herald::v1::PublishResponse response;
  while (stream->Read(&response)) responses.push_back(response);
  ASSERT_TRUE(stream->Finish().ok());
  ASSERT_EQ(responses.size(), 3u);
  EXPECT_EQ(responses[0].request_id(), "id-0");
  EXPECT_EQ(responses[0].offset(), 1u);
  EXPECT_EQ(responses[1].request_id(), "id-1");
  EXPECT_EQ(responses[1].error().code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(responses[2].request_id(), "id-2");
  EXPECT_EQ(responses[2].offset(), 2u);
  EXPECT_FALSE(responses[2].has_error());
}

TEST_F(EndToEndTest, PublishBatchAnswersEveryItemInOrderAndDeliversTheGoodOnes) {
  std::shared_ptr<WsClient> ws = ConnectWs("/ws?topic=batch.t");
  ASSERT_TRUE(ws);
  herald::v1::PublishBatchRequest batch;
  std::vector<std::string> topics = {"batch.t", "bad topic", "batch.t", "batch.other"};
  for (size_t i = 0; i < topics.size(); ++i) {
    herald::v1::PublishRequest& item = *batch.add_requests();
    item = Request(topics[i], "item " + std::to_string(i));
    item.set_request_id("id-" + std::to_string(i));
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kWait);
  herald::v1::PublishBatchResponse response;
  grpc::Status status = publisher_->PublishBatch(&context, batch, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.responses_size(), 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(response.responses(i).request_id(), "id-" + std::to_string(i));
  }
  EXPECT_EQ(response.responses(0).offset(), 1u);
  EXPECT_FALSE(response.responses(0).epoch().empty());
  EXPECT_EQ(response.responses(1).error().code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(response.responses(1).offset(), 0u);
  EXPECT_EQ(response.responses(2).offset(), 2u);
  EXPECT_EQ(response.responses(3).topic(), "batch.other");
  EXPECT_EQ(response.responses(3).offset(), 1u);

  ASSERT_TRUE(ws->WaitForEvents(2, kWait));
  std::vector<herald::v1::Event> events = ws->Events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].data(), "item 0");
  EXPECT_EQ(events[0].offset(), 1u);
  EXPECT_EQ(events[1].data(), "item 2");
  EXPECT_EQ(events[1].offset(), 2u);
}

TEST_F(EndToEndTest, APublishBatchOverTheItemLimitIsRefusedWholeAndPublishesNothing) {
  herald::v1::PublishBatchRequest batch;
  for (int i = 0; i < 1001; ++i) *batch.add_requests() = Request("batch.big", "x");
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kWait);
  herald::v1::PublishBatchResponse response;
  grpc::Status status = publisher_->PublishBatch(&context, batch, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_EQ(response.responses_size(), 0);
  // Nothing of it was published: the next event is the topic's first.
  herald::v1::PublishResponse next;
  ASSERT_TRUE(Publish(Request("batch.big", "after"), &next).ok());
  EXPECT_EQ(next.offset(), 1u);

  grpc::ClientContext empty_context;
  empty_context.set_deadline(std::chrono::system_clock::now() + kWait);
  EXPECT_TRUE(publisher_->PublishBatch(&empty_context, {}, &response).ok());
  EXPECT_EQ(response.responses_size(), 0);
}

TEST_F(EndToEndTest, WebSocketCommandsGetReplies) {
  std::shared_ptr<WsClient> ws = ConnectWs("/ws");
  ASSERT_TRUE(ws);
  EXPECT_EQ(ws->Connected()->subscriptions_size(), 0);
  EXPECT_FALSE(ws->Connected()->client_id().empty());
  EXPECT_FALSE(ws->Connected()->node().empty());

  herald::v1::ClientMessage subscribe;
  subscribe.set_id(1);
  subscribe.mutable_subscribe()->set_topic("room.7");
  ws->Send(subscribe);
  std::optional<herald::v1::Reply> subscribed = ws->WaitForReply(1, kWait);
  ASSERT_TRUE(subscribed.has_value());
  EXPECT_FALSE(subscribed->has_error());
  EXPECT_EQ(subscribed->subscribed().topic(), "room.7");
  EXPECT_FALSE(subscribed->subscribed().epoch().empty());

  herald::v1::ClientMessage publish;
  publish.set_id(2);
  *publish.mutable_publish() = Request("room.7", "from the browser");
  publish.mutable_publish()->set_request_id("b-1");
  ws->Send(publish);
  std::optional<herald::v1::Reply> published = ws->WaitForReply(2, kWait);
  ASSERT_TRUE(published.has_value());
  EXPECT_EQ(published->published().offset(), 1u);
  EXPECT_EQ(published->published().request_id(), "b-1");
  ASSERT_TRUE(ws->WaitForEvents(1, kWait));
  EXPECT_EQ(ws->Events()[0].data(), "from the browser");

  herald::v1::ClientMessage ping;
  ping.set_id(3);
  ping.mutable_ping();
  ws->Send(ping);
  std::optional<herald::v1::Reply> pong = ws->WaitForReply(3, kWait);
  ASSERT_TRUE(pong.has_value());
  EXPECT_TRUE(pong->has_pong());

  herald::v1::ClientMessage unsubscribe;
  unsubscribe.set_id(4);
  unsubscribe.mutable_unsubscribe()->set_topic("room.7");
  ws->Send(unsubscribe);
  ASSERT_TRUE(ws->WaitForReply(4, kWait).has_value());
  ASSERT_TRUE(Publish(Request("room.7", "after unsubscribe")).ok());
  // A marker on another topic proves the unsubscribed event would have arrived by now.
  subscribe.set_id(5);
  subscribe.mutable_subscribe()->set_topic("marker");
  ws->Send(subscribe);
  ASSERT_TRUE(ws->WaitForReply(5, kWait).has_value());
  ASSERT_TRUE(Publish(Request("marker", "m")).ok());
  ASSERT_TRUE(ws->WaitForEvents(2, kWait));
  EXPECT_EQ(ws->Events()[1].topic(), "marker");
  EXPECT_EQ(ws->EventCount(), 2u);
}

TEST_F(EndToEndTest, SseForHttp10ClientsEndsTheBodyByClosingInsteadOfChunking) {
  // The raw exchange blocks while it reads, so events are published alongside it, for as
  // long as it reads.
  std::thread publisher([&] {
    for (int i = 0; i < 50; ++i) {
      std::this_thread::sleep_for(20ms);
      Publish(Request("old.http", "hello 1.0"));
    }
  });
  std::string answer =
      RawExchange(http_port(), "GET /sse?topic=old.http HTTP/1.0\r\n\r\n", 1500ms);
  publisher.join();
  EXPECT_EQ(answer.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << answer.substr(0, 200);
  EXPECT_EQ(answer.find("chunked"), std::string::npos);
  EXPECT_NE(answer.find("\r\n\r\nretry: 2000\n\n"), std::string::npos);
  EXPECT_NE(answer.find("data: {\"topic\":\"old.http\""), std::string::npos);
}

TEST_F(EndToEndTest, HttpPublishTakesProtoJsonAndAnswersJson) {
  std::shared_ptr<SseClient> sse = ConnectSse("/sse?topic=http.t");
  ASSERT_TRUE(sse);
  // `data` is bytes, so proto3 JSON carries it in base64: {"n":1}.
  HttpResponse response = Fetch(http_port(), "POST", "/v1/publish",
                                R"({"topic":"http.t","data":"eyJuIjoxfQ==",)"
                                R"("content_type":"application/json","request_id":"h1"})",
                                {{"Content-Type", "application/json"}});
  ASSERT_EQ(response.status, 200) << response.body;
  boost::json::object json = Json(response.body);
  EXPECT_EQ(json.at("request_id"), "h1");
  EXPECT_EQ(json.at("offset"), "1");  // proto3 JSON writes 64-bit integers as strings.
  ASSERT_TRUE(sse->WaitFor([&] { return DataEvents(*sse).size() == 1; }, kWait));
  EXPECT_EQ(Json(DataEvents(*sse)[0].data).at("data").at("n").to_number<int>(), 1);
}

TEST_F(EndToEndTest, FlagsCanComeFromAFlagfile) {
  std::string path = ::testing::TempDir() + "/herald.flags";
  {
    std::ofstream file(path);
    file << "--node=from-the-flagfile\n--max_topics_per_connection=1\n";
  }
  StartGateway({"--flagfile=" + path});
  std::shared_ptr<WsClient> ws = ConnectWs("/ws?topic=a");
  ASSERT_TRUE(ws);
  EXPECT_EQ(ws->Connected()->node(), "from-the-flagfile");
  herald::v1::ClientMessage subscribe;
  subscribe.set_id(1);
  subscribe.mutable_subscribe()->set_topic("b");
  ws->Send(subscribe);
  std::optional<herald::v1::Reply> reply = ws->WaitForReply(1, kWait);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->error().code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(EndToEndTest, BadFlagsStopTheGatewayWithAClearError) {
  GatewayOptions options;
  options.args = {"--threads=-3"};
  options.wait_for_listening = false;
  std::unique_ptr<GatewayProcess> gateway = GatewayProcess::StartWithOptions(options);
  ASSERT_NE(gateway, nullptr);
  std::optional<int> exit_code = gateway->WaitForExit(kWait);
  ASSERT_TRUE(exit_code.has_value());
  EXPECT_EQ(*exit_code, 2);
  EXPECT_TRUE(gateway->WaitForLogLine("--threads", kWait));
}

TEST_F(EndToEndTest, MetricsCountConnectionsPublishesAndDeliveries) {
  std::shared_ptr<WsClient> ws = ConnectWs("/ws?topic=m");
  std::shared_ptr<SseClient> sse = ConnectSse("/sse?topic=m");
  ASSERT_TRUE(ws && sse);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Publish(Request("m", "x")).ok());
  ASSERT_TRUE(ws->WaitForEvents(3, kWait));
  ASSERT_TRUE(sse->WaitForEvents(4, kWait));
  HttpResponse metrics = Fetch(http_port(), "GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  for (const char* line : {"herald_connections{transport=\"ws\"} 1\n",
                           "herald_connections{transport=\"sse\"} 1\n",
                           "herald_events_published_total{way=\"grpc\",outcome=\"accepted\"} 3\n",
                           "herald_events_delivered_total{transport=\"ws\"} 3\n",
                           "herald_events_delivered_total{transport=\"sse\"} 3\n"}) {
    EXPECT_NE(metrics.body.find(line), std::string::npos) << line << metrics.body;
  }
}

TEST_F(EndToEndTest, HealthEndpointsAndUnknownPaths) {
  EXPECT_EQ(Fetch(http_port(), "GET", "/healthz").status, 200);
  EXPECT_EQ(Fetch(http_port(), "GET", "/readyz").status, 200);
  EXPECT_EQ(Fetch(http_port(), "GET", "/nothing/here").status, 404);
  EXPECT_EQ(Fetch(http_port(), "GET", "/v1/publish").status, 405);
}

TEST_F(EndToEndTest, GrpcSubscribeStreamsEventsToInternalConsumers) {
  grpc::ClientContext context;
  herald::v1::SubscribeRequest request;
  request.add_topics("internal.a");
  request.add_topics("internal.b");
  std::unique_ptr<grpc::ClientReader<herald::v1::Event>> reader =
      subscriber_->Subscribe(&context, request);
  // Initial metadata arrives once the subscription is live.
  reader->WaitForInitialMetadata();
  ASSERT_TRUE(Publish(Request("internal.a", "1")).ok());
  ASSERT_TRUE(Publish(Request("other", "x")).ok());
  ASSERT_TRUE(Publish(Request("internal.b", "2")).ok());
  herald::v1::Event event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.topic(), "internal.a");
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.topic(), "internal.b");
  EXPECT_EQ(event.data(), "2");
  context.TryCancel();
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(EndToEndTest, GrpcSubscribeRefusesBadTopics) {
  grpc::ClientContext context;
  herald::v1::SubscribeRequest request;
  request.add_topics("bad topic");
  auto reader = subscriber_->Subscribe(&context, request);
  herald::v1::Event event;
  EXPECT_FALSE(reader->Read(&event));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(EndToEndTest, ASecondGatewayOnTheSameGrpcPortRefusesToStart) {
  GatewayOptions options;
  options.default_listen_args = false;
  options.args = {"--http_listen=127.0.0.1:0",
                  "--grpc_listen=" + gateway_->grpc_target()};
  options.wait_for_listening = false;
  std::unique_ptr<GatewayProcess> second = GatewayProcess::StartWithOptions(options);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->WaitForExit(kWait), std::optional<int>(1));
  EXPECT_TRUE(second->WaitForLogLine("cannot listen on", kWait));
}

}  // namespace
}  // namespace herald::testing
