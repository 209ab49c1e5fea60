// --log_format and --log_level through the real gateway: one line per connect, disconnect and
// refused handshake, every JSON line an object of its own, and never a token.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <csignal>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "auth/jwt.h"
#include "integration/gateway_test.h"
#include "support/temp_dir.h"

namespace herald::testing {
namespace {

constexpr char kSecret[] = "log-test-secret-0123456789abcdefghij";

class LogTest : public GatewayTest {
 protected:
  std::string Token(const std::string& sub) {
    return *SignJwt("HS256",
                    absl::StrCat(R"({"sub":")", sub, R"(","exp":)",
                                 absl::ToUnixSeconds(absl::Now()) + 3600,
                                 R"(,"subscribe":["log.>"],"publish":["log.>"]})"),
                    kSecret);
  }

  // The gateway's JSON lines whose msg is `msg`; every line must be a JSON object.
  std::vector<boost::json::object> Lines(const std::string& msg) {
    std::vector<boost::json::object> found;
    for (const std::string& line : gateway_->LogLines()) {
      boost::system::error_code error;
      boost::json::value json = boost::json::parse(line, error);
      EXPECT_FALSE(error) << "not JSON: " << line;
      if (error || !json.is_object()) continue;
      const boost::json::object& object = json.as_object();
      EXPECT_TRUE(object.contains("time") && object.contains("level") && object.contains("msg"))
          << line;
      if (object.contains("msg") && object.at("msg") == msg.c_str()) found.push_back(object);
    }
    return found;
  }

  std::optional<boost::json::object> LineOf(const std::string& msg, const std::string& client_id) {
    for (boost::json::object& line : Lines(msg)) {
      if (line.contains("client_id") && line.at("client_id") == client_id.c_str()) return line;
    }
    return std::nullopt;
  }

  TempDir dir_;
};

TEST_F(LogTest, JsonLinesDescribeEachConnectionAndNeverItsToken) {
  StartGateway({"--log_format=json", "--jwt_hs256_secret_file=" + dir_.Write("secret", kSecret)});
  std::string ada_token = Token("ada");
  std::shared_ptr<WsClient> ada = ConnectWs("/ws?topic=log.a&topic=log.b&token=" + ada_token);
  ASSERT_TRUE(ada);
  std::string ada_id = ada->Connected()->client_id();
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + Token("backend"));
  herald::v1::PublishResponse published;
  ASSERT_TRUE(publisher_->Publish(&context, Request("log.a", "hello"), &published).ok());
  grpc::ClientContext again;
  again.AddMetadata("authorization", "Bearer " + Token("backend"));
  ASSERT_TRUE(publisher_->Publish(&again, Request("log.b", "world"), &published).ok());
  ASSERT_TRUE(ada->WaitForEvents(2, kWait));
  ada->Close(1000, "bye");
  ASSERT_TRUE(gateway_->WaitForLogLine(R"("msg":"disconnect")", kWait));

  std::optional<boost::json::object> connect = LineOf("connect", ada_id);
  ASSERT_TRUE(connect.has_value());
  EXPECT_EQ(connect->at("level"), "info");
  EXPECT_EQ(connect->at("transport"), "websocket");
  EXPECT_EQ(connect->at("user"), "ada");
  EXPECT_EQ(connect->at("topics"), "log.a,log.b");
  EXPECT_TRUE(std::string(connect->at("address").as_string()).starts_with("127.0.0.1:"));
  std::optional<boost::json::object> disconnect = LineOf("disconnect", ada_id);
  ASSERT_TRUE(disconnect.has_value());
  EXPECT_EQ(disconnect->at("code").to_number<int>(), 1000);
  EXPECT_EQ(disconnect->at("reason"), "closed by the client");
  EXPECT_EQ(disconnect->at("events").to_number<int>(), 2);
  EXPECT_GT(disconnect->at("bytes").to_number<int>(), 10);
  EXPECT_GE(disconnect->at("duration_ms").to_number<int>(), 0);

  // An SSE client that goes away without a word; a refused handshake.
  std::shared_ptr<SseClient> bob = ConnectSse("/sse?topic=log.a&token=" + Token("bob"));
  ASSERT_TRUE(bob);
  std::string bob_id = Str(Json(bob->Events()[0].data).at("client_id"));
  bob->Close();
  WsHandshakeResult refused = WsClient::TryConnect(loop_, http_port(), "/ws?token=not-a-token");
  EXPECT_EQ(refused.http_status, 401);
  ASSERT_TRUE(gateway_->WaitForLogLine(R"("msg":"refused")", kWait));
  ASSERT_TRUE(gateway_->WaitForLogLine(R"("msg":"disconnect","transport":"sse")", kWait));
  std::optional<boost::json::object> gone = LineOf("disconnect", bob_id);
  ASSERT_TRUE(gone.has_value());
  EXPECT_EQ(gone->at("transport"), "sse");
  EXPECT_EQ(gone->at("code").to_number<int>(), 0);
  EXPECT_EQ(gone->at("reason"), "the client went away");
  std::vector<boost::json::object> refusals = Lines("refused");
  ASSERT_EQ(refusals.size(), 1u);
  EXPECT_EQ(refusals[0].at("status").to_number<int>(), 401);
  EXPECT_EQ(refusals[0].at("transport"), "websocket");
  EXPECT_EQ(refusals[0].at("address"), "127.0.0.1");

  for (const std::string& line : gateway_->LogLines()) {
    EXPECT_EQ(line.find(ada_token), std::string::npos) << "a token in the log: " << line;
    EXPECT_EQ(line.find("hello"), std::string::npos) << "a payload in the log: " << line;
  }
}

TEST_F(LogTest, WarningLevelLeavesConnectionsOutAndTextIsTheDefault) {
  StartGateway({"--log_level=warning"});
  std::shared_ptr<WsClient> quiet = ConnectWs("/ws?topic=log.a");
  ASSERT_TRUE(quiet);
  quiet->Close();
  ASSERT_TRUE(quiet->WaitForClose(kWait).has_value());
  // A warning is still written, in text: an origin a client sends in bytes that are not UTF-8
  // cannot break the line.
  ASSERT_TRUE(gateway_->SendSignal(SIGTERM));
  ASSERT_TRUE(gateway_->WaitForExit(kWait).has_value());
  ASSERT_TRUE(gateway_->WaitForLogEnd(kWait));
  bool listening = false;
  for (const std::string& line : gateway_->LogLines()) {
    if (line.find("herald listening") != std::string::npos) {  // Always written, as text.
      listening = true;
      EXPECT_NE(line.find(" INFO herald listening http="), std::string::npos) << line;
      continue;
    }
    EXPECT_EQ(line.find(" INFO "), std::string::npos) << line;
    EXPECT_EQ(line.find("connect"), std::string::npos) << line;
  }
  EXPECT_TRUE(listening);
}

TEST_F(LogTest, AReasonInBytesThatAreNotUtf8StaysOneJsonLine) {
  StartGateway({"--log_format=json", "--jwt_hs256_secret_file=" + dir_.Write("secret", kSecret),
                "--allowed_origins=https://app.example"});
  WsOptions options;
  options.headers = {{"Origin", std::string("https://ev\xff\xfeil.example")}};
  WsHandshakeResult refused =
      WsClient::TryConnect(loop_, http_port(), "/ws?token=" + Token("ada"), options);
  EXPECT_EQ(refused.http_status, 403);
  ASSERT_TRUE(gateway_->WaitForLogLine(R"("msg":"refused")", kWait));
  std::vector<boost::json::object> refusals = Lines("refused");  // Each line parses.
  ASSERT_EQ(refusals.size(), 1u);
  EXPECT_EQ(refusals[0].at("status").to_number<int>(), 403);
  EXPECT_NE(std::string(refusals[0].at("reason").as_string()).find("is not allowed"),
            std::string::npos);
  // protobuf's complaint about the bytes is a line of Herald's too, in JSON like the rest.
  EXPECT_TRUE(gateway_->SawLogLine(R"("level":"error","msg":"protobuf: )"));
}

TEST(LogStart, AnUnknownFormatOrLevelStopsTheStart) {
  CommandResult format = RunHerald("--log_format=xml");
  EXPECT_NE(format.exit_code, 0);
  EXPECT_NE(format.output.find("--log_format must be text or json, not 'xml'"), std::string::npos)
      << format.output;
  CommandResult level = RunHerald("--log_level=loud");
  EXPECT_NE(level.exit_code, 0);
  EXPECT_NE(level.output.find("--log_level must be debug, info, warning or error"),
            std::string::npos)
      << level.output;
}

}  // namespace
}  // namespace herald::testing
