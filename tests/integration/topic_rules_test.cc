// --topic_rules_file through the real gateway: each option acts on its topics and no others,
// on every transport; a file with a mistake stops the start, or leaves the rules in force on
// SIGHUP.
#include <gtest/gtest.h>

#include <csignal>
#include <set>
#include <cstdio>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "auth/jwt.h"
#include "integration/gateway_test.h"
#include "support/http_request.h"
#include "support/temp_dir.h"

namespace herald::testing {
namespace {

constexpr char kRules[] = R"(# Rooms hold two people; news is written by backends only.
- pattern: "room.*"
  max_subscribers: 2
- pattern: news.>
  client_publish: false
  history_size: 2
- pattern: ticker.>
  history_size: 1
)";

class TopicRulesTest : public GatewayTest {
 protected:
  void StartWithRules(std::string_view rules, std::vector<std::string> flags = {}) {
    rules_file_ = dir_.Write("rules.yaml", rules);
    flags.push_back("--topic_rules_file=" + rules_file_);
    StartGateway(std::move(flags));
  }

  // The status a gRPC Subscribe to `topic` ends with, or OK while it stays open.
  grpc::Status GrpcSubscribe(const std::string& topic) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 2s);
    herald::v1::SubscribeRequest request;
    request.add_topics(topic);
    auto call = subscriber_->Subscribe(&context, request);
    herald::v1::Event event;
    while (call->Read(&event)) {
    }
    grpc::Status status = call->Finish();
    return status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ? grpc::Status::OK : status;
  }

  size_t HistoryCount(const std::string& topic) {
    HttpResponse history = Fetch(http_port(), "GET", "/v1/history?topic=" + topic + "&limit=100");
    EXPECT_EQ(history.status, 200) << history.body;
    return Json(history.body).at("events").as_array().size();
  }

  TempDir dir_;
  std::string rules_file_;
};

TEST_F(TopicRulesTest, AFullTopicRefusesTheNextSubscriberOnEveryTransportAndNobodyElse) {
  StartWithRules(kRules);
  EXPECT_TRUE(gateway_->SawLogLine("room.* history_size=1000 history_ttl=10m max_subscribers=2"));
  std::shared_ptr<WsClient> first = ConnectWs("/ws?topic=room.a");
  std::shared_ptr<SseClient> second = ConnectSse("/sse?topic=room.a");
  ASSERT_TRUE(first && second);

  std::shared_ptr<WsClient> third = ConnectWs("/ws?topic=room.b");
  ASSERT_TRUE(third);
  std::optional<herald::v1::Reply> refused = SubscribeWs(*third, 1, "room.a", std::nullopt);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->error().code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(refused->error().message(),
            "topic room.a is full: it has its 2 subscribers (max_subscribers)");
  EXPECT_FALSE(third->Ended());  // Refused a topic, not cut.

  std::shared_ptr<WsClient> at_connect = ConnectWs("/ws?topic=room.a");
  ASSERT_TRUE(at_connect);
  EXPECT_EQ(at_connect->WaitForClose(kWait), std::optional<uint16_t>(4403));
  EXPECT_EQ(GrpcSubscribe("room.a").error_code(), grpc::StatusCode::PERMISSION_DENIED);

  // The two inside are untouched and still get what is published; other rooms have room.
  ASSERT_TRUE(PublishForTest("room.a", "hello").ok());
  EXPECT_TRUE(first->WaitForEvents(1, kWait));
  EXPECT_TRUE(second->WaitFor([&] { return DataEvents(*second).size() == 1; }, kWait));
  EXPECT_TRUE(SubscribeWs(*third, 2, "room.c", std::nullopt)->has_subscribed());

  // One leaves: its place is given back.
  first->Close();
  ASSERT_TRUE(first->WaitForClose(kWait));
  bool admitted = false;
  for (uint32_t id = 3; id < 200 && !admitted; ++id) {
    std::optional<herald::v1::Reply> reply = SubscribeWs(*third, id, "room.a", std::nullopt);
    ASSERT_TRUE(reply.has_value());
    admitted = reply->has_subscribed();
    if (!admitted) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(admitted);
}

TEST_F(TopicRulesTest, ClientPublishFalseLeavesPublishingToBackendsAndHistoryFollowsTheRule) {
  StartWithRules(kRules);
  std::shared_ptr<WsClient> browser = ConnectWs("/ws?topic=news.world");
  ASSERT_TRUE(browser);
  herald::v1::ClientMessage publish;
  publish.set_id(1);
  publish.mutable_publish()->set_topic("news.world");
  publish.mutable_publish()->set_data("fake news");
  browser->Send(publish);
  std::optional<herald::v1::Reply> reply = browser->WaitForReply(1, kWait);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->error().code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(reply->error().message(),
            "clients may not publish to news.world (client_publish: false)");
  HttpResponse http =
      Fetch(http_port(), "POST", "/v1/publish", R"({"topic":"news.world","data":"eA=="})");
  EXPECT_EQ(http.status, 403);

  // Browsers may still publish where no rule says otherwise.
  publish.set_id(2);
  publish.mutable_publish()->set_topic("chat.lobby");
  browser->Send(publish);
  reply = browser->WaitForReply(2, kWait);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->published().offset(), 1u);

  for (int i = 0; i < 5; ++i) ASSERT_TRUE(PublishForTest("news.world", "from the backend").ok());
  EXPECT_TRUE(browser->WaitForEvents(5, kWait));
  EXPECT_EQ(HistoryCount("news.world"), 2u);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(PublishForTest("ticker.eur", "1.08").ok());
  EXPECT_EQ(HistoryCount("ticker.eur"), 1u);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(PublishForTest("orders.new", "x").ok());
  EXPECT_EQ(HistoryCount("orders.new"), 5u);
}

TEST_F(TopicRulesTest, ATokenMayNotPublishWhereClientsMayNotWhateverWayItComesIn) {
  constexpr char kSecret[] = "topic-rules-secret-0123456789abcdefgh";
  StartWithRules(kRules, {"--jwt_hs256_secret_file=" + dir_.Write("secret", kSecret),
                          "--publisher_keys_file=" + dir_.Write("keys", "news-backend-key-0123456789 news.>\n")});
  absl::StatusOr<std::string> token = SignJwt(
      "HS256",
      absl::StrCat(R"({"sub":"ada","exp":)", absl::ToUnixSeconds(absl::Now()) + 3600,
                   R"(,"publish":["news.>"]})"),
      kSecret);
  ASSERT_TRUE(token.ok());
  auto publish_with = [&](const std::string& credential) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kWait);
    context.AddMetadata("authorization", "Bearer " + credential);
    herald::v1::PublishResponse response;
    return publisher_->Publish(&context, Request("news.world", "x"), &response);
  };
  grpc::Status refused = publish_with(*token);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(refused.error_message(), "clients may not publish to news.world (client_publish: false)");
  EXPECT_TRUE(publish_with("news-backend-key-0123456789").ok());
}

TEST_F(TopicRulesTest, JoinLeaveTopicsTellTheirSubscribersWhoComesAndGoesOnEveryTransport) {
  StartWithRules("- pattern: \"lobby.*\"\n  join_leave: true\n");
  auto joins_of = [](const std::vector<herald::v1::Event>& events, const std::string& type) {
    std::vector<std::string> ids;
    for (const herald::v1::Event& event : events) {
      if (event.type() == type) ids.push_back(Str(Json(event.data()).at("client_id")));
    }
    return ids;
  };
  std::shared_ptr<WsClient> ada = ConnectWs("/ws?topic=lobby.1&topic=quiet.1");
  ASSERT_TRUE(ada);
  std::string ada_id = ada->Connected()->client_id();
  ASSERT_TRUE(ada->WaitFor([&] { return joins_of(ada->Events(), "herald.join").size() == 1; }, kWait));
  std::shared_ptr<SseClient> bob = ConnectSse("/sse?topic=lobby.1");
  ASSERT_TRUE(bob);
  std::string bob_id = Str(Json(bob->Events()[0].data).at("client_id"));
  ASSERT_TRUE(ada->WaitFor([&] { return joins_of(ada->Events(), "herald.join").size() == 2; }, kWait));
  EXPECT_EQ(joins_of(ada->Events(), "herald.join"), (std::vector<std::string>{ada_id, bob_id}));
  const herald::v1::Event join = ada->Events().back();
  EXPECT_EQ(join.offset(), 0u);  // Ephemeral: never in history.
  EXPECT_EQ(join.content_type(), "application/json");
  EXPECT_EQ(Str(Json(join.data()).at("user")), "");

  // A gRPC subscriber hears of the next one; the SSE one does too, in its own form.
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kWait);
  herald::v1::SubscribeRequest request;
  request.add_topics("lobby.1");
  auto grpc_follower = subscriber_->Subscribe(&context, request);
  grpc_follower->WaitForInitialMetadata();
  std::shared_ptr<WsClient> cy = ConnectWs("/ws?topic=lobby.1");
  ASSERT_TRUE(cy);
  herald::v1::Event heard;
  bool heard_cy = false;
  while (!heard_cy && grpc_follower->Read(&heard)) {
    heard_cy = heard.type() == "herald.join" &&
               Str(Json(heard.data()).at("client_id")) == cy->Connected()->client_id();
  }
  EXPECT_TRUE(heard_cy);
  EXPECT_TRUE(bob->WaitFor([&] {
    for (const SseEvent& event : bob->Events()) {
      if (event.type == "herald.join" &&
          event.data.find(cy->Connected()->client_id()) != std::string::npos) {
        return true;
      }
    }
    return false;
  }, kWait));

  bob->Close();
  ASSERT_TRUE(ada->WaitFor([&] { return !joins_of(ada->Events(), "herald.leave").empty(); }, kWait));
  EXPECT_EQ(joins_of(ada->Events(), "herald.leave"), std::vector<std::string>{bob_id});
  for (const herald::v1::Event& event : ada->Events()) {
    if (event.topic() == "quiet.1") ADD_FAILURE() << "quiet.1 has no join_leave rule";
  }
  context.TryCancel();
}

TEST_F(TopicRulesTest, PresenceTopicsTellTheirSubscribersWhoIsThereOnEveryTransport) {
  StartWithRules("- pattern: \"lobby.*\"\n  presence: true\n");
  std::shared_ptr<WsClient> ada = ConnectWs("/ws?topic=lobby.1&topic=quiet.1");
  std::shared_ptr<SseClient> bob = ConnectSse("/sse?topic=lobby.1");
  ASSERT_TRUE(ada && bob);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kWait);
  herald::v1::SubscribeRequest request;
  request.add_topics("lobby.1");
  auto grpc_follower = subscriber_->Subscribe(&context, request);
  grpc_follower->WaitForInitialMetadata();

  // The gRPC subscriber counts once its subscription stands.
  HttpResponse presence;
  for (int i = 0; i < 100; ++i) {
    presence = Fetch(http_port(), "GET", "/v1/presence?topic=lobby.1");
    ASSERT_EQ(presence.status, 200) << presence.body;
    if (Json(presence.body).at("count").to_number<int>() == 3) break;
    std::this_thread::sleep_for(20ms);
  }
  boost::json::value answer = Json(presence.body);
  EXPECT_EQ(Str(answer.at("topic")), "lobby.1");
  EXPECT_EQ(answer.at("count").to_number<int>(), 3);
  EXPECT_TRUE(answer.at("unanswered_nodes").as_array().empty());
  std::set<std::string> transports;
  std::set<std::string> ids;
  for (const boost::json::value& client : answer.at("clients").as_array()) {
    transports.insert(Str(client.at("transport")));
    ids.insert(Str(client.at("client_id")));
    EXPECT_FALSE(Str(client.at("node")).empty());
    EXPECT_GT(client.at("connected_unix_ms").to_number<int64_t>(), 1'700'000'000'000);
    EXPECT_FALSE(client.as_object().contains("remote_address"));  // Admin.Connections only.
  }
  EXPECT_EQ(transports, (std::set<std::string>{"websocket", "sse", "grpc"}));
  EXPECT_TRUE(ids.contains(ada->Connected()->client_id()));

  // The list is bounded; the count is not.
  boost::json::value one = Json(Fetch(http_port(), "GET", "/v1/presence?topic=lobby.1&limit=1").body);
  EXPECT_EQ(one.at("clients").as_array().size(), 1u);
  EXPECT_EQ(one.at("count").to_number<int>(), 3);

  // Someone who leaves is gone from the answer.
  bob->Close();
  int count = 3;
  for (int i = 0; i < 100 && count != 2; ++i) {
    std::this_thread::sleep_for(20ms);
    count = Json(Fetch(http_port(), "GET", "/v1/presence?topic=lobby.1").body)
                .at("count").to_number<int>();
  }
  EXPECT_EQ(count, 2);
  // So is one that unsubscribes, whose connection stays.
  herald::v1::ClientMessage unsubscribe;
  unsubscribe.set_id(9);
  unsubscribe.mutable_unsubscribe()->set_topic("lobby.1");
  ada->Send(unsubscribe);
  ASSERT_TRUE(ada->WaitForReply(9, kWait).has_value());
  boost::json::value after = Json(Fetch(http_port(), "GET", "/v1/presence?topic=lobby.1").body);
  EXPECT_EQ(after.at("count").to_number<int>(), 1);
  EXPECT_EQ(Str(after.at("clients").as_array()[0].at("transport")), "grpc");

  // A topic whose rule does not say presence: true answers nobody; nor does a bad request.
  HttpResponse quiet = Fetch(http_port(), "GET", "/v1/presence?topic=quiet.1");
  EXPECT_EQ(quiet.status, 403);
  EXPECT_EQ(Str(Json(quiet.body).at("message")),
            "presence is off for quiet.1: its topic rule does not say presence: true");
  EXPECT_EQ(Fetch(http_port(), "GET", "/v1/presence").status, 400);
  EXPECT_EQ(Fetch(http_port(), "GET", "/v1/presence?topic=lobby.1&topic=lobby.2").status, 400);
  EXPECT_EQ(Fetch(http_port(), "GET", "/v1/presence?topic=lobby..1").status, 400);
  EXPECT_EQ(Fetch(http_port(), "POST", "/v1/presence?topic=lobby.1").status, 405);
  HttpResponse preflight = Fetch(http_port(), "OPTIONS", "/v1/presence?topic=lobby.1", "",
                                 {{"Origin", "https://app.example"},
                                  {"Access-Control-Request-Method", "GET"},
                                  {"Access-Control-Request-Headers", "authorization"}});
  EXPECT_EQ(preflight.status, 204);
  EXPECT_FALSE(ada->Ended());
  context.TryCancel();
}

TEST_F(TopicRulesTest, PresenceNeedsTheRightToSubscribeToTheTopic) {
  constexpr char kSecret[] = "presence-test-secret-0123456789abcdef";
  StartWithRules("- pattern: \"room.*\"\n  presence: true\n",
                 {"--jwt_hs256_secret_file=" + dir_.Write("secret", kSecret)});
  auto token = [&](const std::string& sub, const std::string& patterns) {
    absl::StatusOr<std::string> signed_token = SignJwt(
        "HS256",
        absl::StrCat(R"({"sub":")", sub, R"(","exp":)", absl::ToUnixSeconds(absl::Now()) + 3600,
                     R"(,"subscribe":[)", patterns, "]}"),
        kSecret);
    EXPECT_TRUE(signed_token.ok());
    return signed_token.value_or("");
  };
  std::string ada = token("ada", R"("room.1")");
  std::shared_ptr<WsClient> in_room = ConnectWs("/ws?topic=room.1&token=" + ada);
  ASSERT_TRUE(in_room);
  HttpResponse allowed = Fetch(http_port(), "GET", "/v1/presence?topic=room.1", "",
                               {{"Authorization", "Bearer " + ada}});
  ASSERT_EQ(allowed.status, 200) << allowed.body;
  boost::json::value answer = Json(allowed.body);
  ASSERT_EQ(answer.at("clients").as_array().size(), 1u);
  EXPECT_EQ(Str(answer.at("clients").as_array()[0].at("user")), "ada");

  HttpResponse other_room = Fetch(http_port(), "GET", "/v1/presence?topic=room.2", "",
                                  {{"Authorization", "Bearer " + ada}});
  EXPECT_EQ(other_room.status, 403);
  EXPECT_EQ(Str(Json(other_room.body).at("message")),
            "this credential may not subscribe to room.2");
  EXPECT_EQ(Fetch(http_port(), "GET", "/v1/presence?topic=room.1").status, 401);
  EXPECT_EQ(Fetch(http_port(), "GET", "/v1/presence?topic=room.1", "",
                  {{"Authorization", "Bearer not-a-token"}}).status, 401);
}

TEST_F(TopicRulesTest, AReconnectStormIsToldAtMostTheCapOfJoinsPerSecond) {
  StartWithRules("- pattern: \"lobby.*\"\n  join_leave: true\n");
  std::shared_ptr<WsClient> watcher = ConnectWs("/ws?topic=lobby.storm");
  ASSERT_TRUE(watcher);
  std::vector<std::shared_ptr<WsClient>> storm;
  for (int i = 0; i < 100; ++i) storm.push_back(ConnectWs("/ws?topic=lobby.storm"));
  std::this_thread::sleep_for(500ms);
  size_t joins = 0;
  for (const herald::v1::Event& event : watcher->Events()) joins += event.type() == "herald.join";
  // 101 joins in a second or two: at most the cap in each second they spanned.
  std::printf("a storm of 101 joins was told as %zu herald.join events\n", joins);
  EXPECT_GE(joins, 1u);
  EXPECT_LE(joins, 3u * 20u) << "without a cap: 101";
}

TEST_F(TopicRulesTest, AReloadTakesNewRulesAndKeepsTheOldOnesWhenTheFileIsWrong) {
  StartWithRules(kRules);
  dir_.Write("rules.yaml", "- pattern: ticker.>\n  history_size: 3\n");
  ASSERT_TRUE(gateway_->SendSignal(SIGHUP));
  ASSERT_TRUE(gateway_->WaitForLogLine("reloaded: topic rules (1, first match wins):", kWait));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(PublishForTest("ticker.eur", "1.08").ok());
  EXPECT_EQ(HistoryCount("ticker.eur"), 3u);
  HttpResponse news = Fetch(http_port(), "POST", "/v1/publish", R"({"topic":"news.x","data":"eA=="})");
  EXPECT_EQ(news.status, 200) << news.body;  // The news rule is gone.

  dir_.Write("rules.yaml", "- pattern: ticker.>\n  history_size: three\n");
  ASSERT_TRUE(gateway_->SendSignal(SIGHUP));
  ASSERT_TRUE(gateway_->WaitForLogLine("reload: topic rules kept as they were", kWait));
  EXPECT_TRUE(gateway_->SawLogLine(rules_file_ + ":2: history_size: 'three' is not a number"));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(PublishForTest("ticker.eur", "1.09").ok());
  EXPECT_EQ(HistoryCount("ticker.eur"), 3u);
}

TEST(TopicRulesStart, AFileWithAMistakeStopsTheStartWithItsLineAndReason) {
  TempDir dir;
  std::string rules = dir.Write("rules.yaml", "- pattern: chat.>\n  histroy_size: 500\n");
  CommandResult start = RunHerald("--topic_rules_file=" + rules);
  EXPECT_NE(start.exit_code, 0);
  EXPECT_NE(start.output.find(rules + ":2: unknown key 'histroy_size'"), std::string::npos)
      << start.output;
  CommandResult missing = RunHerald("--topic_rules_file=/nonexistent/rules.yaml");
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.output.find("cannot read /nonexistent/rules.yaml"), std::string::npos)
      << missing.output;
  CommandResult directory = RunHerald("--topic_rules_file=" + dir.path());
  EXPECT_NE(directory.exit_code, 0);
  EXPECT_NE(directory.output.find("not a file"), std::string::npos) << directory.output;
}

}  // namespace
}  // namespace herald::testing
