// Chaos: a publisher streams events over many topics while WebSocket and SSE clients drop,
// stall and come back with their positions; in the end every client has, per topic, exactly the
// offsets 1..N. The suite runs a small size; HERALD_CHAOS_EVENTS and HERALD_CHAOS_CLIENTS set
// the full one (scripts/chaos).
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <numeric>
#include <random>
#include <thread>

#include "integration/gateway_test.h"

namespace herald::testing {
namespace {

constexpr int kTopics = 10;

int EnvInt(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value ? std::atoi(value) : fallback;
}

std::string TopicName(int index) { return "chaos." + std::to_string(index); }

// What a client has collected per topic across all its connections.
using OffsetsByTopic = std::map<std::string, std::vector<uint64_t>>;

// A client that reconnects with its position whenever the test drops it.
class ChaosClient {
 public:
  virtual ~ChaosClient() = default;
  // Opens a connection that resumes where the last one stopped; false when that failed or the
  // gateway said it could not recover.
  virtual bool Connect(bool start_reading) = 0;
  // Drops the connection (no close handshake) and files what it received.
  virtual void Drop() = 0;
  virtual void StartReading() = 0;
  // A connection is open and the server has not ended it (a slow consumer is cut off).
  virtual bool connected() const = 0;
  // Whether dropping now keeps a way back (an SSE client needs an id first).
  virtual bool CanResume() const = 0;
  // Events per topic: filed ones plus those of the open connection.
  virtual std::map<std::string, size_t> Counts() const = 0;
  // Waits for a change on the open connection, at most `timeout`.
  virtual void WaitForChange(std::chrono::milliseconds timeout) = 0;

  // Reads (reconnecting whenever the server cuts it off) until every topic has `per_topic`
  // events, then files them.
  bool Finish(size_t per_topic, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    StartReading();
    while (std::chrono::steady_clock::now() < deadline) {
      std::map<std::string, size_t> counts = Counts();
      bool complete = true;
      for (int t = 0; t < kTopics; ++t) complete = complete && counts[TopicName(t)] >= per_topic;
      if (complete) {
        Drop();
        return true;
      }
      if (!connected()) {
        Drop();
        if (!Connect(true)) return false;
      }
      WaitForChange(std::chrono::milliseconds(100));
    }
    Drop();
    return false;
  }

  const OffsetsByTopic& offsets() const { return offsets_; }
  const std::vector<std::string>& problems() const { return problems_; }

 protected:
  OffsetsByTopic offsets_;
  std::vector<std::string> problems_;
};

class WsChaosClient final : public ChaosClient {
 public:
  WsChaosClient(ClientLoop& loop, uint16_t port) : loop_(loop), port_(port) {}

  bool Connect(bool start_reading) override {
    WsOptions options;
    options.start_reading = true;
    WsHandshakeResult result = WsClient::TryConnect(loop_, port_, "/ws", options);
    if (!result.client || !result.client->WaitForConnected(kWait)) {
      problems_.push_back("ws connect failed: " + result.error);
      return false;
    }
    client_ = result.client;
    for (int t = 0; t < kTopics; ++t) {
      herald::v1::ClientMessage message;
      message.set_id(static_cast<uint32_t>(t + 1));
      herald::v1::SubscribeCommand* subscribe = message.mutable_subscribe();
      subscribe->set_topic(TopicName(t));
      auto position = positions_.find(TopicName(t));
      if (position != positions_.end()) {
        subscribe->set_recover(true);
        subscribe->set_epoch(position->second.epoch);
        subscribe->set_offset(position->second.offset);
      }
      client_->Send(message);
    }
    for (int t = 0; t < kTopics; ++t) {
      std::optional<herald::v1::Reply> reply = client_->WaitForReply(t + 1, kWait);
      if (!reply || reply->has_error()) {
        problems_.push_back("ws subscribe failed");
        return false;
      }
      const herald::v1::SubscribeResult& result = reply->subscribed();
      auto [position, first] = positions_.try_emplace(result.topic(),
                                                       TopicPositionForTest{result.epoch(), 0});
      if (!first && !result.recovered()) {
        problems_.push_back("ws not recovered on " + result.topic());
      }
      if (first) position->second.offset = result.offset();
    }
    (void)start_reading;  // WebSocket stalls are covered by the slow consumer tests.
    return true;
  }

  void Drop() override {
    if (!client_) return;
    client_->Abort();
    client_->WaitFor([&] { return client_->Ended(); }, kWait);
    File(client_->Events());
    client_.reset();
  }

  void StartReading() override {}
  bool connected() const override { return client_ && !client_->Ended(); }
  bool CanResume() const override { return true; }

  std::map<std::string, size_t> Counts() const override {
    std::map<std::string, size_t> counts;
    for (const auto& [topic, offsets] : offsets_) counts[topic] = offsets.size();
    if (client_) {
      for (const herald::v1::Event& event : client_->Events()) ++counts[event.topic()];
    }
    return counts;
  }

  void WaitForChange(std::chrono::milliseconds timeout) override {
    if (!client_) return;
    size_t seen = client_->EventCount();
    client_->WaitFor([&] { return client_->EventCount() != seen || client_->Ended(); }, timeout);
  }

 private:
  void File(const std::vector<herald::v1::Event>& events) {
    for (const herald::v1::Event& event : events) {
      offsets_[event.topic()].push_back(event.offset());
      positions_[event.topic()] = {event.epoch(), event.offset()};
    }
  }

  ClientLoop& loop_;
  uint16_t port_;
  std::shared_ptr<WsClient> client_;
  std::map<std::string, TopicPositionForTest> positions_;
};

class SseChaosClient final : public ChaosClient {
 public:
  SseChaosClient(ClientLoop& loop, uint16_t port) : loop_(loop), port_(port) {
    target_ = "/sse?";
    for (int t = 0; t < kTopics; ++t) target_ += (t ? "&topic=" : "topic=") + TopicName(t);
  }

  bool Connect(bool start_reading) override {
    SseOptions options;
    options.start_reading = start_reading;
    options.receive_buffer_bytes = start_reading ? 0 : 4096;
    if (!last_event_id_.empty()) options.extra_headers.push_back("Last-Event-ID: " + last_event_id_);
    client_ = SseClient::ConnectWithOptions(loop_, port_, target_, options);
    if (!client_ || client_->StatusCode() != 200) {
      problems_.push_back("sse connect failed");
      client_.reset();
      return false;
    }
    if (start_reading) return CheckConnected();
    check_connected_ = true;
    return true;
  }

  void Drop() override {
    if (!client_) return;
    client_->Close();
    File();
    client_.reset();
  }

  void StartReading() override {
    if (!client_) return;
    client_->StartReading();
    if (check_connected_) {
      check_connected_ = false;
      CheckConnected();
    }
  }

  bool connected() const override { return client_ && !client_->Ended(); }
  bool CanResume() const override {
    return client_ && (!client_->LastEventId().empty() || !last_event_id_.empty());
  }

  std::map<std::string, size_t> Counts() const override {
    std::map<std::string, size_t> counts;
    for (const auto& [topic, offsets] : offsets_) counts[topic] = offsets.size();
    if (client_) {
      for (const SseEvent& event : client_->Events()) {
        if (event.type.rfind("herald.", 0) != 0) ++counts[Topic(event)];
      }
    }
    return counts;
  }

  void WaitForChange(std::chrono::milliseconds timeout) override {
    if (!client_) return;
    size_t seen = client_->EventCount();
    client_->WaitFor([&] { return client_->EventCount() != seen || client_->Ended(); }, timeout);
  }

 private:
  static std::string Topic(const SseEvent& event) {
    boost::json::value json = boost::json::parse(event.data);
    const boost::json::string& topic = json.at("topic").as_string();
    return std::string(topic.data(), topic.size());
  }

  bool CheckConnected() {
    if (!client_->WaitForEvents(1, kWait)) {
      problems_.push_back("sse: no herald.connected");
      return false;
    }
    SseEvent connected = client_->Events()[0];
    if (connected.type != "herald.connected") {
      problems_.push_back("sse: first event is " + connected.type);
      return false;
    }
    if (!last_event_id_.empty()) {
      boost::json::value json = boost::json::parse(connected.data);
      for (const boost::json::value& subscription : json.at("subscriptions").as_array()) {
        if (!subscription.at("recovered").as_bool()) {
          problems_.push_back("sse not recovered: " + boost::json::serialize(subscription));
        }
      }
    }
    return true;
  }

  void File() {
    for (const SseEvent& event : client_->Events()) {
      if (event.type == "herald.disconnect") continue;
      if (event.type.rfind("herald.", 0) == 0) continue;
      boost::json::value json = boost::json::parse(event.data);
      offsets_[Topic(event)].push_back(json.at("offset").to_number<uint64_t>());
      if (event.has_id) last_event_id_ = event.id;
    }
  }

  ClientLoop& loop_;
  uint16_t port_;
  std::string target_;
  std::shared_ptr<SseClient> client_;
  std::string last_event_id_;
  bool check_connected_ = false;
};

// "" when `offsets` is exactly 1..n; otherwise where it first goes wrong.
std::string Mismatch(const std::vector<uint64_t>& offsets, size_t n) {
  for (size_t i = 0; i < offsets.size(); ++i) {
    if (offsets[i] != i + 1) {
      return "at index " + std::to_string(i) + " got " + std::to_string(offsets[i]) +
             (i ? " after " + std::to_string(offsets[i - 1]) : "") + ", " +
             std::to_string(offsets.size()) + " events in all";
    }
  }
  if (offsets.size() != n) {
    return "only " + std::to_string(offsets.size()) + " of " + std::to_string(n) + " events";
  }
  return "";
}

TEST(ChaosTest, EveryClientEndsWithExactlyOneCopyOfEveryEventInOrder) {
  const int events = EnvInt("HERALD_CHAOS_EVENTS", 10000);
  const int clients_per_transport = EnvInt("HERALD_CHAOS_CLIENTS", 10);
  const int per_topic = events / kTopics;
  const uint32_t seed = static_cast<uint32_t>(EnvInt("HERALD_CHAOS_SEED", 20261126));
  std::mt19937 random(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));

  ClientLoop loop;
  std::string error;
  std::unique_ptr<GatewayProcess> gateway = GatewayProcess::Start(
      {"--history_size=" + std::to_string(per_topic), "--max_queue_bytes=65536"}, &error);
  ASSERT_NE(gateway, nullptr) << error;

  std::vector<std::unique_ptr<ChaosClient>> clients;
  for (int i = 0; i < clients_per_transport; ++i) {
    clients.push_back(std::make_unique<WsChaosClient>(loop, gateway->http_port()));
    clients.push_back(std::make_unique<SseChaosClient>(loop, gateway->http_port()));
  }
  for (auto& client : clients) ASSERT_TRUE(client->Connect(true));

  // The publisher streams round-robin over the topics while the test shakes the clients. Like
  // any publisher it publishes again what the gateway refused: the gateway may push back while
  // clients catch up (RESOURCE_EXHAUSTED, per item), and a refused event was never accepted.
  std::atomic<bool> published{false};
  std::atomic<int> refusals{0};
  std::thread publisher([&] {
    auto channel = grpc::CreateChannel(gateway->grpc_target(), grpc::InsecureChannelCredentials());
    auto stub = herald::v1::Publisher::NewStub(channel);
    std::vector<int> to_publish(events);
    std::iota(to_publish.begin(), to_publish.end(), 0);
    for (int round = 0; !to_publish.empty(); ++round) {
      if (round == 50) {
        ADD_FAILURE() << to_publish.size() << " events still refused after 50 rounds";
        break;
      }
      grpc::ClientContext context;
      auto stream = stub->PublishStream(&context);
      std::vector<int> refused;
      std::thread reader([&] {
        // Answers come in the order of the requests.
        herald::v1::PublishResponse response;
        for (size_t answered = 0; stream->Read(&response); ++answered) {
          if (!response.has_error()) continue;
          EXPECT_EQ(response.error().code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
              << response.error().message();
          refused.push_back(to_publish[answered]);
        }
      });
      for (size_t n = 0; n < to_publish.size(); ++n) {
        int i = to_publish[n];
        herald::v1::PublishRequest request;
        request.set_topic(TopicName(i % kTopics));
        request.set_data(std::string(64 + i % 200, 'c'));
        if (!stream->Write(request)) break;
        // Paced, so clients drop and come back many times while the stream runs.
        if (n % 50 == 49) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      stream->WritesDone();
      reader.join();
      EXPECT_TRUE(stream->Finish().ok());
      refusals += static_cast<int>(refused.size());
      to_publish = std::move(refused);
      if (!to_publish.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    published = true;
  });

  int drops = 0, stalls = 0;
  while (!published) {
    ChaosClient& client = *clients[random() % clients.size()];
    if (!client.connected()) {
      client.Drop();
      client.Connect(/*start_reading=*/random() % 4 != 0);
    } else if (random() % 3 == 0) {
      client.StartReading();
      ++stalls;
    } else if (client.CanResume()) {
      client.Drop();
      ++drops;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(random() % 5));
  }
  publisher.join();

  int incomplete = 0;
  for (size_t c = 0; c < clients.size(); ++c) {
    if (!clients[c]->Finish(per_topic, 20s)) ++incomplete;
    for (const std::string& problem : clients[c]->problems()) {
      ADD_FAILURE() << "client " << c << ": " << problem;
    }
    for (int t = 0; t < kTopics; ++t) {
      auto it = clients[c]->offsets().find(TopicName(t));
      ASSERT_NE(it, clients[c]->offsets().end()) << "client " << c << " topic " << t;
      EXPECT_EQ(Mismatch(it->second, per_topic), "") << "client " << c << " topic " << t;
    }
  }
  EXPECT_EQ(incomplete, 0);
  std::cerr << "chaos: " << events << " events, " << clients.size() << " clients, " << drops
            << " drops, " << stalls << " stalls resumed, " << refusals
            << " publishes refused and published again\n";
}

}  // namespace
}  // namespace herald::testing
