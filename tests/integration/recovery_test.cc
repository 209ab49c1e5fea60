// History and recovery on every transport: exact replay after a gap, or `recovered=false` and
// live delivery when history cannot cover it.
#include <gtest/gtest.h>

#include "integration/gateway_test.h"

namespace herald::testing {
namespace {

class RecoveryTest : public GatewayTest {
 protected:
  herald::v1::PublishResponse PublishOk(const std::string& topic, const std::string& data) {
    herald::v1::PublishResponse response;
    grpc::Status status = Publish(Request(topic, data), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  static std::vector<uint64_t> Offsets(const std::vector<herald::v1::Event>& events) {
    std::vector<uint64_t> offsets;
    for (const herald::v1::Event& event : events) offsets.push_back(event.offset());
    return offsets;
  }

  static std::vector<std::string> SseData(const SseClient& sse) {
    std::vector<std::string> data;
    for (const SseEvent& event : DataEvents(sse)) data.push_back(Str(Json(event.data).at("data")));
    return data;
  }
};

TEST_F(RecoveryTest, WebSocketResubscribeReplaysExactlyTheMissedEventsThenGoesLive) {
  StartGateway();
  std::shared_ptr<WsClient> first = ConnectWs("/ws?topic=feed");
  ASSERT_TRUE(first);
  std::string epoch = first->Connected()->subscriptions(0).epoch();
  for (int i = 1; i <= 3; ++i) PublishOk("feed", "e" + std::to_string(i));
  ASSERT_TRUE(first->WaitForEvents(3, kWait));
  first->Abort();
  for (int i = 4; i <= 6; ++i) PublishOk("feed", "e" + std::to_string(i));

  std::shared_ptr<WsClient> back = ConnectWs("/ws");
  ASSERT_TRUE(back);
  std::optional<herald::v1::Reply> reply =
      SubscribeWs(*back, 1, "feed", TopicPositionForTest{epoch, 3});
  ASSERT_TRUE(reply.has_value());
  EXPECT_FALSE(reply->has_error());
  EXPECT_TRUE(reply->subscribed().recovered());
  EXPECT_EQ(reply->subscribed().epoch(), epoch);
  EXPECT_EQ(reply->subscribed().offset(), 6u);
  PublishOk("feed", "e7");
  ASSERT_TRUE(back->WaitForEvents(4, kWait));
  EXPECT_EQ(Offsets(back->Events()), (std::vector<uint64_t>{4, 5, 6, 7}));
  EXPECT_EQ(back->Events()[0].data(), "e4");
}

TEST_F(RecoveryTest, TrimmedHistoryOrAnotherEpochIsNotRecoveredAndContinuesLive) {
  StartGateway({"--history_size=3"});
  herald::v1::PublishResponse first = PublishOk("feed", "1");
  for (int i = 2; i <= 6; ++i) PublishOk("feed", std::to_string(i));  // History keeps 4..6.
  std::shared_ptr<WsClient> ws = ConnectWs("/ws");
  ASSERT_TRUE(ws);
  std::optional<herald::v1::Reply> trimmed =
      SubscribeWs(*ws, 1, "feed", TopicPositionForTest{first.epoch(), 1});
  ASSERT_TRUE(trimmed.has_value());
  EXPECT_FALSE(trimmed->subscribed().recovered());
  EXPECT_EQ(trimmed->subscribed().offset(), 6u);
  std::optional<herald::v1::Reply> other_epoch =
      SubscribeWs(*ws, 2, "other", TopicPositionForTest{"0123456789ab", 0});
  ASSERT_TRUE(other_epoch.has_value());
  EXPECT_FALSE(other_epoch->subscribed().recovered());

  PublishOk("feed", "7");
  PublishOk("other", "o1");
  ASSERT_TRUE(ws->WaitForEvents(2, kWait));
  std::vector<herald::v1::Event> events = ws->Events();
  ASSERT_EQ(events.size(), 2u);  // Live only: nothing old is replayed.
  EXPECT_EQ(events[0].offset(), 7u);
  EXPECT_EQ(events[1].topic(), "other");
}

TEST_F(RecoveryTest, ARestartedGatewayHasNewEpochsSoOldPositionsAreNotRecovered) {
  StartGateway();
  herald::v1::PublishResponse before = PublishOk("feed", "1");
  StartGateway();  // A new process: history is gone.
  std::shared_ptr<WsClient> ws = ConnectWs("/ws");
  ASSERT_TRUE(ws);
  std::optional<herald::v1::Reply> reply =
      SubscribeWs(*ws, 1, "feed", TopicPositionForTest{before.epoch(), 1});
  ASSERT_TRUE(reply.has_value());
  EXPECT_FALSE(reply->subscribed().recovered());
  EXPECT_NE(reply->subscribed().epoch(), before.epoch());
}

TEST_F(RecoveryTest, SubscribingTwiceToATopicIsAnError) {
  StartGateway();
  std::shared_ptr<WsClient> ws = ConnectWs("/ws?topic=feed");
  ASSERT_TRUE(ws);
  std::optional<herald::v1::Reply> reply = SubscribeWs(*ws, 1, "feed", std::nullopt);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->error().code(), grpc::StatusCode::ALREADY_EXISTS);
}

TEST_F(RecoveryTest, SseResumesEveryTopicFromTheLastEventIdHeaderAlone) {
  StartGateway();
  const std::string target = "/sse?topic=news&topic=sport";
  std::shared_ptr<SseClient> first = ConnectSse(target);
  ASSERT_TRUE(first);
  PublishOk("news", "n1");
  PublishOk("sport", "s1");
  PublishOk("news", "n2");
  ASSERT_TRUE(first->WaitFor([&] { return DataEvents(*first).size() == 3; }, kWait));
  // What an EventSource sends back: the last id it saw, and nothing else.
  std::string last_event_id = first->LastEventId();
  ASSERT_FALSE(last_event_id.empty());
  first->Close();

  PublishOk("sport", "s2");
  PublishOk("news", "n3");
  PublishOk("sport", "s3");

  std::shared_ptr<SseClient> back = ConnectSse(target, {"Last-Event-ID: " + last_event_id});
  ASSERT_TRUE(back);
  ASSERT_TRUE(back->WaitFor([&] { return DataEvents(*back).size() == 3; }, kWait));
  boost::json::object connected = Json(back->Events()[0].data);
  ASSERT_EQ(back->Events()[0].type, "herald.connected");
  for (const boost::json::value& subscription : connected.at("subscriptions").as_array()) {
    EXPECT_TRUE(subscription.at("recovered").as_bool()) << boost::json::serialize(subscription);
  }
  // Order holds per topic (a replay goes topic by topic).
  std::vector<std::string> news, sport;
  for (const SseEvent& event : DataEvents(*back)) {
    boost::json::object json = Json(event.data);
    (Str(json.at("topic")) == "news" ? news : sport).push_back(Str(json.at("data")));
  }
  EXPECT_EQ(news, (std::vector<std::string>{"n3"}));
  EXPECT_EQ(sport, (std::vector<std::string>{"s2", "s3"}));
  PublishOk("news", "n4");
  ASSERT_TRUE(back->WaitFor([&] { return DataEvents(*back).size() == 4; }, kWait));
  EXPECT_EQ(SseData(*back).back(), "n4");
}

TEST_F(RecoveryTest, SseTakesTheResumeTokenFromTheQueryForPolyfills) {
  StartGateway();
  std::shared_ptr<SseClient> first = ConnectSse("/sse?topic=news");
  ASSERT_TRUE(first);
  PublishOk("news", "n1");
  ASSERT_TRUE(first->WaitFor([&] { return DataEvents(*first).size() == 1; }, kWait));
  std::string token = first->LastEventId();
  first->Close();
  PublishOk("news", "n2");
  std::shared_ptr<SseClient> back = ConnectSse("/sse?topic=news&last_event_id=" + token);
  ASSERT_TRUE(back);
  ASSERT_TRUE(back->WaitFor([&] { return DataEvents(*back).size() == 1; }, kWait));
  EXPECT_EQ(SseData(*back), (std::vector<std::string>{"n2"}));
}

TEST_F(RecoveryTest, AnSseGapTooLargeToReplayIsNotRecoveredAndTheStreamGoesLive) {
  StartGateway({"--max_queue_bytes=65536", "--max_replay_bytes=100000"});
  std::shared_ptr<SseClient> first = ConnectSse("/sse?topic=big");
  ASSERT_TRUE(first);
  PublishOk("big", "seen");
  ASSERT_TRUE(first->WaitFor([&] { return DataEvents(*first).size() == 1; }, kWait));
  std::string token = first->LastEventId();
  first->Close();
  for (int i = 0; i < 50; ++i) PublishOk("big", std::string(8192, 'b'));  // ~400 KB missed.

  std::shared_ptr<SseClient> back = ConnectSse("/sse?topic=big", {"Last-Event-ID: " + token});
  ASSERT_TRUE(back);
  EXPECT_FALSE(Json(back->Events()[0].data).at("subscriptions").at(0).at("recovered").as_bool());
  PublishOk("big", "live");
  ASSERT_TRUE(back->WaitFor([&] { return DataEvents(*back).size() == 1; }, kWait));
  EXPECT_EQ(SseData(*back), (std::vector<std::string>{"live"}));
  EXPECT_FALSE(back->Ended());
}

TEST_F(RecoveryTest, ATamperedSseTokenIsNotRecoveredAndTheStreamGoesLive) {
  StartGateway();
  PublishOk("news", "old");
  for (const std::string& token : {std::string("garbage"), std::string("zz-1.yy-2"),
                                   std::string(2000, '9'), std::string("abc-18446744073709551616")}) {
    std::shared_ptr<SseClient> sse = ConnectSse("/sse?topic=news", {"Last-Event-ID: " + token});
    ASSERT_TRUE(sse);
    boost::json::object connected = Json(sse->Events()[0].data);
    EXPECT_FALSE(connected.at("subscriptions").at(0).at("recovered").as_bool());
    PublishOk("news", "live " + token.substr(0, 8));
    ASSERT_TRUE(sse->WaitFor([&] { return DataEvents(*sse).size() == 1; }, kWait));
    EXPECT_EQ(SseData(*sse)[0], "live " + token.substr(0, 8));
  }
  EXPECT_TRUE(gateway_->Running());
}

// The herald-connected-bin initial metadata of a Subscribe call (empty when absent).
herald::v1::Connected ConnectedOf(const grpc::ClientContext& context) {
  herald::v1::Connected connected;
  const auto& metadata = context.GetServerInitialMetadata();
  auto found = metadata.find("herald-connected-bin");
  if (found != metadata.end()) {
    connected.ParseFromString(std::string(found->second.data(), found->second.size()));
  }
  return connected;
}

TEST_F(RecoveryTest, GrpcSubscribeReplaysFromSincePositions) {
  StartGateway();
  herald::v1::PublishResponse first = PublishOk("orders", "o1");
  PublishOk("orders", "o2");
  PublishOk("orders", "o3");
  grpc::ClientContext context;
  herald::v1::SubscribeRequest request;
  request.add_topics("orders");
  herald::v1::StreamPosition* since = request.add_since();
  since->set_topic("orders");
  since->set_epoch(first.epoch());
  since->set_offset(1);
  auto reader = subscriber_->Subscribe(&context, request);
  reader->WaitForInitialMetadata();
  // The metadata says the gap was replayed, and from where the stream goes on.
  herald::v1::Connected connected = ConnectedOf(context);
  ASSERT_EQ(connected.subscriptions_size(), 1) << connected.DebugString();
  EXPECT_EQ(connected.subscriptions(0).topic(), "orders");
  EXPECT_TRUE(connected.subscriptions(0).recovered());
  EXPECT_EQ(connected.subscriptions(0).epoch(), first.epoch());
  EXPECT_EQ(connected.subscriptions(0).offset(), 3u);
  EXPECT_FALSE(connected.node().empty());
  PublishOk("orders", "o4");
  std::vector<std::string> data;
  herald::v1::Event event;
  while (data.size() < 3 && reader->Read(&event)) data.push_back(event.data());
  EXPECT_EQ(data, (std::vector<std::string>{"o2", "o3", "o4"}));
  context.TryCancel();
  reader->Finish();
}

TEST_F(RecoveryTest, GrpcSubscribeIsToldWhenItsSinceCouldNotBeReplayed) {
  StartGateway({"--history_size=3"});
  herald::v1::PublishResponse first = PublishOk("orders", "o1");
  for (int i = 2; i <= 6; ++i) PublishOk("orders", "o" + std::to_string(i));
  PublishOk("other", "x1");
  grpc::ClientContext context;
  herald::v1::SubscribeRequest request;
  request.add_topics("orders");
  request.add_topics("other");
  request.add_topics("fresh");
  herald::v1::StreamPosition* since = request.add_since();
  since->set_topic("orders");
  since->set_epoch(first.epoch());
  since->set_offset(1);  // Events 2 and 3 are gone from a history of 3.
  auto reader = subscriber_->Subscribe(&context, request);
  reader->WaitForInitialMetadata();
  herald::v1::Connected connected = ConnectedOf(context);
  ASSERT_EQ(connected.subscriptions_size(), 3) << connected.DebugString();
  EXPECT_EQ(connected.subscriptions(0).topic(), "orders");
  EXPECT_FALSE(connected.subscriptions(0).recovered());
  EXPECT_EQ(connected.subscriptions(0).offset(), 6u);
  // Topics without a `since` start live: nothing to recover.
  EXPECT_EQ(connected.subscriptions(1).topic(), "other");
  EXPECT_FALSE(connected.subscriptions(1).recovered());
  EXPECT_EQ(connected.subscriptions(1).offset(), 1u);
  EXPECT_EQ(connected.subscriptions(2).topic(), "fresh");
  EXPECT_EQ(connected.subscriptions(2).offset(), 0u);
  // Nothing of the gap is replayed: the stream goes on live.
  PublishOk("orders", "o7");
  herald::v1::Event event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.data(), "o7");
  context.TryCancel();
  reader->Finish();
}

TEST_F(RecoveryTest, HistoryGivesBackendsThePositionAndRecentEvents) {
  StartGateway();
  for (int i = 1; i <= 5; ++i) PublishOk("page", "p" + std::to_string(i));
  grpc::ClientContext context;
  herald::v1::HistoryRequest request;
  request.set_topic("page");
  request.set_limit(2);
  herald::v1::HistoryResponse response;
  ASSERT_TRUE(subscriber_->History(&context, request, &response).ok());
  EXPECT_EQ(response.offset(), 5u);
  ASSERT_EQ(response.events_size(), 2);
  EXPECT_EQ(response.events(0).data(), "p4");
  EXPECT_EQ(response.events(1).data(), "p5");
  // Each event whole: its topic and position, epoch included.
  EXPECT_EQ(response.topic(), "page");
  EXPECT_FALSE(response.epoch().empty());
  for (const herald::v1::Event& event : response.events()) {
    EXPECT_EQ(event.topic(), "page");
    EXPECT_EQ(event.epoch(), response.epoch());
  }
  EXPECT_EQ(response.events(1).offset(), 5u);

  // A browser handed that position misses nothing published after the render.
  PublishOk("page", "p6");
  std::shared_ptr<WsClient> ws = ConnectWs("/ws");
  ASSERT_TRUE(ws);
  std::optional<herald::v1::Reply> reply =
      SubscribeWs(*ws, 1, "page", TopicPositionForTest{response.epoch(), response.offset()});
  ASSERT_TRUE(reply.has_value());
  EXPECT_TRUE(reply->subscribed().recovered());
  ASSERT_TRUE(ws->WaitForEvents(1, kWait));
  EXPECT_EQ(ws->Events()[0].data(), "p6");
}

TEST_F(RecoveryTest, ARepeatedIdempotencyKeyIsDeliveredOnceAndAnsweredWithTheFirstOffset) {
  StartGateway();
  std::shared_ptr<WsClient> ws = ConnectWs("/ws?topic=pay");
  ASSERT_TRUE(ws);
  herald::v1::PublishRequest request = Request("pay", "charge");
  request.set_idempotency_key("charge-42");
  herald::v1::PublishResponse first, repeat;
  ASSERT_TRUE(Publish(request, &first).ok());
  ASSERT_TRUE(Publish(request, &repeat).ok());
  EXPECT_EQ(repeat.offset(), first.offset());
  PublishOk("pay", "marker");
  ASSERT_TRUE(ws->WaitForEvents(2, kWait));
  std::vector<herald::v1::Event> events = ws->Events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].data(), "charge");
  EXPECT_EQ(events[1].data(), "marker");
}

TEST_F(RecoveryTest, ASlowConsumerCutOffComesBackAndGetsEverythingItMissed) {
  StartGateway({"--history_size=5000", "--max_replay_bytes=33554432"});
  std::shared_ptr<WsClient> stalled = ConnectStalledWs("/ws?topic=flood");
  ASSERT_TRUE(stalled);
  std::shared_ptr<WsClient> healthy = ConnectWs("/ws?topic=flood");
  ASSERT_TRUE(healthy);
  std::string epoch = healthy->Connected()->subscriptions(0).epoch();
  constexpr int kEvents = 2000;
  PublishPaced("flood", kEvents, 8192, [&](size_t n) { return healthy->WaitForEvents(n, kWait); });
  stalled->StartReading();
  ASSERT_EQ(stalled->WaitForClose(30s), std::optional<uint16_t>(4408));
  std::vector<herald::v1::Event> got = stalled->Events();
  uint64_t last = got.empty() ? 0 : got.back().offset();
  ASSERT_LT(last, static_cast<uint64_t>(kEvents));

  std::shared_ptr<WsClient> back = ConnectWs("/ws");
  ASSERT_TRUE(back);
  std::optional<herald::v1::Reply> reply =
      SubscribeWs(*back, 1, "flood", TopicPositionForTest{epoch, last});
  ASSERT_TRUE(reply.has_value());
  EXPECT_TRUE(reply->subscribed().recovered());
  ASSERT_TRUE(back->WaitForEvents(kEvents - last, 30s));
  std::vector<herald::v1::Event> replayed = back->Events();
  EXPECT_EQ(replayed.front().offset(), last + 1);
  EXPECT_EQ(replayed.back().offset(), static_cast<uint64_t>(kEvents));
  EXPECT_FALSE(back->Ended());
}

TEST_F(RecoveryTest, AnSseSlowConsumerCutOffComesBackWithItsLastEventIdAndGetsEverything) {
  StartGateway({"--history_size=5000", "--max_replay_bytes=33554432"});
  std::shared_ptr<SseClient> stalled = ConnectStalledSse("/sse?topic=flood");
  ASSERT_TRUE(stalled);
  std::shared_ptr<WsClient> healthy = ConnectWs("/ws?topic=flood");
  ASSERT_TRUE(healthy);
  constexpr int kEvents = 2000;
  PublishPaced("flood", kEvents, 8192, [&](size_t n) { return healthy->WaitForEvents(n, kWait); });
  stalled->StartReading();
  ASSERT_TRUE(stalled->WaitForEnd(30s));
  ASSERT_EQ(stalled->Events().back().type, "herald.disconnect");
  size_t got = DataEvents(*stalled).size();
  ASSERT_LT(got, static_cast<size_t>(kEvents));
  ASSERT_FALSE(stalled->LastEventId().empty());

  // What EventSource does on its own: reconnect with the last id it saw.
  std::shared_ptr<SseClient> back =
      ConnectSse("/sse?topic=flood", {"Last-Event-ID: " + stalled->LastEventId()});
  ASSERT_TRUE(back);
  EXPECT_TRUE(Json(back->Events()[0].data).at("subscriptions").at(0).at("recovered").as_bool());
  ASSERT_TRUE(back->WaitFor([&] { return DataEvents(*back).size() == kEvents - got; }, 30s));
  std::vector<SseEvent> replayed = DataEvents(*back);
  EXPECT_EQ(Json(replayed.front().data).at("offset").to_number<uint64_t>(), got + 1);
  EXPECT_EQ(Json(replayed.back().data).at("offset").to_number<uint64_t>(),
            static_cast<uint64_t>(kEvents));
}

}  // namespace
}  // namespace herald::testing
