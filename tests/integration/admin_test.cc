// The Admin service (herald.v1.Admin) on one node: every call against real WebSocket, SSE and
// gRPC clients, herald-admin as an operator runs it, and each refusal's status.
#include <gtest/gtest.h>

#include <csignal>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "auth/jwt.h"
#include "herald/v1/admin.grpc.pb.h"
#include "integration/gateway_test.h"
#include "support/http_request.h"
#include "support/temp_dir.h"

namespace herald::testing {
namespace {

constexpr char kSecret[] = "admin-test-secret-0123456789abcdefgh";
constexpr char kAdminKey[] = "admin-key-0123456789abcdef";
constexpr char kRoomsKey[] = "rooms-admin-key-0123456789";

std::string Token(const std::string& sub) {
  absl::StatusOr<std::string> token = SignJwt(
      "HS256",
      absl::StrCat(R"({"sub":")", sub, R"(","exp":)", absl::ToUnixSeconds(absl::Now()) + 3600,
                   R"(,"subscribe":["room.>","news.>"],"publish":["room.>"]})"),
      kSecret);
  EXPECT_TRUE(token.ok());
  return token.ok() ? *token : "";
}

class AdminTest : public GatewayTest {
 protected:
  void SetUp() override {
    keys_file_ = dir_.Write("admin_keys", absl::StrCat("# operators\n", kAdminKey, "\n", kRoomsKey,
                                                       " room.>\n"));
    StartGateway({"--jwt_hs256_secret_file=" + dir_.Write("secret", kSecret),
                  "--admin_keys_file=" + keys_file_, "--node=node-a"});
    admin_ = herald::v1::Admin::NewStub(channel_);
  }

  std::unique_ptr<grpc::ClientContext> Context(const std::string& key = kAdminKey) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + kWait);
    if (!key.empty()) context->AddMetadata("authorization", "Bearer " + key);
    return context;
  }

  // Publishes as a backend with a token (the gateway has keys: no anonymous publishing).
  grpc::Status PublishAsBackend(const std::string& topic, const std::string& data,
                                herald::v1::PublishResponse* response = nullptr) {
    std::unique_ptr<grpc::ClientContext> context = Context(Token("backend"));
    herald::v1::PublishResponse ignored;
    return publisher_->Publish(context.get(), Request(topic, data), response ? response : &ignored);
  }

  herald::v1::PresenceResponse Presence(const std::string& topic, uint32_t limit = 0) {
    herald::v1::PresenceRequest request;
    request.set_topic(topic);
    request.set_limit(limit);
    herald::v1::PresenceResponse response;
    grpc::Status status = admin_->Presence(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  // A gRPC Subscribe call with `token`, kept open.
  struct GrpcFollower {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<herald::v1::Event>> reader;
  };
  std::unique_ptr<GrpcFollower> FollowOverGrpc(const std::string& token, const std::string& topic) {
    auto follower = std::make_unique<GrpcFollower>();
    follower->context.AddMetadata("authorization", "Bearer " + token);
    herald::v1::SubscribeRequest request;
    request.add_topics(topic);
    follower->reader = subscriber_->Subscribe(&follower->context, request);
    follower->reader->WaitForInitialMetadata();
    return follower;
  }

  TempDir dir_;
  std::string keys_file_;
  std::unique_ptr<herald::v1::Admin::Stub> admin_;
};

TEST_F(AdminTest, InfoTopicsPresenceAndConnectionsDescribeTheLiveClients) {
  std::shared_ptr<WsClient> ada = ConnectWs("/ws?topic=room.1&token=" + Token("ada"));
  std::shared_ptr<SseClient> bob = ConnectSse("/sse?topic=room.1&topic=news.x&token=" + Token("bob"));
  std::unique_ptr<GrpcFollower> cy = FollowOverGrpc(Token("cy"), "room.1");
  ASSERT_TRUE(ada && bob);

  herald::v1::InfoResponse info;
  ASSERT_TRUE(admin_->Info(Context().get(), {}, &info).ok());
  ASSERT_EQ(info.nodes_size(), 1);
  EXPECT_EQ(info.nodes(0).node(), "node-a");
  EXPECT_EQ(info.nodes(0).connections(), 3u);
  EXPECT_EQ(info.nodes(0).topics(), 2u);
  EXPECT_FALSE(info.nodes(0).version().empty());
  EXPECT_TRUE(info.unanswered_nodes().empty());

  herald::v1::TopicsRequest topics_request;
  herald::v1::TopicsResponse topics;
  ASSERT_TRUE(admin_->Topics(Context().get(), topics_request, &topics).ok());
  ASSERT_EQ(topics.topics_size(), 2);
  EXPECT_EQ(topics.total(), 2u);
  EXPECT_EQ(topics.topics(0).topic(), "news.x");
  EXPECT_EQ(topics.topics(1).topic(), "room.1");
  EXPECT_EQ(topics.topics(1).subscribers(), 3u);
  EXPECT_FALSE(topics.topics(1).epoch().empty());
  topics_request.set_pattern("room.*");
  topics_request.set_limit(1);
  ASSERT_TRUE(admin_->Topics(Context().get(), topics_request, &topics).ok());
  ASSERT_EQ(topics.topics_size(), 1);
  EXPECT_EQ(topics.topics(0).topic(), "room.1");

  herald::v1::PresenceResponse room = Presence("room.1");
  EXPECT_EQ(room.count(), 3u);
  ASSERT_EQ(room.clients_size(), 3);
  std::map<std::string, std::string> transports;
  for (const herald::v1::ClientInfo& client : room.clients()) {
    transports[client.user()] = client.transport();
    EXPECT_EQ(client.node(), "node-a");
    EXPECT_NEAR(static_cast<double>(client.connected_unix_ms()),
                static_cast<double>(absl::ToUnixMillis(absl::Now())), 60'000);
  }
  EXPECT_EQ(transports, (std::map<std::string, std::string>{
                            {"ada", "websocket"}, {"bob", "sse"}, {"cy", "grpc"}}));
  EXPECT_EQ(Presence("room.1", 2).clients_size(), 2);  // Bounded; the count is whole.
  EXPECT_EQ(Presence("room.1", 2).count(), 3u);
  EXPECT_EQ(Presence("room.nobody").count(), 0u);

  herald::v1::ConnectionsRequest connections_request;
  connections_request.set_user("bob");
  herald::v1::ConnectionsResponse connections;
  ASSERT_TRUE(admin_->Connections(Context().get(), connections_request, &connections).ok());
  ASSERT_EQ(connections.clients_size(), 1);
  EXPECT_EQ(connections.clients(0).transport(), "sse");
  EXPECT_EQ(std::vector<std::string>(connections.clients(0).topics().begin(),
                                     connections.clients(0).topics().end()),
            (std::vector<std::string>{"room.1", "news.x"}));
  EXPECT_TRUE(connections.clients(0).remote_address().starts_with("127.0.0.1:"));
  connections_request.set_user("nobody");
  ASSERT_TRUE(admin_->Connections(Context().get(), connections_request, &connections).ok());
  EXPECT_EQ(connections.count(), 0u);  // An unknown user is an empty answer, not an error.
}

TEST_F(AdminTest, DisconnectClosesAUsersConnectionsWithTheCodeAndNobodyElses) {
  std::shared_ptr<WsClient> ada_ws = ConnectWs("/ws?topic=room.1&token=" + Token("ada"));
  std::shared_ptr<SseClient> ada_sse = ConnectSse("/sse?topic=room.1&token=" + Token("ada"));
  std::unique_ptr<GrpcFollower> ada_grpc = FollowOverGrpc(Token("ada"), "room.1");
  std::shared_ptr<WsClient> bob = ConnectWs("/ws?topic=room.1&token=" + Token("bob"));
  ASSERT_TRUE(ada_ws && ada_sse && bob);

  herald::v1::DisconnectRequest request;
  request.set_user("ada");
  request.set_code(4403);
  request.set_reason("banned");
  herald::v1::DisconnectResponse response;
  ASSERT_TRUE(admin_->Disconnect(Context().get(), request, &response).ok());
  EXPECT_EQ(response.disconnected(), 3u);
  EXPECT_EQ(ada_ws->WaitForClose(kWait), std::optional<uint16_t>(4403));
  EXPECT_EQ(ada_ws->CloseReason(), "banned");
  ASSERT_TRUE(ada_ws->Disconnect().has_value());
  EXPECT_EQ(ada_ws->Disconnect()->reason(), "banned");
  EXPECT_TRUE(ada_sse->WaitForEnd(kWait));
  EXPECT_EQ(ada_sse->Events().back().type, "herald.disconnect");
  EXPECT_EQ(ada_sse->Events().back().data, R"({"code":4403,"reason":"banned"})");
  herald::v1::Event event;
  while (ada_grpc->reader->Read(&event)) {
  }
  EXPECT_EQ(ada_grpc->reader->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);

  // Bob is untouched; an application code reaches the client as given.
  ASSERT_TRUE(PublishAsBackend("room.1", "still here").ok());
  EXPECT_TRUE(bob->WaitForEvents(1, kWait));
  request.set_user("");
  request.set_client_id(bob->Connected()->client_id());
  request.set_code(3001);
  request.set_reason("");
  ASSERT_TRUE(admin_->Disconnect(Context().get(), request, &response).ok());
  EXPECT_EQ(response.disconnected(), 1u);
  EXPECT_EQ(bob->WaitForClose(kWait), std::optional<uint16_t>(3001));
  EXPECT_EQ(bob->CloseReason(), "disconnected by an operator");
}

TEST_F(AdminTest, UnsubscribeTakesOneTopicOffAndTellsTheClient) {
  std::shared_ptr<WsClient> ws = ConnectWs("/ws?topic=room.1&topic=room.2&token=" + Token("ada"));
  std::shared_ptr<SseClient> sse = ConnectSse("/sse?topic=room.1&topic=room.2&token=" + Token("ada"));
  std::shared_ptr<WsClient> bob = ConnectWs("/ws?topic=room.1&token=" + Token("bob"));
  ASSERT_TRUE(ws && sse && bob);
  herald::v1::UnsubscribeRequest request;
  request.set_user("ada");
  request.set_topic("room.1");
  herald::v1::UnsubscribeResponse response;
  ASSERT_TRUE(admin_->Unsubscribe(Context(kRoomsKey).get(), request, &response).ok());
  EXPECT_EQ(response.unsubscribed(), 2u);
  EXPECT_TRUE(ws->WaitFor(
      [&] {
        for (const herald::v1::ServerMessage& message : ws->Messages()) {
          if (message.unsubscribed_size() == 1 && message.unsubscribed(0).topic() == "room.1") {
            return true;
          }
        }
        return false;
      },
      kWait));
  EXPECT_TRUE(sse->WaitFor(
      [&] {
        for (const SseEvent& event : sse->Events()) {
          if (event.type == "herald.unsubscribed" && event.data == R"({"topic":"room.1"})") return true;
        }
        return false;
      },
      kWait));
  ASSERT_TRUE(PublishAsBackend("room.1", "one").ok());
  ASSERT_TRUE(PublishAsBackend("room.2", "two").ok());
  EXPECT_TRUE(bob->WaitForEvents(1, kWait));
  EXPECT_TRUE(ws->WaitForEvents(1, kWait));
  EXPECT_TRUE(sse->WaitFor([&] { return DataEvents(*sse).size() == 1; }, kWait));
  std::this_thread::sleep_for(100ms);
  ASSERT_EQ(ws->Events().size(), 1u);
  EXPECT_EQ(ws->Events()[0].topic(), "room.2");
  EXPECT_EQ(DataEvents(*sse).size(), 1u);
  EXPECT_FALSE(ws->Ended());
  EXPECT_EQ(Presence("room.1").count(), 1u);  // Bob.
  // Again: nobody follows it any more.
  ASSERT_TRUE(admin_->Unsubscribe(Context().get(), request, &response).ok());
  EXPECT_EQ(response.unsubscribed(), 0u);
}

TEST_F(AdminTest, AClientsOwnUnsubscribeGetsItsReplyAndNotTheOperatorsMessage) {
  std::shared_ptr<WsClient> ws = ConnectWs("/ws?topic=room.1&token=" + Token("ada"));
  ASSERT_TRUE(ws);
  herald::v1::ClientMessage unsubscribe;
  unsubscribe.set_id(7);
  unsubscribe.mutable_unsubscribe()->set_topic("room.1");
  ws->Send(unsubscribe);
  std::optional<herald::v1::Reply> reply = ws->WaitForReply(7, kWait);
  ASSERT_TRUE(reply.has_value() && reply->has_unsubscribed());
  // A ping's answer comes after anything the unsubscribe could have sent.
  herald::v1::ClientMessage ping;
  ping.set_id(8);
  ping.mutable_ping();
  ws->Send(ping);
  ASSERT_TRUE(ws->WaitForReply(8, kWait).has_value());
  for (const herald::v1::ServerMessage& message : ws->Messages()) {
    EXPECT_EQ(message.unsubscribed_size(), 0);
  }
  EXPECT_EQ(Presence("room.1").count(), 0u);
}

TEST_F(AdminTest, RemoveHistoryLeavesThePositionAndRecoveryIsToldSo) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(PublishAsBackend("room.9", "x").ok());
  HttpResponse before = Fetch(http_port(), "GET", "/v1/history?topic=room.9&token=" + Token("ada"));
  ASSERT_EQ(before.status, 200) << before.body;
  std::string epoch = Str(Json(before.body).at("epoch"));
  herald::v1::RemoveHistoryRequest request;
  request.set_topic("room.9");
  herald::v1::RemoveHistoryResponse response;
  ASSERT_TRUE(admin_->RemoveHistory(Context().get(), request, &response).ok());
  HttpResponse after = Fetch(http_port(), "GET", "/v1/history?topic=room.9&token=" + Token("ada"));
  EXPECT_TRUE(Json(after.body).at("events").as_array().empty()) << after.body;
  std::shared_ptr<WsClient> ws = ConnectWs("/ws?token=" + Token("ada"));
  std::optional<herald::v1::Reply> reply = SubscribeWs(*ws, 1, "room.9", TopicPositionForTest{epoch, 1});
  ASSERT_TRUE(reply.has_value() && reply->has_subscribed());
  EXPECT_FALSE(reply->subscribed().recovered());
  EXPECT_EQ(reply->subscribed().offset(), 3u);
  herald::v1::PublishResponse next;
  ASSERT_TRUE(PublishAsBackend("room.9", "y", &next).ok());
  EXPECT_EQ(next.offset(), 4u);
}

TEST_F(AdminTest, EveryRefusalHasItsStatus) {
  herald::v1::InfoResponse info;
  EXPECT_EQ(admin_->Info(Context("").get(), {}, &info).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(admin_->Info(Context("wrong-key-0123456789abcdef").get(), {}, &info).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(admin_->Info(Context(kRoomsKey).get(), {}, &info).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  herald::v1::PresenceRequest presence;
  herald::v1::PresenceResponse presence_response;
  for (const char* topic : {"", "bad topic", "room..1"}) {
    presence.set_topic(topic);
    EXPECT_EQ(admin_->Presence(Context().get(), presence, &presence_response).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT)
        << topic;
  }
  presence.set_topic("news.x");
  EXPECT_EQ(admin_->Presence(Context(kRoomsKey).get(), presence, &presence_response).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  presence.set_topic("room.1");
  EXPECT_TRUE(admin_->Presence(Context(kRoomsKey).get(), presence, &presence_response).ok());

  herald::v1::TopicsRequest topics;
  topics.set_pattern("room.>.x");
  herald::v1::TopicsResponse topics_response;
  EXPECT_EQ(admin_->Topics(Context().get(), topics, &topics_response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  herald::v1::DisconnectRequest disconnect;
  herald::v1::DisconnectResponse disconnect_response;
  EXPECT_EQ(admin_->Disconnect(Context().get(), disconnect, &disconnect_response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);  // Nobody named: never everyone by omission.
  disconnect.set_user("ada");
  for (uint32_t code : {1001u, 2999u, 5000u}) {
    disconnect.set_code(code);
    EXPECT_EQ(admin_->Disconnect(Context().get(), disconnect, &disconnect_response).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT)
        << code;
  }
  disconnect.set_code(4403);
  disconnect.set_reason(std::string(124, 'r'));
  EXPECT_EQ(admin_->Disconnect(Context().get(), disconnect, &disconnect_response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  herald::v1::UnsubscribeRequest unsubscribe;
  unsubscribe.set_topic("room.1");
  herald::v1::UnsubscribeResponse unsubscribe_response;
  EXPECT_EQ(admin_->Unsubscribe(Context().get(), unsubscribe, &unsubscribe_response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // A key removed by a reload loses its rights at once.
  dir_.Write("admin_keys", absl::StrCat(kRoomsKey, " room.>\n"));
  ASSERT_TRUE(gateway_->SendSignal(SIGHUP));
  ASSERT_TRUE(gateway_->WaitForLogLine("reloaded: auth=on", kWait));
  EXPECT_EQ(admin_->Presence(Context().get(), presence, &presence_response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(admin_->Presence(Context(kRoomsKey).get(), presence, &presence_response).ok());
}

TEST_F(AdminTest, HeraldAdminPrintsTheAnswerAsJsonAndTheStatusOnFailure) {
  std::shared_ptr<WsClient> ada = ConnectWs("/ws?topic=room.1&token=" + Token("ada"));
  ASSERT_TRUE(ada);
  std::string key_file = dir_.Write("operator.key", absl::StrCat(kAdminKey, "\n"));
  std::string admin = BinaryPath("herald-admin") + " --target=" + gateway_->grpc_target() +
                      " --key_file=" + key_file;
  CommandResult presence = RunCommand(admin + " presence --topic=room.1");
  EXPECT_EQ(presence.exit_code, 0);
  boost::json::object answer = Json(presence.output);
  EXPECT_EQ(Str(answer.at("count")), "1");
  EXPECT_EQ(Str(answer.at("clients").as_array()[0].at("user")), "ada");

  CommandResult kicked = RunCommand(admin + " disconnect --user=ada --reason=banned");
  EXPECT_EQ(kicked.exit_code, 0);
  EXPECT_EQ(Str(Json(kicked.output).at("disconnected")), "1");
  EXPECT_EQ(ada->WaitForClose(kWait), std::optional<uint16_t>(4403));

  CommandResult refused = RunCommand(BinaryPath("herald-admin") + " --target=" +
                                     gateway_->grpc_target() + " info 2>&1");
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.output.find("UNAUTHENTICATED"), std::string::npos) << refused.output;
  EXPECT_EQ(RunCommand(admin + " launch 2>&1").exit_code, 2);
}

TEST(AdminOff, EveryCallAnswersFailedPreconditionWithoutAdminKeys) {
  std::string error;
  std::unique_ptr<GatewayProcess> gateway = GatewayProcess::Start({}, &error);
  ASSERT_NE(gateway, nullptr) << error;
  auto admin = herald::v1::Admin::NewStub(
      grpc::CreateChannel(gateway->grpc_target(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer anything-at-all-0123456789");
  herald::v1::InfoResponse info;
  grpc::Status status = admin->Info(&context, {}, &info);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("--admin_keys_file"), std::string::npos);
}

}  // namespace
}  // namespace herald::testing
