// The receiving side of the bench: WebSocket (Beast) and SSE (raw Asio) clients.
#include "clients.h"

#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <deque>
#include <functional>
#include <future>
#include <optional>
#include <string_view>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
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

// True when the value after `"key":` is `true`.
bool JsonTrue(std::string_view json, std::string_view key, size_t* cursor) {
  size_t at = FindKey(json, key, cursor);
  if (at == std::string_view::npos) return false;
  size_t pos = at + key.size();
  while (pos < json.size() && json[pos] == ' ') ++pos;
  return json.substr(pos).starts_with("true");
}

}  // namespace

std::string TopicName(size_t index) { return "bench." + std::to_string(index); }

// One io_context thread and the clients it runs.
// A client connection's bytes: plain TCP, or TLS over it (FleetOptions::tls_ca_file). Writes are
// queued so that one at most is in flight, as a TLS stream requires.
class ClientStream {
 public:
  ClientStream(asio::io_context& io, asio::ssl::context* tls) : socket_(io) {
    if (tls != nullptr) tls_.emplace(socket_, *tls);
  }

  tcp::socket& socket() { return socket_; }

  // After the TCP connect: the TLS handshake when there is TLS, else `done` at once.
  void Handshake(std::function<void(boost::system::error_code)> done) {
    if (!tls_) return done(boost::system::error_code());
    tls_->async_handshake(asio::ssl::stream_base::client, std::move(done));
  }

  void ReadSome(asio::mutable_buffer buffer,
                std::function<void(boost::system::error_code, size_t)> done) {
    if (tls_) {
      tls_->async_read_some(buffer, std::move(done));
    } else {
      socket_.async_read_some(buffer, std::move(done));
    }
  }

  // Queues `bytes`; `failed` hears of a write that failed (what was queued then is dropped).
  void Write(std::string bytes, std::function<void(boost::system::error_code)> failed) {
    pending_.push_back({std::move(bytes), std::move(failed)});
    if (pending_.size() == 1) WriteFront();
  }

 private:
  struct PendingWrite {
    std::string bytes;
    std::function<void(boost::system::error_code)> failed;
  };

  void WriteFront() {
    auto written = [this](boost::system::error_code error, size_t) {
      if (error) {
        auto failed = std::move(pending_.front().failed);
        pending_.clear();
        return failed(error);
      }
      pending_.pop_front();
      if (!pending_.empty()) WriteFront();
    };
    asio::const_buffer bytes = asio::buffer(pending_.front().bytes);
    if (tls_) {
      asio::async_write(*tls_, bytes, std::move(written));
    } else {
      asio::async_write(socket_, bytes, std::move(written));
    }
  }

  tcp::socket socket_;
  std::optional<asio::ssl::stream<tcp::socket&>> tls_;
  std::deque<PendingWrite> pending_;
};

struct Worker {
  asio::io_context io{1};
  asio::ssl::context* tls = nullptr;  // Set when the clients speak TLS.
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  std::thread thread;
  Histogram latency_ns;
  Histogram connect_ns;
  std::vector<Client*> clients;
  std::vector<Client*> queue;  // clients StartMore() starts, in order
  size_t next_to_start = 0;
  size_t in_progress = 0;
  size_t concurrency = 1;
  bool drop_with_reset = false;
  std::atomic<size_t>* settled = nullptr;
  std::atomic<size_t>* connected = nullptr;
  // Reconnect storm.
  std::atomic<size_t>* recovered = nullptr;
  std::atomic<size_t>* reconnect_finished = nullptr;
  const std::vector<uint64_t>* recover_targets = nullptr;
  const std::chrono::steady_clock::time_point* reconnect_start = nullptr;

  int64_t SinceReconnect() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                                *reconnect_start)
        .count();
  }

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
  // Closes the connection with no close handshake; the client keeps its position.
  virtual void Drop(bool reset) = 0;

  // After Drop(): the next Start() resumes from the position kept.
  bool PrepareReconnect() {
    if (state_.load() != State::kDropped) return false;
    resume_ = true;
    report_.reconnecting = true;
    report_.resume_offset = last_offset();
    state_.store(State::kConnecting);
    return true;
  }

  const ClientReport& report() const { return report_; }
  size_t topic() const { return report_.topic; }
  bool live() const { return state_.load(std::memory_order_relaxed) == State::kLive; }
  uint64_t last_offset() const { return last_offset_.load(std::memory_order_relaxed); }

 protected:
  enum class State { kConnecting, kLive, kEnded, kDropped };

  void BeginConnect() {
    connect_start_ = std::chrono::steady_clock::now();
    if (resume_) report_.reconnect_start_ns = worker_.SinceReconnect();
  }

  // Marks the connection gone on purpose; returns false when there was nothing to drop.
  bool MarkDropped() {
    ++generation_;
    State state = state_.load();
    if (state == State::kEnded || state == State::kDropped) return false;
    if (state == State::kConnecting) {
      // Never connected (or still connecting): it has no position to resume from.
      if (report_.error.empty()) report_.error = "dropped before connecting";
      state_.store(State::kEnded);
      return true;
    }
    state_.store(State::kDropped);
    return true;
  }

  // The subscribe reply (WS) or herald.connected (SSE) of a resumed connection.
  void OnRecoverReply(bool recovered, std::string_view epoch) {
    if (!resume_ || report_.recover_reply) return;
    report_.recover_reply = true;
    report_.recovered_flag = recovered;
    report_.recover_reply_ns = worker_.SinceReconnect();
    if (!epoch.empty() && !epoch_.empty() && epoch != epoch_) ++report_.epoch_mismatches;
    if (!recovered) {
      Finish();
      return;
    }
    CheckRecovered();
  }

  void OnRecoverError(std::string error) {
    if (!resume_ || report_.recover_reply) return;
    report_.recover_reply = true;
    report_.recover_error = std::move(error);
    Finish();
  }

  // Every event of the epoch seen so far must carry the same epoch.
  void CheckEpoch(std::string_view epoch) {
    if (epoch.empty()) return;
    if (epoch_.empty()) {
      epoch_.assign(epoch);
    } else if (epoch != epoch_) {
      ++report_.epoch_mismatches;
    }
  }

  const std::string& epoch() const { return epoch_; }
  void set_epoch(std::string_view epoch) { epoch_.assign(epoch); }
  uint64_t generation() const { return generation_; }
  bool resume() const { return resume_; }

  // The first message arrived; `offset` is the topic's last offset then, if known.
  void OnConnected(std::optional<uint64_t> offset) {
    if (state_.load() != State::kConnecting) return;
    if (offset) {
      have_baseline_ = true;
      last_offset_.store(*offset, std::memory_order_relaxed);
    }
    report_.connected = true;
    if (resume_) {
      report_.reconnected = true;
      report_.reconnect_connected_ns = worker_.SinceReconnect();
    } else {
      worker_.connect_ns.Record(
          static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                    std::chrono::steady_clock::now() - connect_start_)
                                    .count()));
    }
    state_.store(State::kLive);
    worker_.Settled(true);
  }

  void OnFailed(std::string error) {
    State state = state_.load();
    if (state == State::kEnded) return;
    if (state == State::kDropped) return;
    if (report_.error.empty()) report_.error = std::move(error);
    state_.store(State::kEnded);
    if (state == State::kConnecting) {
      worker_.Settled(false);
    } else {
      report_.ended_early = true;
    }
    if (resume_ && !finished_) {
      report_.reconnect_failed = true;
      Finish();
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

  // A bare payload from a plain server: the next event of the client's topic.
  void OnPlainEvent(std::string_view data) { OnEvent(topic_name_, last_offset() + 1, data); }

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
    if (resume_) {
      ++report_.resumed_events;
      CheckRecovered();
    }
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
  void CheckRecovered() {
    if (finished_ || !report_.recover_reply || !report_.recovered_flag) return;
    if (last_offset() < (*worker_.recover_targets)[report_.topic]) return;
    report_.recovered = true;
    report_.recovered_ns = worker_.SinceReconnect();
    worker_.recovered->fetch_add(1);
    Finish();
  }

  // The reconnect of this client reached its end (recovered, refused or failed).
  void Finish() {
    if (finished_) return;
    finished_ = true;
    worker_.reconnect_finished->fetch_add(1);
  }

  std::atomic<State> state_{State::kConnecting};
  std::atomic<uint64_t> last_offset_{0};
  bool have_baseline_ = false;
  bool resume_ = false;
  bool finished_ = false;
  uint64_t generation_ = 0;
  std::string epoch_;
  std::chrono::steady_clock::time_point connect_start_;
  int64_t frame_receive_ns_ = 0;
  bool frame_has_measured_ = false;
};

void Worker::StartMore() {
  while (in_progress < concurrency && next_to_start < queue.size()) {
    ++in_progress;
    queue[next_to_start++]->Start();
  }
}

namespace {

// A WebSocket client: Beast, binary frames of herald.v1.ServerMessage.
class WsClient : public Client {
 public:
  WsClient(Worker& worker, const FleetOptions& options, const std::atomic<int64_t>& measure_start,
           size_t topic)
      : Client(worker, options, measure_start, topic, /*sse=*/false),
        conn_(std::make_unique<Connection>(worker.io, worker.tls)) {}

  void Start() override {
    BeginConnect();
    if (!conn_) conn_ = std::make_unique<Connection>(worker_.io, worker_.tls);
    Connection* conn = conn_.get();
    const uint64_t gen = generation();
    tcp::endpoint endpoint(asio::ip::make_address(options_.http_host), options_.http_port);
    conn->stream.socket().async_connect(endpoint, [this, conn,
                                                   gen](boost::system::error_code error) {
      if (gen != generation()) return;
      if (error) return OnFailed("connect: " + error.message());
      conn->stream.socket().set_option(tcp::no_delay(true), error);
      conn->stream.Handshake([this, conn, gen](boost::system::error_code error) {
        if (gen != generation()) return;
        if (error) return OnFailed("TLS handshake: " + error.message());
        Send(conn, gen,
             "GET " + Target() + " HTTP/1.1\r\nHost: " + options_.http_host + ":" +
                 std::to_string(options_.http_port) +
                 "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
        Read(conn, gen);
      });
    });
  }

  void Drop(bool reset) override {
    if (!MarkDropped() || !conn_) return;
    boost::system::error_code ignored;
    if (reset) conn_->stream.socket().set_option(asio::socket_base::linger(true, 0), ignored);
    conn_->stream.socket().close(ignored);
    // Handlers still pending on the old connection find another generation and do nothing; the
    // connection object stays alive until the client is destroyed.
    graveyard_.push_back(std::move(conn_));
  }

 private:
  // The WebSocket client side, read straight off the socket: one read takes every frame that
  // arrived, so the client's cost per frame stays far below a server's (a server that sends one
  // frame per event is measured, not the client).
  struct Connection {
    Connection(asio::io_context& io, asio::ssl::context* tls) : stream(io, tls) {}
    ClientStream stream;
    bool upgraded = false;
    std::string in;       // Bytes read and not yet handled.
    std::string message;  // A fragmented message being joined.
    std::array<char, 16 * 1024> read_buffer;
  };

  // The handshake target. A resumed client subscribes by command (with its position), not in
  // the URL.
  std::string Target() const {
    if (options_.plain) return options_.plain_ws_path + topic_name_;
    std::string target = resume() ? "/ws" : "/ws?topic=" + topic_name_;
    if (!options_.token.empty()) target += (resume() ? "?token=" : "&token=") + options_.token;
    return target;
  }

  // A client frame (clients mask theirs; the key need not be secret here).
  static std::string MaskedFrame(uint8_t opcode, std::string_view payload) {
    std::string frame(1, static_cast<char>(0x80 | opcode));
    if (payload.size() < 126) {
      frame.push_back(static_cast<char>(0x80 | payload.size()));
    } else {
      frame.push_back(static_cast<char>(0x80 | 126));
      frame.push_back(static_cast<char>(payload.size() >> 8));
      frame.push_back(static_cast<char>(payload.size()));
    }
    const char mask[4] = {0x5a, 0x3c, 0x11, 0x7e};
    frame.append(mask, 4);
    for (size_t i = 0; i < payload.size(); ++i) frame.push_back(payload[i] ^ mask[i % 4]);
    return frame;
  }

  void Send(Connection* conn, uint64_t gen, std::string bytes) {
    conn->stream.Write(std::move(bytes), [this, gen](boost::system::error_code error) {
      if (gen != generation()) return;
      OnFailed("write: " + error.message());
    });
  }

  void SendResubscribe(Connection* conn, uint64_t gen) {
    herald::v1::ClientMessage message;
    message.set_id(1);
    herald::v1::SubscribeCommand* subscribe = message.mutable_subscribe();
    subscribe->set_topic(topic_name_);
    subscribe->set_epoch(epoch());
    subscribe->set_offset(report_.resume_offset);
    subscribe->set_recover(true);
    Send(conn, gen, MaskedFrame(0x2, message.SerializeAsString()));
  }

  void Read(Connection* conn, uint64_t gen) {
    conn->stream.ReadSome(
        asio::buffer(conn->read_buffer),
        [this, conn, gen](boost::system::error_code error, size_t bytes) {
          if (gen != generation()) return;
          if (error) return OnFailed("read: " + error.message());
          conn->in.append(conn->read_buffer.data(), bytes);
          if (OnBytes(conn, gen, UnixNowNs()) && gen == generation()) Read(conn, gen);
        });
  }

  // Handles the handshake answer, then every whole frame in conn->in; returns false when the
  // client gave up.
  bool OnBytes(Connection* conn, uint64_t gen, int64_t receive_ns) {
    size_t used = 0;
    if (!conn->upgraded) {
      size_t end = conn->in.find("\r\n\r\n");
      if (end == std::string::npos) return true;
      if (conn->in.rfind("HTTP/1.1 101", 0) != 0) {
        OnFailed("handshake: " + conn->in.substr(0, conn->in.find("\r\n")));
        return false;
      }
      conn->upgraded = true;
      used = end + 4;
      if (options_.plain) OnConnected(std::nullopt);
      if (resume()) SendResubscribe(conn, gen);
    }
    std::string_view in(conn->in);
    bool keep_reading = true;
    while (keep_reading) {
      std::string_view rest = in.substr(used);
      if (rest.size() < 2) break;
      auto byte = [&](size_t i) { return static_cast<uint8_t>(rest[i]); };
      bool fin = (byte(0) & 0x80) != 0;
      uint8_t opcode = byte(0) & 0x0f;
      uint64_t length = byte(1) & 0x7f;
      size_t header = 2;
      if (length == 126) {
        if (rest.size() < 4) break;
        length = (uint64_t{byte(2)} << 8) | byte(3);
        header = 4;
      } else if (length == 127) {
        if (rest.size() < 10) break;
        length = 0;
        for (size_t i = 0; i < 8; ++i) length = (length << 8) | byte(2 + i);
        header = 10;
      }
      if (rest.size() < header + length) break;
      std::string_view payload = rest.substr(header, length);
      used += header + length;
      if (opcode == 0x8) {
        uint16_t code = payload.size() >= 2
                            ? static_cast<uint16_t>((static_cast<uint8_t>(payload[0]) << 8) |
                                                    static_cast<uint8_t>(payload[1]))
                            : 1005;
        if (report_.disconnect_code == 0) report_.disconnect_code = code;
        OnFailed("closed " + std::to_string(code) + " " +
                 std::string(payload.size() > 2 ? payload.substr(2) : std::string_view()));
        return false;
      }
      if (opcode == 0x9) {
        Send(conn, gen, MaskedFrame(0xa, payload));
        continue;
      }
      if (opcode == 0xa) continue;
      if (!fin || !conn->message.empty() || opcode == 0x0) {
        conn->message.append(payload);
        if (!fin) continue;
        std::string whole = std::move(conn->message);
        conn->message.clear();
        keep_reading = OnMessage(whole, receive_ns);
        continue;
      }
      keep_reading = OnMessage(payload, receive_ns);
    }
    conn->in.erase(0, used);
    return keep_reading;
  }

  // Handles one ServerMessage; returns false when the client gave up.
  bool OnMessage(std::string_view message, int64_t receive_ns) {
    BeginFrame(receive_ns);
    if (options_.plain) {
      OnPlainEvent(message);
      EndFrame();
      return true;
    }
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
          if (subscription.topic() == topic_name_) {
            offset = subscription.offset();
            set_epoch(subscription.epoch());
          }
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
      } else if (number == 2) {
        OnReplyBytes(bytes);
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

  // Reply {id = 1, error = 2, subscribed = 3 {topic = 1, epoch = 2, offset = 3, recovered = 4}}.
  void OnReplyBytes(std::string_view reply) {
    herald::v1::Reply parsed;
    if (!parsed.ParseFromArray(reply.data(), static_cast<int>(reply.size()))) {
      ++report_.unexpected;
      return;
    }
    if (parsed.has_error() && parsed.error().code() != 0) {
      OnRecoverError("subscribe error " + std::to_string(parsed.error().code()) + ": " +
                     parsed.error().message());
      return;
    }
    if (!parsed.has_subscribed() || parsed.subscribed().topic() != topic_name_) {
      ++report_.unexpected;
      return;
    }
    OnRecoverReply(parsed.subscribed().recovered(), parsed.subscribed().epoch());
  }

  void OnEventBytes(std::string_view event) {
    WireReader reader = ReaderOf(event);
    std::string_view topic, data, bytes, epoch;
    uint64_t offset = 0, varint = 0;
    uint32_t number, wire_type;
    while (!reader.done()) {
      if (!reader.Field(&number, &wire_type, &bytes, &varint)) {
        ++report_.unexpected;
        return;
      }
      if (number == 1 && wire_type == 2) topic = bytes;
      if (number == 2 && wire_type == 0) offset = varint;
      if (number == 3 && wire_type == 2) epoch = bytes;
      if (number == 5 && wire_type == 2) data = bytes;
    }
    if (topic == topic_name_) CheckEpoch(epoch);
    OnEvent(topic, offset, data);
  }

  std::unique_ptr<Connection> conn_;
  std::vector<std::unique_ptr<Connection>> graveyard_;
};

// An SSE client: raw Asio, HTTP/1.1 chunked body of text/event-stream.
class SseClient : public Client {
 public:
  SseClient(Worker& worker, const FleetOptions& options, const std::atomic<int64_t>& measure_start,
            size_t topic)
      : Client(worker, options, measure_start, topic, /*sse=*/true),
        conn_(std::make_unique<Connection>(worker.io, worker.tls)) {}

  void Start() override {
    BeginConnect();
    if (!conn_) conn_ = std::make_unique<Connection>(worker_.io, worker_.tls);
    Connection* conn = conn_.get();
    const uint64_t gen = generation();
    parse_ = Parse::kHead;
    head_.clear();
    line_.clear();
    sse_.clear();
    chunk_left_ = 0;
    chunk_end_left_ = 0;
    tcp::endpoint endpoint(asio::ip::make_address(options_.http_host), options_.http_port);
    conn->stream.socket().async_connect(endpoint, [this, conn,
                                                   gen](boost::system::error_code error) {
      if (gen != generation()) return;
      if (error) return OnFailed("connect: " + error.message());
      conn->stream.Handshake([this, conn, gen](boost::system::error_code error) {
        if (gen != generation()) return;
        if (error) return OnFailed("TLS handshake: " + error.message());
        std::string request = "GET " + Target() + " HTTP/1.1\r\nHost: " + options_.http_host +
                              ":" + std::to_string(options_.http_port) +
                              "\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n";
        // A resumed client sends what a browser's EventSource sends: the last id it saw.
        if (resume() && !last_event_id_.empty()) {
          request += "Last-Event-ID: " + last_event_id_ + "\r\n";
        }
        request += "\r\n";
        conn->stream.Write(std::move(request), [this, gen](boost::system::error_code error) {
          if (gen != generation()) return;
          OnFailed("write: " + error.message());
        });
        Read(conn, gen);
      });
    });
  }

  void Drop(bool reset) override {
    if (!MarkDropped() || !conn_) return;
    boost::system::error_code ignored;
    if (reset) conn_->stream.socket().set_option(asio::socket_base::linger(true, 0), ignored);
    conn_->stream.socket().close(ignored);
    graveyard_.push_back(std::move(conn_));
  }

 private:
  // kRaw: a body that is not chunked (it ends with the connection); every read is one frame.
  enum class Parse { kHead, kChunkSize, kChunkData, kChunkEnd, kRaw, kDone };

  struct Connection {
    Connection(asio::io_context& io, asio::ssl::context* tls) : stream(io, tls) {}
    ClientStream stream;
    std::array<char, 16 * 1024> read_buffer;
  };

  std::string Target() const {
    if (options_.plain) return options_.plain_sse_path + topic_name_;
    return "/sse?topic=" + topic_name_ + (options_.token.empty() ? "" : "&token=" + options_.token);
  }

  void Read(Connection* conn, uint64_t gen) {
    conn->stream.ReadSome(
        asio::buffer(conn->read_buffer),
        [this, conn, gen](boost::system::error_code error, size_t size) {
          if (gen != generation()) return;
          if (error) {
            return OnFailed(parse_ == Parse::kDone ? "stream ended" : "read: " + error.message());
          }
          if (!OnBytes(std::string_view(conn->read_buffer.data(), size), UnixNowNs())) return;
          if (gen == generation()) Read(conn, gen);
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
          parse_ = IsChunked(std::string_view(head_).substr(0, end)) ? Parse::kChunkSize
                                                                      : Parse::kRaw;
          head_.clear();
          if (options_.plain) OnConnected(std::nullopt);
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
        case Parse::kRaw:
          BeginFrame(receive_ns);
          OnSseText(bytes);
          EndFrame();
          bytes = {};
          break;
        case Parse::kDone:
          bytes = {};
          break;
      }
    }
    return true;
  }

  // True when the response head says Transfer-Encoding: chunked (in any letter case).
  static bool IsChunked(std::string_view head) {
    std::string lower(head);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return lower.find("\r\ntransfer-encoding: chunked") != std::string::npos;
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
    std::string_view type, data, id;
    bool has_id = false;
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
      } else if (line.starts_with("id:")) {
        id = line.substr(3);
        if (!id.empty() && id.front() == ' ') id.remove_prefix(1);
        has_id = true;
      }
    }
    if (data.empty()) return;  // retry:, comments
    if (options_.plain) {
      OnPlainEvent(data);
      return;
    }
    if (type == "herald.connected") {
      size_t cursor = 0;
      std::optional<std::string_view> epoch = JsonString(data, "\"epoch\":\"", &cursor);
      std::optional<uint64_t> offset = JsonNumber(data, "\"offset\":", &cursor);
      if (!resume() && epoch) set_epoch(*epoch);
      const bool resuming = resume();
      OnConnected(resuming ? std::nullopt : offset);
      if (resuming) {
        cursor = 0;
        OnRecoverReply(JsonTrue(data, "\"recovered\":", &cursor),
                       epoch.value_or(std::string_view()));
      }
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
    // The epoch, when the event names it, comes right after the offset.
    std::optional<std::string_view> epoch;
    if (data.substr(cursor).starts_with(",\"epoch\":\"")) {
      epoch = JsonString(data, "\"epoch\":\"", &cursor);
    }
    std::optional<std::string_view> payload = JsonString(data, "\"data\":\"", &cursor);
    if (!topic || !offset || !payload || !JsonNumber(data, "\"time_unix_ms\":", &cursor)) {
      ++report_.unexpected;
      return;
    }
    if (has_id) last_event_id_.assign(id);
    if (epoch && *topic == topic_name_) CheckEpoch(*epoch);
    OnEvent(*topic, *offset, *payload);
  }

  std::unique_ptr<Connection> conn_;
  std::vector<std::unique_ptr<Connection>> graveyard_;
  std::string last_event_id_;
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
  if (!options_.tls_ca_file.empty()) {
    tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    tls_->load_verify_file(options_.tls_ca_file);
    tls_->set_verify_mode(asio::ssl::verify_peer);
  }
  size_t threads = std::max<size_t>(1, options_.threads);
  for (size_t i = 0; i < threads; ++i) {
    auto worker = std::make_unique<Worker>();
    worker->tls = tls_.get();
    worker->concurrency = std::max<size_t>(1, options_.connect_concurrency);
    worker->drop_with_reset = options_.drop_with_reset;
    worker->settled = &settled_;
    worker->connected = &connected_;
    worker->recovered = &recovered_;
    worker->reconnect_finished = &reconnect_finished_;
    worker->recover_targets = &recover_targets_;
    worker->reconnect_start = &reconnect_start_;
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
    worker->queue = worker->clients;
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

void ClientFleet::Drop() {
  std::vector<std::future<void>> done;
  for (auto& worker : workers_) {
    auto promise = std::make_shared<std::promise<void>>();
    done.push_back(promise->get_future());
    asio::post(worker->io, [w = worker.get(), promise] {
      for (Client* client : w->clients) client->Drop(w->drop_with_reset);
      promise->set_value();
    });
  }
  for (auto& future : done) future.wait();
}

std::chrono::steady_clock::time_point ClientFleet::Reconnect(
    const std::vector<uint64_t>& targets) {
  // The workers are idle (every client dropped): plain writes are published by the posts below.
  recover_targets_ = targets;
  settled_.store(0);
  connected_.store(0);
  recovered_.store(0);
  reconnect_finished_.store(0);
  reconnecting_ = 0;
  std::vector<std::future<size_t>> counts;
  for (auto& worker : workers_) {
    auto promise = std::make_shared<std::promise<size_t>>();
    counts.push_back(promise->get_future());
    asio::post(worker->io, [w = worker.get(), promise] {
      w->queue.clear();
      for (Client* client : w->clients) {
        if (client->PrepareReconnect()) w->queue.push_back(client);
      }
      promise->set_value(w->queue.size());
    });
  }
  for (auto& count : counts) reconnecting_ += count.get();
  reconnect_start_ = std::chrono::steady_clock::now();
  for (auto& worker : workers_) {
    asio::post(worker->io, [w = worker.get()] {
      w->next_to_start = 0;
      w->in_progress = 0;
      w->StartMore();
    });
  }
  return reconnect_start_;
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
