// WebSocket session.
#include "edge/websocket_session.h"

#include "edge/queue_writer.h"

#include <boost/asio/post.hpp>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "topic/topic.h"
#include "log.h"
#include "loop_check.h"

namespace herald {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// How long a close may wait for a stuck write before the socket is dropped.
constexpr std::chrono::seconds kCloseDeadline{10};

std::chrono::steady_clock::duration ToChrono(absl::Duration duration) {
  return absl::ToChronoMilliseconds(duration);
}

}  // namespace

WebSocketSession::WebSocketSession(EdgeStream stream, EdgeContext& context, size_t shard)
    : stream_(std::move(stream)),
      context_(context),
      shard_(shard),
      reader_(context.config.max_message_bytes),
      queue_(context.config.max_queue_bytes, context.config.max_replay_bytes,
             {.header = &WriteWsBinaryHeader, .trailer = {}}, &context.hub.load(shard),
             TransportKind::kWebSocket),
      liveness_timer_(stream_.get_executor()),
      close_deadline_(stream_.get_executor()) {}

WebSocketSession::~WebSocketSession() {
  if (client_) client_->End();
}

std::string WebSocketUpgradeProblem(const http::request<http::string_body>& request,
                                    int* status) {
  *status = 400;
  if (request.method() != http::verb::get) return "a WebSocket upgrade must be a GET";
  if (request[http::field::sec_websocket_version] != "13") {
    *status = 426;
    return "Sec-WebSocket-Version must be 13";
  }
  std::string_view key = request[http::field::sec_websocket_key];
  if (!IsValidWsKey(key)) return "Sec-WebSocket-Key is missing or invalid";
  return "";
}

void WebSocketSession::Run(http::request<http::string_body> request,
                           std::vector<std::string> topics, Grant grant, ConnectionSlot slot,
                           std::string_view early_bytes) {
  slot_ = std::move(slot);
  stream_.expires_never();
  queue_.PushUnframed(std::make_shared<const std::string>(absl::StrCat(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ",
      WsAcceptKey(request[http::field::sec_websocket_key]), "\r\nServer: herald\r\n\r\n")));
  Flush();
  if (ended_) return;
  while (!early_bytes.empty()) {
    boost::asio::mutable_buffer room = reader_.ReadBuffer();
    size_t size = std::min(room.size(), early_bytes.size());
    std::memcpy(room.data(), early_bytes.data(), size);
    reader_.Commit(size);
    early_bytes.remove_prefix(size);
  }
  client_ = std::make_shared<Client>(context_.clients, shard_, LoopOf(stream_.get_executor()),
                                     std::move(grant), *this);
  ScheduleLiveness();
  std::vector<TopicRequest> requests;
  for (std::string& topic : topics) requests.push_back({std::move(topic), std::nullopt});
  client_->Connect(std::move(requests));
}

bool WebSocketSession::QueueConnected(const herald::v1::Connected& connected) {
  HERALD_ASSERT_ON_LOOP(LoopOf(stream_.get_executor()));
  herald::v1::ServerMessage message;
  *message.mutable_connected() = connected;
  bool queued = QueueMessage(message);
  StartReading();  // Commands are read once the client is live (its `connected` goes first).
  return queued;
}

bool WebSocketSession::QueueReply(const herald::v1::Reply& reply) {
  herald::v1::ServerMessage message;
  *message.add_replies() = reply;
  return QueueMessage(message);
}

bool WebSocketSession::QueueUnsubscribed(const std::string& topic) {
  herald::v1::ServerMessage message;
  message.add_unsubscribed()->set_topic(topic);
  return QueueMessage(message);
}

void WebSocketSession::StartReading() {
  if (reading_started_) return;
  reading_started_ = true;
  // Posted: never from within a call of the client's (what is read may be a command).
  boost::asio::post(stream_.get_executor(), [self = shared_from_this()] { self->ReadNext(); });
}

void WebSocketSession::Disconnect(const herald::Disconnect& disconnect) {
  if (client_) {
    client_->Disconnect(disconnect);
  } else {
    Close(disconnect);
  }
}

void WebSocketSession::ScheduleLiveness() {
  liveness_timer_.expires_after(ToChrono(context_.config.ws_ping_interval));
  liveness_timer_.async_wait([self = shared_from_this()](beast::error_code error) {
    if (error || self->ended_) return;
    // A peer that answered nothing for two intervals, not even the last ping, is gone.
    static const auto kPing =
        std::make_shared<const std::string>(WsControlFrame(WsOpcode::kPing, {}));
    bool silent = !self->heard_from_peer_;
    self->heard_from_peer_ = false;
    if (silent && self->ping_unanswered_) {
      self->EndConnection();
      return;
    }
    self->ping_unanswered_ = true;
    if (!self->close_sent_) {
      self->queue_.PushUnframed(kPing);
      self->Flush();
    }
    if (!self->ended_) self->ScheduleLiveness();
  });
}

void WebSocketSession::ReadNext() {
  if (ended_ || peer_closed_) return;
  // A peer that sends faster than it reads waits until its socket takes our answers again
  // (pongs and replies must not pile up without bound).
  if (queue_.writing()) {
    read_paused_ = true;
    return;
  }
  // Frames already read (sent along with the request) come first.
  if (!protocol_failed_ && !HandleFrames()) return;
  // A plain socket is waited on with no buffer (a TLS read needs its buffer at once).
  if (!stream_.is_tls()) reader_.ReleaseWhenEmpty();
  stream_.AsyncReadWhenReady([this] { return reader_.ReadBuffer(); },
                             [self = shared_from_this()](beast::error_code error, size_t bytes) {
                               self->OnRead(error, bytes);
                             });
}

void WebSocketSession::OnRead(beast::error_code error, size_t bytes) {
  // Errors end the session: the peer closed or reset the connection.
  if (error) {
    EndConnection();
    return;
  }
  heard_from_peer_ = true;
  ping_unanswered_ = false;
  // After a protocol error what the peer sends is read and dropped until it closes.
  if (!protocol_failed_) reader_.Commit(bytes);
  ReadNext();
}

bool WebSocketSession::HandleFrames() {
  for (;;) {
    if (ended_) return false;
    WsFrameReader::Item item = reader_.Next();
    switch (item.kind) {
      case WsFrameReader::Item::kNeedMore:
        return true;
      case WsFrameReader::Item::kMessage:
        HandleMessage(item.payload, item.text);
        break;
      case WsFrameReader::Item::kPing:
        if (!close_sent_) {
          queue_.PushUnframed(
              std::make_shared<const std::string>(WsControlFrame(WsOpcode::kPong, item.payload)));
          Flush();
        }
        break;
      case WsFrameReader::Item::kPong:
        break;
      case WsFrameReader::Item::kClose:
        peer_closed_ = true;
        OnPeerClose(item.code);
        return false;
      case WsFrameReader::Item::kError:
        // Nothing more can be parsed: the close goes out, then the rest the peer sends is
        // read and dropped until it closes (closing with unread bytes would reset the
        // connection and lose the close frame).
        protocol_failed_ = true;
        Disconnect({item.code, std::string(item.reason)});
        if (!queue_.writing()) AfterWrites();
        return true;
    }
  }
}

void WebSocketSession::HandleMessage(std::string_view payload, bool text) {
  if (closing_ || close_sent_) return;
  if (text) {
    Disconnect({1003, "text frames are not accepted; send binary ClientMessage frames"});
    return;
  }
  herald::v1::ClientMessage message;
  if (!message.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    Disconnect({4400, "frame is not a ClientMessage"});
    return;
  }
  client_->HandleCommand(message);
}

void WebSocketSession::OnPeerClose(uint16_t code) {
  if (client_) client_->ClosedByPeer(code);
  if (!close_sent_) {
    // The peer ends the connection: what was pending for it is dropped, and its close is
    // answered with the same code.
    queue_.DropPending();
    close_sent_ = true;
    queue_.PushUnframed(std::make_shared<const std::string>(WsCloseFrame(code, {})));
    close_deadline_.expires_after(kCloseDeadline);
    close_deadline_.async_wait([self = shared_from_this()](beast::error_code error) {
      if (!error) self->EndConnection();
    });
  }
  Flush();
  if (!queue_.writing()) AfterWrites();
}

bool WebSocketSession::QueueMessage(const herald::v1::ServerMessage& message) {
  if (closing_ || close_sent_) return true;  // Dropped: the connection is closing anyway.
  auto bytes = std::make_shared<std::string>(message.SerializeAsString());
  return RoomForLive(queue_, stream_, bytes->size(), context_.hub.load(shard_)) &&
         queue_.Push(std::move(bytes));
}

Transport::Queued WebSocketSession::QueueEvent(const std::shared_ptr<const EncodedEvent>& event,
                                               Subscriber::Delivery delivery) {
  HERALD_ASSERT_ON_LOOP(LoopOf(stream_.get_executor()));
  if (closing_ || close_sent_ || ended_) return Queued::kDropped;
  std::shared_ptr<const std::string> bytes = SharedBytes(
      event, event->ws_frame(delivery.new_epoch ? EpochField::kIncluded : EpochField::kLeftOut));
  bool queued = delivery.replayed
                    ? queue_.PushReplayed(std::move(bytes))
                    : RoomForLive(queue_, stream_, bytes->size(), context_.hub.load(shard_)) &&
                          queue_.Push(std::move(bytes));
  if (!queued) return Queued::kNoRoom;
  if (!delivery.replayed) queue_.SampleDeliveryLag(event->time_unix_ms());
  return Queued::kYes;
}

void WebSocketSession::Flush() {
  HERALD_ASSERT_ON_LOOP(LoopOf(stream_.get_executor()));
  if (ended_ || queue_.writing() || !queue_.has_pending()) return;
  WriteOut(shared_from_this(), stream_, queue_);
}

void WebSocketSession::OnWrite(beast::error_code error) {
  ContinueWrites(shared_from_this(), queue_, error);
  if (read_paused_ && !queue_.writing()) {
    read_paused_ = false;
    ReadNext();
  }
}

bool WebSocketSession::Close(const herald::Disconnect& disconnect) {
  HERALD_ASSERT_ON_LOOP(LoopOf(stream_.get_executor()));
  if (closing_ || close_sent_ || ended_) return false;
  StartReading();  // The peer's answer to the close must be read, even before `connected`.
  closing_ = disconnect;
  // A slow consumer's backlog is dropped; otherwise what was queued still goes out first.
  if (disconnect.code == kDisconnectSlowConsumer.code) queue_.DropPending();
  herald::v1::ServerMessage message;
  message.mutable_disconnect()->set_code(disconnect.code);
  message.mutable_disconnect()->set_reason(disconnect.reason);
  message.mutable_disconnect()->set_reconnect_after_ms(
      static_cast<uint32_t>(absl::ToInt64Milliseconds(disconnect.reconnect_after)));
  queue_.PushLastWords(std::make_shared<std::string>(message.SerializeAsString()));
  queue_.PushUnframed(
      std::make_shared<const std::string>(WsCloseFrame(disconnect.code, disconnect.reason)));
  close_sent_ = true;
  // The peer has this long to read what is left and answer the close.
  close_deadline_.expires_after(kCloseDeadline);
  close_deadline_.async_wait([self = shared_from_this()](beast::error_code error) {
    if (!error) self->EndConnection();
  });
  Flush();
  return true;
}

void WebSocketSession::AfterWrites() {
  if (!close_sent_ || queue_.has_pending()) return;
  if (peer_closed_) {
    // The close handshake is over: the server closes the TCP connection first, as RFC 6455
    // asks (over TLS after close_notify).
    stream_.SendCloseNotify();
    EndConnection();
    return;
  }
  // Our close left: no more bytes follow. The peer answers with its close, then the connection
  // ends (or at the close deadline). A TLS stream stays open for the peer's close to arrive.
  if (stream_.is_tls()) return;
  beast::error_code ignored;
  stream_.tcp().socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
}

void WebSocketSession::EndConnection() {
  if (ended_) return;
  ended_ = true;
  if (client_) client_->TransportClosed();
  close_deadline_.cancel();
  liveness_timer_.cancel();
  beast::error_code ignored;
  stream_.tcp().socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  stream_.tcp().socket().close(ignored);
}

}  // namespace herald
