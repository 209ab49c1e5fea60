// Several gateway nodes on one Redis: any node takes a publish, every node delivers it in one
// order, a client of a dead node recovers on another, and a Redis restart is survived.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <boost/json.hpp>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "auth/jwt.h"
#include "herald/v1/admin.grpc.pb.h"
#include "herald/v1/publisher.grpc.pb.h"
#include "herald/v1/subscriber.grpc.pb.h"
#include "support/client_loop.h"
#include "support/gateway_process.h"
#include "support/http_request.h"
#include "support/redis_server.h"
#include "support/sse_client.h"
#include "support/temp_dir.h"
#include "support/ws_client.h"

namespace herald::testing {
namespace {

using namespace std::chrono_literals;

constexpr std::chrono::milliseconds kWait = 15s;

// One gateway process and the gRPC stubs to reach it.
struct Node {
  std::unique_ptr<GatewayProcess> process;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<herald::v1::Publisher::Stub> publisher;
  std::unique_ptr<herald::v1::Subscriber::Stub> subscriber;

  uint16_t http_port() const { return process->http_port(); }

  grpc::Status Publish(const std::string& topic, const std::string& data,
                       herald::v1::PublishResponse* response = nullptr) {
    herald::v1::PublishRequest request;
    request.set_topic(topic);
    request.set_data(data);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kWait);
    herald::v1::PublishResponse ignored;
    return publisher->Publish(&context, request, response ? response : &ignored);
  }
};

struct Position {
  std::string epoch;
  uint64_t offset = 0;
  friend bool operator==(const Position&, const Position&) = default;
};

std::vector<Position> Positions(const std::vector<herald::v1::Event>& events) {
  std::vector<Position> positions;
  for (const herald::v1::Event& event : events) positions.push_back({event.epoch(), event.offset()});
  return positions;
}

// An SSE event names its epoch only when it is news: the others have the one `herald.connected`
// or an earlier event gave.
std::vector<Position> SsePositions(const SseClient& sse) {
  std::vector<Position> positions;
  std::string epoch;
  for (const SseEvent& event : sse.Events()) {
    boost::json::object json = boost::json::parse(event.data).as_object();
    if (event.type == "herald.connected") {
      epoch = std::string(json.at("subscriptions").at(0).at("epoch").as_string());
    }
    if (event.type.rfind("herald.", 0) == 0) continue;
    if (const boost::json::value* named = json.if_contains("epoch")) {
      epoch = std::string(named->as_string());
    }
    positions.push_back({epoch, static_cast<uint64_t>(json.at("offset").to_number<int64_t>())});
  }
  return positions;
}

std::vector<Position> Sequence(const std::string& epoch, uint64_t first, uint64_t last) {
  std::vector<Position> positions;
  for (uint64_t offset = first; offset <= last; ++offset) positions.push_back({epoch, offset});
  return positions;
}

bool Ready(uint16_t http_port) { return Fetch(http_port, "GET", "/readyz").status == 200; }

bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout = kWait) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

class MultiNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    redis_ = RedisServer::Start(&error);
    ASSERT_NE(redis_, nullptr) << error;
    broker_ = redis_->url();
  }

  // Node one takes 10 unary publishes, 100 on a PublishStream and 10 over HTTP; a WebSocket
  // client of node two and SSE and gRPC subscribers of node three get all 120 in one order.
  void CheckEveryNodeDeliversEveryPublishInOneOrder();

  Node StartNode(const std::string& name, std::vector<std::string> flags = {}) {
    std::string error;
    Node node;
    flags.insert(flags.begin(), {"--broker=" + broker_, "--node=" + name, "--redis_timeout=2s"});
    GatewayOptions options;
    options.args = std::move(flags);
    options.log_prefix = "[" + name + "] ";
    node.process = GatewayProcess::StartWithOptions(std::move(options), &error);
    EXPECT_NE(node.process, nullptr) << error;
    if (!node.process) return node;
    node.channel = grpc::CreateChannel(node.process->grpc_target(),
                                       grpc::InsecureChannelCredentials());
    node.publisher = herald::v1::Publisher::NewStub(node.channel);
    node.subscriber = herald::v1::Subscriber::NewStub(node.channel);
    EXPECT_TRUE(WaitUntil([&] { return Ready(node.http_port()); }));
    return node;
  }

  std::shared_ptr<WsClient> ConnectWs(const Node& node, const std::string& target) {
    std::shared_ptr<WsClient> client = WsClient::Connect(loop_, node.http_port(), target);
    EXPECT_NE(client, nullptr);
    if (client) {
      EXPECT_TRUE(client->WaitForConnected(kWait).has_value());
    }
    return client;
  }

  std::shared_ptr<SseClient> ConnectSse(const Node& node, const std::string& target,
                                        std::vector<std::string> headers = {}) {
    std::shared_ptr<SseClient> client =
        SseClient::Connect(loop_, node.http_port(), target, std::move(headers));
    EXPECT_NE(client, nullptr);
    if (client) {
      EXPECT_TRUE(client->WaitForEvents(1, kWait));  // herald.connected
    }
    return client;
  }

  ClientLoop loop_;  // Declared first: destroyed after the clients that run on it.
  std::unique_ptr<RedisServer> redis_;
  std::string broker_;  // --broker of the nodes.
};

TEST_F(MultiNodeTest, APublishOnAnyNodeReachesEverySubscriberOnEveryNodeInOneOrder) {
  CheckEveryNodeDeliversEveryPublishInOneOrder();
}

TEST_F(MultiNodeTest, OnARedisClusterEveryNodeDeliversEveryPublishInOneOrder) {
  std::string error;
  std::unique_ptr<RedisCluster> cluster = RedisCluster::Start(3, &error);
  ASSERT_NE(cluster, nullptr) << error;
  broker_ = cluster->url();
  CheckEveryNodeDeliversEveryPublishInOneOrder();
}

void MultiNodeTest::CheckEveryNodeDeliversEveryPublishInOneOrder() {
  Node one = StartNode("one"), two = StartNode("two"), three = StartNode("three");
  ASSERT_TRUE(one.process && two.process && three.process);
  std::shared_ptr<WsClient> ws = ConnectWs(two, "/ws?topic=room");
  std::shared_ptr<SseClient> sse = ConnectSse(three, "/sse?topic=room");
  ASSERT_TRUE(ws && sse);
  grpc::ClientContext grpc_context;
  herald::v1::SubscribeRequest request;
  request.add_topics("room");
  auto grpc_reader = three.subscriber->Subscribe(&grpc_context, request);
  grpc_reader->WaitForInitialMetadata();
  // Every node reports the topic's one epoch.
  std::string epoch = ws->Connected()->subscriptions(0).epoch();
  EXPECT_EQ(ws->Connected()->node(), "two");

  // Node one takes 10 unary publishes, 100 on a PublishStream (read ahead by the gateway, so
  // many are in Redis at once) and 10 over HTTP.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(one.Publish("room", "unary").ok());
  {
    grpc::ClientContext context;
    auto stream = one.publisher->PublishStream(&context);
    for (int i = 0; i < 100; ++i) {
      herald::v1::PublishRequest item;
      item.set_topic("room");
      item.set_data("stream");
      ASSERT_TRUE(stream->Write(item));
    }
    stream->WritesDone();
    herald::v1::PublishResponse response;
    uint64_t answers = 0;
    while (stream->Read(&response)) {
      EXPECT_FALSE(response.has_error()) << response.error().message();
      EXPECT_EQ(response.epoch(), epoch);
      EXPECT_EQ(response.offset(), 11 + answers);  // Answered in order, published in order.
      ++answers;
    }
    EXPECT_TRUE(stream->Finish().ok());
    EXPECT_EQ(answers, 100u);
  }
  for (int i = 0; i < 10; ++i) {
    HttpResponse response = Fetch(one.http_port(), "POST", "/v1/publish",
                                  R"({"topic":"room","data":"aHR0cA=="})",
                                  {{"Content-Type", "application/json"}});
    ASSERT_EQ(response.status, 200) << response.body;
  }

  ASSERT_TRUE(ws->WaitForEvents(120, kWait));
  EXPECT_EQ(Positions(ws->Events()), Sequence(epoch, 1, 120));
  ASSERT_TRUE(sse->WaitFor([&] { return SsePositions(*sse).size() >= 120; }, kWait));
  EXPECT_EQ(SsePositions(*sse), Sequence(epoch, 1, 120));
  std::vector<herald::v1::Event> grpc_events;
  herald::v1::Event event;
  while (grpc_events.size() < 120 && grpc_reader->Read(&event)) grpc_events.push_back(event);
  EXPECT_EQ(Positions(grpc_events), Sequence(epoch, 1, 120));
  grpc_context.TryCancel();
  grpc_reader->Finish();
  // History is the same wherever it is read.
  HttpResponse history = Fetch(three.http_port(), "GET", "/v1/history?topic=room&limit=5");
  ASSERT_EQ(history.status, 200);
  boost::json::object answer = boost::json::parse(history.body).as_object();
  EXPECT_EQ(answer.at("offset").to_number<int64_t>(), 120);
  EXPECT_EQ(answer.at("events").as_array().size(), 5u);
}

TEST_F(MultiNodeTest, ClientsOfAKilledNodeRecoverOnAnotherWithNothingLost) {
  Node one = StartNode("one"), two = StartNode("two"), three = StartNode("three");
  ASSERT_TRUE(one.process && two.process && three.process);
  std::shared_ptr<WsClient> ws = ConnectWs(two, "/ws?topic=feed");
  std::shared_ptr<SseClient> sse = ConnectSse(two, "/sse?topic=feed");
  ASSERT_TRUE(ws && sse);
  std::string epoch = ws->Connected()->subscriptions(0).epoch();

  constexpr uint64_t kEvents = 300;
  std::atomic<bool> publish_failed{false};
  std::thread publisher([&] {
    for (uint64_t i = 1; i <= kEvents; ++i) {
      if (!one.Publish("feed", "e" + std::to_string(i)).ok()) publish_failed = true;
      std::this_thread::sleep_for(2ms);
    }
  });
  ASSERT_TRUE(ws->WaitForEvents(50, kWait));
  two.process->SendSignal(SIGKILL);
  ASSERT_TRUE(ws->WaitFor([&] { return ws->Ended(); }, kWait));
  ASSERT_TRUE(sse->WaitForEnd(kWait));

  // Each comes back on node three from the last event it has.
  std::vector<herald::v1::Event> ws_before = ws->Events();
  ASSERT_FALSE(ws_before.empty());
  std::shared_ptr<WsClient> ws_back = ConnectWs(three, "/ws");
  ASSERT_TRUE(ws_back);
  herald::v1::ClientMessage subscribe;
  subscribe.set_id(1);
  subscribe.mutable_subscribe()->set_topic("feed");
  subscribe.mutable_subscribe()->set_recover(true);
  subscribe.mutable_subscribe()->set_epoch(ws_before.back().epoch());
  subscribe.mutable_subscribe()->set_offset(ws_before.back().offset());
  ws_back->Send(subscribe);
  std::optional<herald::v1::Reply> reply = ws_back->WaitForReply(1, kWait);
  ASSERT_TRUE(reply.has_value());
  EXPECT_TRUE(reply->subscribed().recovered());
  std::string last_event_id = sse->LastEventId();
  ASSERT_FALSE(last_event_id.empty());
  std::shared_ptr<SseClient> sse_back =
      ConnectSse(three, "/sse?topic=feed", {"Last-Event-ID: " + last_event_id});
  ASSERT_TRUE(sse_back);

  publisher.join();
  EXPECT_FALSE(publish_failed);
  uint64_t missing = kEvents - ws_before.back().offset();
  ASSERT_TRUE(ws_back->WaitForEvents(missing, kWait));
  std::vector<Position> ws_all = Positions(ws_before);
  for (const Position& position : Positions(ws_back->Events())) ws_all.push_back(position);
  EXPECT_EQ(ws_all, Sequence(epoch, 1, kEvents));

  ASSERT_TRUE(sse_back->WaitFor(
      [&] { return SsePositions(*sse).size() + SsePositions(*sse_back).size() >= kEvents; },
      kWait));
  std::vector<Position> sse_all = SsePositions(*sse);
  for (const Position& position : SsePositions(*sse_back)) sse_all.push_back(position);
  EXPECT_EQ(sse_all, Sequence(epoch, 1, kEvents));
}

TEST_F(MultiNodeTest, WhileRedisIsDownPublishesFailClientsStayAndNodesAreNotReady) {
  Node one = StartNode("one"), two = StartNode("two");
  ASSERT_TRUE(one.process && two.process);
  std::shared_ptr<WsClient> ws = ConnectWs(two, "/ws?topic=live");
  ASSERT_TRUE(ws);
  herald::v1::PublishResponse before;
  ASSERT_TRUE(one.Publish("live", "before", &before).ok());
  ASSERT_TRUE(ws->WaitForEvents(1, kWait));

  redis_->Kill();
  EXPECT_TRUE(WaitUntil([&] { return !Ready(one.http_port()) && !Ready(two.http_port()); }));
  grpc::Status refused = one.Publish("live", "lost?");
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE) << refused.error_message();
  HttpResponse http_refused = Fetch(one.http_port(), "POST", "/v1/publish",
                                    R"({"topic":"live","data":"eA=="})",
                                    {{"Content-Type", "application/json"}});
  EXPECT_EQ(http_refused.status, 503) << http_refused.body;
  // A subscribe needs Redis too: it gets an error reply, and the connection stays.
  herald::v1::ClientMessage subscribe;
  subscribe.set_id(7);
  subscribe.mutable_subscribe()->set_topic("other");
  ws->Send(subscribe);
  std::optional<herald::v1::Reply> reply = ws->WaitForReply(7, kWait);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->error().code(), grpc::StatusCode::UNAVAILABLE);
  // Connect-time topics cannot be followed either: the connection closes with 1013 (try again
  // later), not a 44xx code a client may take as final.
  std::shared_ptr<WsClient> ws_refused = WsClient::Connect(loop_, two.http_port(), "/ws?topic=t");
  ASSERT_TRUE(ws_refused);
  EXPECT_EQ(ws_refused->WaitForClose(kWait), std::optional<uint16_t>(1013));
  ASSERT_TRUE(ws_refused->Disconnect().has_value());
  EXPECT_EQ(ws_refused->Disconnect()->code(), 1013u);
  std::shared_ptr<SseClient> sse_refused =
      SseClient::Connect(loop_, two.http_port(), "/sse?topic=t", {});
  ASSERT_TRUE(sse_refused);
  ASSERT_TRUE(sse_refused->WaitForEnd(kWait));
  std::vector<SseEvent> sse_events = sse_refused->Events();
  ASSERT_FALSE(sse_events.empty());
  EXPECT_EQ(sse_events.back().type, "herald.disconnect");
  EXPECT_NE(sse_events.back().data.find("1013"), std::string::npos) << sse_events.back().data;
  // The metrics say so: the engine down, its faults, the publishes it could not take.
  std::string down = Fetch(one.http_port(), "GET", "/metrics").body;
  for (const char* line : {"herald_engine_up 0\n",
                           "herald_events_published_total{way=\"grpc\",outcome=\"unavailable\"} 1\n",
                           "herald_events_published_total{way=\"http\",outcome=\"unavailable\"} 1\n"}) {
    EXPECT_TRUE(absl::StrContains(down, line)) << line << down;
  }
  EXPECT_FALSE(absl::StrContains(down, "herald_engine_errors_total 0\n")) << down;
  // History lives in Redis: the node shows none of its own.
  EXPECT_FALSE(absl::StrContains(down, "herald_history_events")) << down;

  ASSERT_TRUE(redis_->Restart());
  EXPECT_TRUE(WaitUntil([&] { return Ready(one.http_port()) && Ready(two.http_port()); }));
  std::string up = Fetch(one.http_port(), "GET", "/metrics").body;
  EXPECT_TRUE(absl::StrContains(up, "herald_engine_up 1\n")) << up;
  EXPECT_FALSE(absl::StrContains(up, "herald_engine_reconnects_total 0\n")) << up;
  EXPECT_FALSE(ws->Ended());
  herald::v1::PublishResponse after;
  ASSERT_TRUE(one.Publish("live", "after", &after).ok());
  // Redis came back empty: the topic starts a new epoch, and the client gets it live.
  EXPECT_NE(after.epoch(), before.epoch());
  ASSERT_TRUE(ws->WaitForEvents(2, kWait));
  std::vector<herald::v1::Event> events = ws->Events();
  EXPECT_EQ(events[0].data(), "before");
  EXPECT_EQ(events[1].data(), "after");
  EXPECT_EQ(events[1].offset(), 1u);
  // As sent: the first event of the new epoch names it; the client knew the old one from its
  // subscribe answer.
  std::map<std::string, std::string> epoch_sent;  // data -> epoch as sent
  for (const herald::v1::ServerMessage& message : ws->Messages()) {
    for (const herald::v1::Event& event : message.events()) epoch_sent[event.data()] = event.epoch();
  }
  EXPECT_EQ(epoch_sent["before"], "");
  EXPECT_EQ(epoch_sent["after"], after.epoch());
  EXPECT_EQ(events[1].epoch(), after.epoch());
  EXPECT_FALSE(ws->Ended());
}

// A subscribe still waiting for the engine is ended by an unsubscribe: it is answered first
// (CANCELLED), then the unsubscribe, and no `subscribed` comes once the engine answers.
TEST_F(MultiNodeTest, AnUnsubscribeBeforeTheSubscribeIsAnsweredEndsIt) {
  Node one = StartNode("one");
  ASSERT_TRUE(one.process);
  std::shared_ptr<WsClient> ws = ConnectWs(one, "/ws");
  ASSERT_TRUE(ws);
  redis_->Freeze();  // The subscribe's history read waits.
  herald::v1::ClientMessage subscribe;
  subscribe.set_id(1);
  subscribe.mutable_subscribe()->set_topic("slow");
  ws->Send(subscribe);
  herald::v1::ClientMessage unsubscribe;
  unsubscribe.set_id(2);
  unsubscribe.mutable_unsubscribe()->set_topic("slow");
  ws->Send(unsubscribe);
  std::optional<herald::v1::Reply> unsubscribed = ws->WaitForReply(2, kWait);
  redis_->Thaw();
  ASSERT_TRUE(unsubscribed.has_value());
  EXPECT_EQ(unsubscribed->unsubscribed().topic(), "slow");
  std::optional<herald::v1::Reply> cancelled = ws->WaitForReply(1, kWait);
  ASSERT_TRUE(cancelled.has_value());
  EXPECT_EQ(cancelled->error().code(), grpc::StatusCode::CANCELLED);

  // The engine answers the history read; a later subscribe's answer comes after it.
  herald::v1::ClientMessage later = subscribe;
  later.set_id(3);
  later.mutable_subscribe()->set_topic("later");
  ws->Send(later);
  std::optional<herald::v1::Reply> later_reply = ws->WaitForReply(3, kWait);
  ASSERT_TRUE(later_reply.has_value());
  EXPECT_TRUE(later_reply->has_subscribed()) << later_reply->DebugString();
  ASSERT_TRUE(one.Publish("slow", "not followed").ok());
  ASSERT_TRUE(one.Publish("later", "followed").ok());
  ASSERT_TRUE(ws->WaitForEvents(1, kWait));
  std::vector<uint32_t> reply_ids;
  for (const herald::v1::Reply& reply : ws->Replies()) {
    reply_ids.push_back(reply.id());
    EXPECT_FALSE(reply.has_subscribed() && reply.subscribed().topic() == "slow")
        << reply.DebugString();
  }
  EXPECT_EQ(reply_ids, (std::vector<uint32_t>{1, 2, 3}));
  std::vector<herald::v1::Event> events = ws->Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].topic(), "later");
}

TEST_F(MultiNodeTest, ClientsOfANodeThatLostEventsAreToldAndNotRecovered) {
  Node one = StartNode("one", {"--history_size=2"}), two = StartNode("two", {"--history_size=2"});
  ASSERT_TRUE(one.process && two.process);
  std::shared_ptr<WsClient> ws = ConnectWs(two, "/ws?topic=busy");
  ASSERT_TRUE(ws);
  ASSERT_TRUE(one.Publish("busy", "seen").ok());
  ASSERT_TRUE(ws->WaitForEvents(1, kWait));
  // Node two's subscription drops while more is published than history keeps.
  redis_->Cli({"CLIENT", "KILL", "TYPE", "pubsub"});
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(one.Publish("busy", "missed").ok());
  ASSERT_EQ(ws->WaitForClose(kWait), std::optional<uint16_t>(1012));
  ASSERT_TRUE(ws->Disconnect().has_value());
  EXPECT_EQ(ws->Disconnect()->reason(), "events lost: reconnect");
  EXPECT_EQ(ws->Events().size(), 1u);  // Nothing after the gap was passed on before the close.

  // Back from its last event: told it was not recovered, and live again.
  std::shared_ptr<WsClient> back = ConnectWs(two, "/ws");
  ASSERT_TRUE(back);
  herald::v1::ClientMessage subscribe;
  subscribe.set_id(1);
  subscribe.mutable_subscribe()->set_topic("busy");
  subscribe.mutable_subscribe()->set_recover(true);
  subscribe.mutable_subscribe()->set_epoch(ws->Events()[0].epoch());
  subscribe.mutable_subscribe()->set_offset(ws->Events()[0].offset());
  back->Send(subscribe);
  std::optional<herald::v1::Reply> reply = back->WaitForReply(1, kWait);
  ASSERT_TRUE(reply.has_value());
  EXPECT_FALSE(reply->subscribed().recovered());
  EXPECT_EQ(reply->subscribed().offset(), 11u);
  ASSERT_TRUE(one.Publish("busy", "live").ok());
  ASSERT_TRUE(back->WaitForEvents(1, kWait));
  EXPECT_EQ(back->Events()[0].data(), "live");
}


// Redis fails over to a replica that missed the last two publishes, which clients already
// have. The promoted master's topic ends two events earlier, so its next publishes would take
// those offsets again: a client back from where it was would be told "recovered" and never see
// them. The topic starts a new epoch instead, and every client sees every new event.
TEST_F(MultiNodeTest, AfterAFailoverThatLostPublishesNoClientTakesANewEventForOneItHas) {
  std::string error;
  std::unique_ptr<RedisServer> replica = redis_->StartReplica(&error);
  ASSERT_NE(replica, nullptr) << error;
  Node one = StartNode("one");
  ASSERT_TRUE(one.process);
  std::shared_ptr<WsClient> before = ConnectWs(one, "/ws?topic=t");
  ASSERT_TRUE(before);
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(one.Publish("t", absl::StrCat("kept ", i)).ok());
  ASSERT_TRUE(WaitUntil([&] { return redis_->ReplicaHasEverything(); }));
  ASSERT_EQ(replica->Cli({"REPLICAOF", "NO", "ONE"}), "OK");  // It misses what follows.
  for (int i = 6; i <= 7; ++i) ASSERT_TRUE(one.Publish("t", absl::StrCat("lost ", i)).ok());
  ASSERT_TRUE(before->WaitForEvents(7, kWait));
  const herald::v1::Event last = before->Events().back();
  EXPECT_EQ(last.offset(), 7u);
  before->Close();

  ASSERT_TRUE(redis_->FailOverTo(*replica));
  // Ready again on the new master (it may not have noticed the old one go yet).
  ASSERT_TRUE(WaitUntil([&] { return one.Publish("probe", "x").ok() && Ready(one.http_port()); }));
  std::shared_ptr<WsClient> live = ConnectWs(one, "/ws?topic=t");
  ASSERT_TRUE(live);
  ASSERT_TRUE(WaitUntil([&] { return one.Publish("t", "new 1").ok(); }));
  ASSERT_TRUE(one.Publish("t", "new 2").ok());
  ASSERT_TRUE(live->WaitForEvents(2, kWait));
  std::vector<herald::v1::Event> events = live->Events();
  EXPECT_EQ(events[0].data(), "new 1");
  EXPECT_EQ(events[1].data(), "new 2");
  EXPECT_NE(events[0].epoch(), last.epoch());

  // A WebSocket client back from offset 7 is told its subscription was not recovered...
  std::shared_ptr<WsClient> back = ConnectWs(one, "/ws");
  ASSERT_TRUE(back);
  herald::v1::ClientMessage subscribe;
  subscribe.set_id(1);
  subscribe.mutable_subscribe()->set_topic("t");
  subscribe.mutable_subscribe()->set_recover(true);
  subscribe.mutable_subscribe()->set_epoch(last.epoch());
  subscribe.mutable_subscribe()->set_offset(last.offset());
  back->Send(subscribe);
  std::optional<herald::v1::Reply> reply = back->WaitForReply(1, kWait);
  ASSERT_TRUE(reply.has_value());
  EXPECT_FALSE(reply->subscribed().recovered()) << reply->DebugString();
  EXPECT_EQ(reply->subscribed().epoch(), events[0].epoch());
  // ...and so is an SSE client (Last-Event-ID), which then goes on live.
  std::shared_ptr<SseClient> sse =
      ConnectSse(one, "/sse?topic=t", {absl::StrCat("Last-Event-ID: ", last.epoch(), "-7")});
  ASSERT_TRUE(sse);
  boost::json::object connected = boost::json::parse(sse->Events()[0].data).as_object();
  EXPECT_FALSE(connected.at("subscriptions").at(0).at("recovered").as_bool())
      << sse->Events()[0].data;
  ASSERT_TRUE(one.Publish("t", "new 3").ok());
  ASSERT_TRUE(sse->WaitForEvents(2, kWait));
  EXPECT_EQ(boost::json::parse(sse->Events()[1].data).at("data").as_string(), "new 3");
}

TEST(RedisWaitReplicasFlag, OutOfRangeOrWithoutRedisStopsTheStart) {
  CommandResult negative = RunHerald("--broker=redis://127.0.0.1:1 --redis_wait_replicas=-1");
  EXPECT_EQ(negative.exit_code, 2);
  EXPECT_NE(negative.output.find("--redis_wait_replicas must be 0..100"), std::string::npos)
      << negative.output;
  CommandResult memory = RunHerald("--redis_wait_replicas=1");
  EXPECT_EQ(memory.exit_code, 2);
  EXPECT_NE(memory.output.find("--redis_wait_replicas needs --broker=redis://"),
            std::string::npos)
      << memory.output;
}

// Two nodes on one Redis: every Admin call covers both, a banned user is off both at once, and
// a node that died is named in the answers rather than silently missing.
TEST_F(MultiNodeTest, AdminCallsCoverEveryNodeAndNameOneThatDoesNotAnswer) {
  constexpr char kSecret[] = "multi-node-admin-secret-0123456789ab";
  constexpr char kAdminKey[] = "multi-node-admin-key-0123456789";
  TempDir dir;
  std::vector<std::string> flags = {"--jwt_hs256_secret_file=" + dir.Write("secret", kSecret),
                                    "--admin_keys_file=" + dir.Write("admin_keys", kAdminKey)};
  Node a = StartNode("node-a", flags);
  Node b = StartNode("node-b", flags);
  ASSERT_TRUE(a.process && b.process);
  auto token = [&](const std::string& sub) {
    return *SignJwt("HS256",
                    absl::StrCat(R"({"sub":")", sub, R"(","exp":)",
                                 absl::ToUnixSeconds(absl::Now()) + 3600,
                                 R"(,"subscribe":["room.>"]})"),
                    kSecret);
  };
  auto admin_a = herald::v1::Admin::NewStub(a.channel);
  auto admin_b = herald::v1::Admin::NewStub(b.channel);
  auto context = [&] {
    auto made = std::make_unique<grpc::ClientContext>();
    made->set_deadline(std::chrono::system_clock::now() + kWait);
    made->AddMetadata("authorization", absl::StrCat("Bearer ", kAdminKey));
    return made;
  };

  std::shared_ptr<WsClient> ada_a = ConnectWs(a, "/ws?topic=room.1&token=" + token("ada"));
  std::shared_ptr<SseClient> ada_b = ConnectSse(b, "/sse?topic=room.1&token=" + token("ada"));
  std::shared_ptr<WsClient> bob_b = ConnectWs(b, "/ws?topic=room.1&topic=room.2&token=" + token("bob"));
  ASSERT_TRUE(ada_a && ada_b && bob_b);

  // The nodes hear of each other as soon as the second starts.
  herald::v1::InfoResponse info;
  ASSERT_TRUE(WaitUntil([&] {
    info.Clear();
    return admin_b->Info(context().get(), {}, &info).ok() && info.nodes_size() == 2;
  }, 2s));
  info.Clear();
  ASSERT_TRUE(admin_a->Info(context().get(), {}, &info).ok());
  ASSERT_EQ(info.nodes_size(), 2);
  EXPECT_EQ(info.nodes(0).node(), "node-a");  // The node asked comes first.
  EXPECT_EQ(info.nodes(1).node(), "node-b");
  EXPECT_EQ(info.nodes(0).connections() + info.nodes(1).connections(), 3u);
  EXPECT_TRUE(info.unanswered_nodes().empty());

  herald::v1::PresenceRequest presence_request;
  presence_request.set_topic("room.1");
  herald::v1::PresenceResponse presence;
  ASSERT_TRUE(admin_b->Presence(context().get(), presence_request, &presence).ok());
  EXPECT_EQ(presence.count(), 3u);
  std::multiset<std::string> where;
  for (const herald::v1::ClientInfo& client : presence.clients()) {
    where.insert(client.user() + "@" + client.node());
  }
  EXPECT_EQ(where, (std::multiset<std::string>{"ada@node-a", "ada@node-b", "bob@node-b"}));

  herald::v1::TopicsResponse topics;
  ASSERT_TRUE(admin_a->Topics(context().get(), {}, &topics).ok());
  ASSERT_EQ(topics.topics_size(), 2);
  EXPECT_EQ(topics.topics(0).topic(), "room.1");
  EXPECT_EQ(topics.topics(0).subscribers(), 3u);
  EXPECT_EQ(topics.topics(1).subscribers(), 1u);

  herald::v1::ConnectionsRequest bobs;
  bobs.set_user("bob");
  herald::v1::ConnectionsResponse connections;
  ASSERT_TRUE(admin_a->Connections(context().get(), bobs, &connections).ok());
  ASSERT_EQ(connections.count(), 1u);
  EXPECT_EQ(connections.clients(0).node(), "node-b");
  EXPECT_EQ(std::set<std::string>(connections.clients(0).topics().begin(),
                                  connections.clients(0).topics().end()),
            (std::set<std::string>{"room.1", "room.2"}));
  EXPECT_TRUE(connections.clients(0).remote_address().starts_with("127.0.0.1:"));

  // RemoveHistory through one node empties the history every node reads.
  std::string backend = *SignJwt("HS256",
                                 absl::StrCat(R"({"sub":"backend","exp":)",
                                              absl::ToUnixSeconds(absl::Now()) + 3600,
                                              R"(,"publish":["room.>"],"subscribe":["room.>"]})"),
                                 kSecret);
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext publish_context;
    publish_context.AddMetadata("authorization", "Bearer " + backend);
    herald::v1::PublishRequest event;
    event.set_topic("room.9");
    event.set_data("x");
    herald::v1::PublishResponse published;
    ASSERT_TRUE(b.publisher->Publish(&publish_context, event, &published).ok());
  }
  auto history_on_b = [&] {
    HttpResponse history = Fetch(b.http_port(), "GET", "/v1/history?topic=room.9&token=" + backend);
    EXPECT_EQ(history.status, 200) << history.body;
    return boost::json::parse(history.body).at("events").as_array().size();
  };
  EXPECT_EQ(history_on_b(), 3u);
  herald::v1::RemoveHistoryRequest remove;
  remove.set_topic("room.9");
  herald::v1::RemoveHistoryResponse removed;
  ASSERT_TRUE(admin_a->RemoveHistory(context().get(), remove, &removed).ok());
  EXPECT_EQ(history_on_b(), 0u);

  herald::v1::UnsubscribeRequest unsubscribe;
  unsubscribe.set_user("bob");
  unsubscribe.set_topic("room.2");
  herald::v1::UnsubscribeResponse unsubscribed;
  ASSERT_TRUE(admin_a->Unsubscribe(context().get(), unsubscribe, &unsubscribed).ok());
  EXPECT_EQ(unsubscribed.unsubscribed(), 1u);

  // A ban through node a closes ada's connections on both nodes, and nobody else's.
  herald::v1::DisconnectRequest ban;
  ban.set_user("ada");
  ban.set_reason("banned");
  herald::v1::DisconnectResponse banned;
  auto asked = std::chrono::steady_clock::now();
  ASSERT_TRUE(admin_a->Disconnect(context().get(), ban, &banned).ok());
  EXPECT_EQ(banned.disconnected(), 2u);
  EXPECT_EQ(ada_a->WaitForClose(kWait), std::optional<uint16_t>(4403));
  EXPECT_TRUE(ada_b->WaitForEnd(kWait));
  auto off = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - asked);
  std::printf("a banned user was off both nodes %lld ms after the call\n",
              static_cast<long long>(off.count()));
  EXPECT_LT(off, 3s);  // Well within one call's deadline: the answers came from both nodes.
  EXPECT_FALSE(bob_b->Ended());

  // Node b dies: node a's answers name it.
  b.process->SendSignal(SIGKILL);
  b.process->WaitForExit(kWait);
  info.Clear();
  ASSERT_TRUE(admin_a->Info(context().get(), {}, &info).ok());
  ASSERT_EQ(info.nodes_size(), 1);
  EXPECT_EQ(info.nodes(0).node(), "node-a");
  EXPECT_EQ(std::vector<std::string>(info.unanswered_nodes().begin(), info.unanswered_nodes().end()),
            std::vector<std::string>{"node-b"});
}

// Presence while Redis is down: even this node's answer travels through the engine, so the read
// is 503 (not an empty room), and one reader holds at most 4 reads in flight.
TEST_F(MultiNodeTest, PresenceWithoutTheEngineIsUnavailableNotEmpty) {
  TempDir dir;
  std::string rules = dir.Write("rules.yaml", "- pattern: \"lobby.*\"\n  presence: true\n");
  Node a = StartNode("node-a", {"--topic_rules_file=" + rules});
  ASSERT_TRUE(a.process);
  std::shared_ptr<WsClient> member = ConnectWs(a, "/ws?topic=lobby.1");
  ASSERT_TRUE(member);
  ASSERT_TRUE(WaitUntil([&] {
    HttpResponse presence = Fetch(a.http_port(), "GET", "/v1/presence?topic=lobby.1");
    return presence.status == 200 && presence.body.find("\"count\":1") != std::string::npos;
  }));

  redis_->Kill();
  std::vector<std::future<HttpResponse>> waiting;
  for (int i = 0; i < 4; ++i) {
    waiting.push_back(std::async(std::launch::async, [&] {
      return Fetch(a.http_port(), "GET", "/v1/presence?topic=lobby.1");
    }));
  }
  std::this_thread::sleep_for(300ms);  // The four wait for the engine (a second at most).
  HttpResponse fifth = Fetch(a.http_port(), "GET", "/v1/presence?topic=lobby.1");
  EXPECT_EQ(fifth.status, 429) << fifth.body;
  EXPECT_EQ(fifth.Header("Retry-After"), std::optional<std::string>("1"));
  for (std::future<HttpResponse>& answer : waiting) {
    HttpResponse down = answer.get();
    EXPECT_EQ(down.status, 503) << down.body;
    EXPECT_NE(down.body.find("presence is unavailable: the engine does not answer"),
              std::string::npos) << down.body;
    EXPECT_EQ(down.Header("Retry-After"), std::optional<std::string>("1"));
  }
  // Their places are given back: the next read is answered (503 again, not 429).
  EXPECT_EQ(Fetch(a.http_port(), "GET", "/v1/presence?topic=lobby.1").status, 503);
}

// Topic rules on Redis: a join on one node reaches the subscribers of another, presence lists
// every node's subscribers, and each node caps its own subscribers.
TEST_F(MultiNodeTest, JoinLeaveAndPresenceCrossNodesAndEachNodeCapsItsOwnSubscribers) {
  TempDir dir;
  std::string rules = dir.Write(
      "rules.yaml",
      "- pattern: \"lobby.*\"\n  join_leave: true\n  presence: true\n  max_subscribers: 1\n");
  Node a = StartNode("node-a", {"--topic_rules_file=" + rules});
  Node b = StartNode("node-b", {"--topic_rules_file=" + rules});
  ASSERT_TRUE(a.process && b.process);
  std::shared_ptr<WsClient> on_a = ConnectWs(a, "/ws?topic=lobby.1");
  ASSERT_TRUE(on_a);
  std::shared_ptr<WsClient> on_b = ConnectWs(b, "/ws?topic=lobby.1");  // Node b's first: admitted.
  ASSERT_TRUE(on_b);
  std::string b_id = on_b->Connected()->client_id();
  auto told = [&](const std::string& type) {
    for (const herald::v1::Event& event : on_a->Events()) {
      if (event.type() == type && event.data().find(b_id) != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(on_a->WaitFor([&] { return told("herald.join"); }, kWait));
  std::multiset<std::string> where;
  ASSERT_TRUE(WaitUntil([&] {
    HttpResponse presence = Fetch(a.http_port(), "GET", "/v1/presence?topic=lobby.1");
    if (presence.status != 200) return false;
    where.clear();
    boost::json::value answer = boost::json::parse(presence.body);
    for (const boost::json::value& client : answer.at("clients").as_array()) {
      where.insert(boost::json::value_to<std::string>(client.at("client_id")) + "@" +
                   boost::json::value_to<std::string>(client.at("node")));
    }
    return where.size() == 2;
  }));
  EXPECT_EQ(where, (std::multiset<std::string>{on_a->Connected()->client_id() + "@node-a",
                                               b_id + "@node-b"}));
  std::shared_ptr<WsClient> second_on_a = WsClient::Connect(loop_, a.http_port(), "/ws?topic=lobby.1");
  ASSERT_TRUE(second_on_a);
  EXPECT_EQ(second_on_a->WaitForClose(kWait), std::optional<uint16_t>(4403));
  on_b->Close();
  EXPECT_TRUE(on_a->WaitFor([&] { return told("herald.leave"); }, kWait));
}

}  // namespace
}  // namespace herald::testing
