// The receiving side of the bench: WebSocket (Beast) and SSE (raw Asio) clients.
#include "clients.h"

#include <array>
#include <charconv>
#include <chrono>
#include <optional>
#include <string_view>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "herald/v1/websocket.pb.h"
#include "payload.h"

namespace herald::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

// Minimal protobuf wire reading: enough to walk ServerMessage and Event without allocating.
class WireReader {
 public:
  WireReader(const uint8_t* begin, const uint8_t* end) : pos_(begin), end_(end) {}

  bool done() const { return pos_ >= end_; }

  bool Varint(uint64_t* value) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64 && pos_ < end_; shift += 7) {
      uint8_t byte = *pos_++;
      result |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        *value = result;
        return true;
      }
    }
    return false;
  }

  // Reads a tag; for length-delimited fields also the bytes. Other wire types are skipped.
  bool Field(uint32_t* number, uint32_t* wire_type, std::string_view* bytes, uint64_t* varint) {
    uint64_t tag = 0;
    if (!Varint(&tag)) return false;
    *number = static_cast<uint32_t>(tag >> 3);
    *wire_type = static_cast<uint32_t>(tag & 7);
    switch (*wire_type) {
      case 0:
        return Varint(varint);
      case 1:
        return Skip(8);
      case 2: {
        uint64_t size = 0;
        if (!Varint(&size) || size > static_cast<uint64_t>(end_ - pos_)) return false;
        *bytes = std::string_view(reinterpret_cast<const char*>(pos_), size);
        pos_ += size;
        return true;
      }
      case 5:
        return Skip(4);
      default:
        return false;
    }
  }

 private:
  bool Skip(size_t size) {
    if (size > static_cast<size_t>(end_ - pos_)) return false;
    pos_ += size;
    return true;
  }

  const uint8_t* pos_;
  const uint8_t* end_;
};

WireReader ReaderOf(std::string_view bytes) {
  auto* begin = reinterpret_cast<const uint8_t*>(bytes.data());
  return WireReader(begin, begin + bytes.size());
}

// Where `key` occurs in `json`: searched from `*cursor` first (the gateway writes keys in a fixed
// order, so scanning resumes where the previous value ended), then from the start.
size_t FindKey(std::string_view json, std::string_view key, size_t* cursor) {
  size_t at = json.find(key, *cursor);
  if (at == std::string_view::npos && *cursor > 0) at = json.find(key);
  return at;
}

// The unsigned JSON number after `"key":` in `json`, if present.
std::optional<uint64_t> JsonNumber(std::string_view json, std::string_view key, size_t* cursor) {
  size_t at = FindKey(json, key, cursor);
  if (at == std::string_view::npos) return std::nullopt;
  size_t pos = at + key.size();
  while (pos < json.size() && json[pos] == ' ') ++pos;
  uint64_t value = 0;
  auto [end, error] = std::from_chars(json.data() + pos, json.data() + json.size(), value);
  if (error != std::errc()) return std::nullopt;
  *cursor = static_cast<size_t>(end - json.data());
  return value;
}

// The JSON string value after `"key":"` (no unescaping: bench values have no escapes).
std::optional<std::string_view> JsonString(std::string_view json, std::string_view key,
                                           size_t* cursor) {
  size_t at = FindKey(json, key, cursor);
  if (at == std::string_view::npos) return std::nullopt;
  size_t begin = at + key.size();
  size_t end = json.find('"', begin);
  if (end == std::string_view::npos) return std::nullopt;
  *cursor = end + 1;
  return json.substr(begin, end - begin);
}

}  // namespace

std::string TopicName(size_t index) { return "bench." + std::to_string(index); }

// One io_context thread and the clients it runs.
struct Worker {
  asio::io_context io{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  std::thread thread;
  Histogram latency_ns;
  Histogram connect_ns;
  std::vector<Client*> clients;
  size_t next_to_start = 0;
  size_t in_progress = 0;
  size_t concurrency = 1;
  std::atomic<size_t>* settled = nullptr;
  std::atomic<size_t>* connected = nullptr;

  void StartMore();
  void Settled(bool ok) {
    --in_progress;
    if (ok) connected->fetch_add(1);
    settled->fetch_add(1);
    StartMore();
  }
};

// What WebSocket and SSE clients share: bookkeeping of offsets, latency and state.
class Client {
 public:
  Client(Worker& worker, const FleetOptions& options, const std::atomic<int64_t>& measure_start,
         size_t topic, bool sse)
      : worker_(worker),
        options_(options),
        measure_start_ns_(measure_start),
        topic_name_(TopicName(topic)) {
    report_.topic = topic;
    report_.sse = sse;
  }
  virtual ~Client() = default;

  virtual void Start() = 0;

  const ClientReport& report() const { return report_; }
  size_t topic() const { return report_.topic; }
  bool live() const { return state_.load(std::memory_order_relaxed) == State::kLive; }
  uint64_t last_offset() const { return last_offset_.load(std::memory_order_relaxed); }

 protected:
  enum class State { kConnecting, kLive, kEnded };

  void BeginConnect() { connect_start_ = std::chrono::steady_clock::now(); }

  // The first message arrived; `offset` is the topic's last offset then, if known.
  void OnConnected(std::optional<uint64_t> offset) {
    if (state_.load() != State::kConnecting) return;
    if (offset) {
      have_baseline_ = true;
      last_offset_.store(*offset, std::memory_order_relaxed);
    }
    report_.connected = true;
    worker_.connect_ns.Record(
        static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  std::chrono::steady_clock::now() - connect_start_)
                                  .count()));
    state_.store(State::kLive);
    worker_.Settled(true);
  }

  void OnFailed(std::string error) {
    State state = state_.load();
    if (state == State::kEnded) return;
    if (report_.error.empty()) report_.error = std::move(error);
    state_.store(State::kEnded);
    if (state == State::kConnecting) {
      worker_.Settled(false);
    } else {
      report_.ended_early = true;
    }
  }

  // Starts a frame received at `receive_ns`.
  void BeginFrame(int64_t receive_ns) {
    ++report_.frames;
    frame_receive_ns_ = receive_ns;
    frame_has_measured_ = false;
  }
  void EndFrame() {
    if (frame_has_measured_) {
      ++report_.measured_frames;
      report_.last_receive_ns = frame_receive_ns_;
    }
  }

  void OnEvent(std::string_view topic, uint64_t offset, std::string_view data) {
    if (topic != topic_name_) {
      ++report_.unexpected;
      return;
    }
    std::optional<int64_t> stamp = ParseStamp(data);
    if (!stamp) {
      ++report_.unexpected;
      return;
    }
    uint64_t last = last_offset_.load(std::memory_order_relaxed);
    if (have_baseline_ && offset <= last) {
      ++report_.duplicates;
      return;
    }
    if (have_baseline_ && offset > last + 1) report_.gaps += offset - last - 1;
    have_baseline_ = true;
    last_offset_.store(offset, std::memory_order_relaxed);
    if (*stamp >= measure_start_ns_.load(std::memory_order_relaxed)) {
      ++report_.measured_events;
      frame_has_measured_ = true;
      int64_t latency = frame_receive_ns_ - *stamp;
      worker_.latency_ns.Record(latency > 0 ? static_cast<uint64_t>(latency) : 0);
    } else {
      ++report_.warmup_events;
    }
  }

  Worker& worker_;
  const FleetOptions& options_;
  const std::atomic<int64_t>& measure_start_ns_;
  const std::string topic_name_;
  ClientReport report_;

 private:
  std::atomic<State> state_{State::kConnecting};
  std::atomic<uint64_t> last_offset_{0};
  bool have_baseline_ = false;
  std::chrono::steady_clock::time_point connect_start_;
  int64_t frame_receive_ns_ = 0;
  bool frame_has_measured_ = false;
};

void Worker::StartMore() {
  while (in_progress < concurrency && next_to_start < clients.size()) {
    ++in_progress;
    clients[next_to_start++]->Start();
  }
}

namespace {

// A WebSocket client: Beast, binary frames of herald.v1.ServerMessage.
class WsClient : public Client {
 public:
  WsClient(Worker& worker, const FleetOptions& options, const std::atomic<int64_t>& measure_start,
           size_t topic)
      : Client(worker, options, measure_start, topic, /*sse=*/false), ws_(worker.io) {}

  void Start() override {
    BeginConnect();
    tcp::endpoint endpoint(asio::ip::make_address(options_.http_host), options_.http_port);
    ws_.next_layer().expires_after(std::chrono::seconds(30));
    ws_.next_layer().async_connect(endpoint, [this](beast::error_code error) {
      if (error) return OnFailed("connect: " + error.message());
      ws_.next_layer().expires_never();
      ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
      ws_.binary(true);
      ws_.async_handshake(options_.http_host + ":" + std::to_string(options_.http_port),
                          "/ws?topic=" + topic_name_, [this](beast::error_code error) {
                            if (error) return OnFailed("handshake: " + error.message());
                            Read();
                          });
    });
  }

 private:
  void Read() {
    ws_.async_read(buffer_, [this](beast::error_code error, size_t) {
      if (error) {
        if (error == websocket::error::closed) {
          if (report_.disconnect_code == 0) report_.disconnect_code = ws_.reason().code;
          return OnFailed("closed " + std::to_string(ws_.reason().code) + " " +
                          std::string(ws_.reason().reason.c_str()));
        }
        return OnFailed("read: " + error.message());
      }
      bool keep_reading = OnMessage(UnixNowNs());
      buffer_.consume(buffer_.size());
      if (keep_reading) Read();
    });
  }

  // Handles one ServerMessage; returns false when the client gave up.
  bool OnMessage(int64_t receive_ns) {
    auto data = buffer_.cdata();
    std::string_view message(static_cast<const char*>(data.data()), data.size());
    BeginFrame(receive_ns);
    if (!live()) {
      // The first message carries `connected` (possibly with events merged in).
      WireReader reader = ReaderOf(message);
      std::optional<uint64_t> offset;
      bool found = false;
      uint32_t number, wire_type;
      std::string_view bytes;
      uint64_t varint;
      while (!reader.done() && reader.Field(&number, &wire_type, &bytes, &varint)) {
        if (number != 3 || wire_type != 2) continue;
        herald::v1::Connected connected;
        if (!connected.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) continue;
        found = true;
        for (const auto& subscription : connected.subscriptions()) {
          if (subscription.topic() == topic_name_) offset = subscription.offset();
        }
      }
      if (!found) {
        OnFailed("first message has no connected");
        return false;
      }
      OnConnected(offset);
    }
    WireReader reader = ReaderOf(message);
    uint32_t number, wire_type;
    std::string_view bytes;
    uint64_t varint;
    while (!reader.done()) {
      if (!reader.Field(&number, &wire_type, &bytes, &varint)) {
        ++report_.unexpected;
        break;
      }
      if (wire_type != 2) continue;
      if (number == 1) {
        OnEventBytes(bytes);
      } else if (number == 4) {
        // disconnect {code = 1, reason = 2}
        WireReader fields = ReaderOf(bytes);
        uint32_t field, type;
        std::string_view text;
        uint64_t value = 0;
        while (!fields.done() && fields.Field(&field, &type, &text, &value)) {
          if (field == 1 && type == 0) report_.disconnect_code = static_cast<uint32_t>(value);
        }
      }
    }
    EndFrame();
    return true;
  }

  void OnEventBytes(std::string_view event) {
    WireReader reader = ReaderOf(event);
    std::string_view topic, data, bytes;
    uint64_t offset = 0, varint = 0;
    uint32_t number, wire_type;
    while (!reader.done()) {
      if (!reader.Field(&number, &wire_type, &bytes, &varint)) {
        ++report_.unexpected;
        return;
      }
      if (number == 1 && wire_type == 2) topic = bytes;
      if (number == 2 && wire_type == 0) offset = varint;
      if (number == 5 && wire_type == 2) data = bytes;
    }
    OnEvent(topic, offset, data);
  }

  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
};

// An SSE client: raw Asio, HTTP/1.1 chunked body of text/event-stream.
class SseClient : public Client {
 public:
  SseClient(Worker& worker, const FleetOptions& options, const std::atomic<int64_t>& measure_start,
            size_t topic)
      : Client(worker, options, measure_start, topic, /*sse=*/true), socket_(worker.io) {}

  void Start() override {
    BeginConnect();
    tcp::endpoint endpoint(asio::ip::make_address(options_.http_host), options_.http_port);
    socket_.async_connect(endpoint, [this](boost::system::error_code error) {
      if (error) return OnFailed("connect: " + error.message());
      request_ = "GET /sse?topic=" + topic_name_ + " HTTP/1.1\r\nHost: " + options_.http_host +
                 ":" + std::to_string(options_.http_port) +
                 "\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n";
      asio::async_write(socket_, asio::buffer(request_),
                        [this](boost::system::error_code error, size_t) {
                          if (error) return OnFailed("write: " + error.message());
                          Read();
                        });
    });
  }

 private:
  enum class Parse { kHead, kChunkSize, kChunkData, kChunkEnd, kDone };

  void Read() {
    socket_.async_read_some(
        asio::buffer(read_buffer_), [this](boost::system::error_code error, size_t size) {
          if (error) {
            return OnFailed(parse_ == Parse::kDone ? "stream ended" : "read: " + error.message());
          }
          if (!OnBytes(std::string_view(read_buffer_.data(), size), UnixNowNs())) return;
          Read();
        });
  }

  // Decodes HTTP head and chunk framing; returns false when the client gave up.
  bool OnBytes(std::string_view bytes, int64_t receive_ns) {
    while (!bytes.empty()) {
      switch (parse_) {
        case Parse::kHead: {
          head_.append(bytes);
          bytes = {};
          size_t end = head_.find("\r\n\r\n");
          if (end == std::string::npos) break;
          if (head_.compare(0, 12, "HTTP/1.1 200") != 0) {
            OnFailed("HTTP: " + head_.substr(0, head_.find("\r\n")));
            return false;
          }
          std::string rest = head_.substr(end + 4);
          head_.clear();
          parse_ = Parse::kChunkSize;
          if (!OnBytes(rest, receive_ns)) return false;
          break;
        }
        case Parse::kChunkSize: {
          size_t newline = bytes.find('\n');
          line_.append(bytes.substr(0, newline));
          if (newline == std::string_view::npos) {
            bytes = {};
            break;
          }
          bytes.remove_prefix(newline + 1);
          size_t size = 0;
          auto [end, error] = std::from_chars(line_.data(), line_.data() + line_.size(), size, 16);
          line_.clear();
          if (error != std::errc()) {
            OnFailed("bad chunk size");
            return false;
          }
          if (size == 0) {
            parse_ = Parse::kDone;
            break;
          }
          chunk_left_ = size;
          parse_ = Parse::kChunkData;
          BeginFrame(receive_ns);
          break;
        }
        case Parse::kChunkData: {
          size_t take = std::min(chunk_left_, bytes.size());
          OnSseText(bytes.substr(0, take));
          bytes.remove_prefix(take);
          chunk_left_ -= take;
          if (chunk_left_ == 0) {
            EndFrame();
            parse_ = Parse::kChunkEnd;
            chunk_end_left_ = 2;
          }
          break;
        }
        case Parse::kChunkEnd: {
          size_t take = std::min(chunk_end_left_, bytes.size());
          bytes.remove_prefix(take);
          chunk_end_left_ -= take;
          if (chunk_end_left_ == 0) parse_ = Parse::kChunkSize;
          break;
        }
        case Parse::kDone:
          bytes = {};
          break;
      }
    }
    return true;
  }

  // Appends body text and handles every complete SSE event (blank-line terminated).
  void OnSseText(std::string_view text) {
    sse_.append(text);
    size_t start = 0;
    while (true) {
      size_t end = sse_.find("\n\n", start);
      if (end == std::string::npos) break;
      OnSseEvent(std::string_view(sse_).substr(start, end - start));
      start = end + 2;
    }
    sse_.erase(0, start);
  }

  void OnSseEvent(std::string_view block) {
    std::string_view type, data;
    while (!block.empty()) {
      size_t newline = block.find('\n');
      std::string_view line = block.substr(0, newline);
      block = newline == std::string_view::npos ? std::string_view() : block.substr(newline + 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.starts_with("event:")) {
        type = line.substr(6);
        if (!type.empty() && type.front() == ' ') type.remove_prefix(1);
      } else if (line.starts_with("data:")) {
        data = line.substr(5);
        if (!data.empty() && data.front() == ' ') data.remove_prefix(1);
      }
    }
    if (data.empty()) return;  // retry:, comments
    if (type == "herald.connected") {
      size_t cursor = 0;
      OnConnected(JsonNumber(data, "\"offset\":", &cursor));
      return;
    }
    if (type == "herald.disconnect") {
      size_t cursor = 0;
      if (auto code = JsonNumber(data, "\"code\":", &cursor))
        report_.disconnect_code = static_cast<uint32_t>(*code);
      return;
    }
    if (!live()) {
      OnFailed("event before herald.connected");
      return;
    }
    size_t cursor = 0;
    std::optional<std::string_view> topic = JsonString(data, "\"topic\":\"", &cursor);
    std::optional<uint64_t> offset = JsonNumber(data, "\"offset\":", &cursor);
    std::optional<std::string_view> payload = JsonString(data, "\"data\":\"", &cursor);
    if (!topic || !offset || !payload || !JsonNumber(data, "\"time_unix_ms\":", &cursor)) {
      ++report_.unexpected;
      return;
    }
    OnEvent(*topic, *offset, *payload);
  }

  tcp::socket socket_;
  std::string request_;
  std::array<char, 16 * 1024> read_buffer_;
  Parse parse_ = Parse::kHead;
  std::string head_;
  std::string line_;
  size_t chunk_left_ = 0;
  size_t chunk_end_left_ = 0;
  std::string sse_;
};

}  // namespace

ClientFleet::ClientFleet(FleetOptions options) : options_(std::move(options)) {}

ClientFleet::~ClientFleet() {
  if (!stopped_) Stop();
}

void ClientFleet::Start() {
  size_t threads = std::max<size_t>(1, options_.threads);
  for (size_t i = 0; i < threads; ++i) {
    auto worker = std::make_unique<Worker>();
    worker->concurrency = std::max<size_t>(1, options_.connect_concurrency);
    worker->settled = &settled_;
    worker->connected = &connected_;
    workers_.push_back(std::move(worker));
  }
  size_t total_clients = total();
  clients_.reserve(total_clients);
  for (size_t i = 0; i < total_clients; ++i) {
    Worker& worker = *workers_[i % threads];
    size_t topic = i % std::max<size_t>(1, options_.topics);
    if (i < options_.ws_clients) {
      clients_.push_back(std::make_unique<WsClient>(worker, options_, measure_start_ns_, topic));
    } else {
      clients_.push_back(std::make_unique<SseClient>(worker, options_, measure_start_ns_, topic));
    }
    worker.clients.push_back(clients_.back().get());
  }
  for (auto& worker : workers_) {
    worker->guard.emplace(worker->io.get_executor());
    asio::post(worker->io, [w = worker.get()] { w->StartMore(); });
    worker->thread = std::thread([w = worker.get()] { w->io.run(); });
  }
}

size_t ClientFleet::settled() const { return settled_.load(); }
size_t ClientFleet::connected() const { return connected_.load(); }

bool ClientFleet::AllReached(const std::vector<uint64_t>& targets, size_t* lagging) const {
  size_t behind = 0;
  for (const auto& client : clients_) {
    if (!client->live()) continue;
    if (client->last_offset() < targets[client->topic()]) ++behind;
  }
  if (lagging) *lagging = behind;
  return behind == 0;
}

FleetReport ClientFleet::Stop() {
  FleetReport report;
  if (stopped_) return report;
  stopped_ = true;
  for (auto& worker : workers_) {
    worker->guard.reset();
    worker->io.stop();
  }
  for (auto& worker : workers_) {
    if (worker->thread.joinable()) worker->thread.join();
  }
  for (const auto& client : clients_) report.clients.push_back(client->report());
  for (const auto& worker : workers_) {
    report.latency_ns.Merge(worker->latency_ns);
    report.connect_ns.Merge(worker->connect_ns);
  }
  clients_.clear();  // closes the sockets while their io_context still exists
  workers_.clear();
  return report;
}

}  // namespace herald::bench
