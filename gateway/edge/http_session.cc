// HTTP request routing.
#include "edge/http_session.h"

#include <boost/json.hpp>

#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/http/span_body.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "edge/client_address.h"
#include "edge/http_history.h"
#include "edge/http_presence.h"
#include "edge/proxy_header.h"
#include "edge/http_publish.h"
#include "edge/request_target.h"
#include "edge/sse_session.h"
#include "loop_check.h"
#include "edge/websocket_session.h"
#include "grpc/authorizer_client.h"
#include "log.h"

namespace herald {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr size_t kMaxHeaderBytes = 8 * 1024;
constexpr std::chrono::seconds kLingerTime{2};
constexpr std::string_view kTokenCookie = "herald_token";

// True when the browser request comes from the gateway's own origin (the Origin's authority is
// the Host it asked for).
bool SameOrigin(std::string_view origin, std::string_view host) {
  size_t scheme_end = origin.find("://");
  return scheme_end != std::string_view::npos && !host.empty() &&
         origin.substr(scheme_end + 3) == host;
}

// The request's credential: `Authorization: Bearer`, else `?token=`, else the herald_token
// cookie (browsers cannot set headers on WebSocket or EventSource). The cookie counts only
// without an Origin, from the gateway's own origin or from a trusted one: a browser attaches it
// to requests from any page, and honouring it for every origin would let any site act as the
// user (cross-site WebSocket hijacking, credentialed CORS).
// Whether the request's cookies speak for the user: sent without an Origin, from the gateway's
// own origin, or from one --allowed_origins trusts.
bool CookiesCount(const http::request<http::string_body>& request, const Config& config) {
  std::string_view origin = request[http::field::origin];
  return origin.empty() || SameOrigin(origin, request[http::field::host]) ||
         config.OriginTrusted(absl::string_view(origin.data(), origin.size()));
}

std::string_view RequestCredential(const http::request<http::string_body>& request,
                                   const RequestTarget& target, const Config& config) {
  if (auto authorization = request.find(http::field::authorization);
      authorization != request.end()) {
    absl::string_view token = BearerToken(
        absl::string_view(authorization->value().data(), authorization->value().size()));
    return std::string_view(token.data(), token.size());
  }
  if (!target.token.empty()) return target.token;
  if (!CookiesCount(request, config)) return {};
  return CookieValue(request[http::field::cookie], kTokenCookie);
}

// RFC 9112 section 6.1: a request's Transfer-Encoding must end with `chunked` (else its body
// has no knowable end: 400), and the only coding Herald decodes is `chunked` itself (501).
absl::Status CheckTransferEncoding(const http::request<http::string_body>& request) {
  auto field = request.find(http::field::transfer_encoding);
  if (field == request.end()) return absl::OkStatus();
  std::vector<std::string> codings;
  for (const auto& header : request) {
    if (header.name() != http::field::transfer_encoding) continue;
    absl::string_view value(header.value().data(), header.value().size());
    for (absl::string_view coding : absl::StrSplit(value, ',')) {
      codings.push_back(absl::AsciiStrToLower(absl::StripAsciiWhitespace(coding)));
    }
  }
  if (codings.empty() || codings.back() != "chunked") {
    return absl::InvalidArgumentError("Transfer-Encoding must end with chunked");
  }
  if (codings.size() > 1) {
    return absl::UnimplementedError("the only Transfer-Encoding taken is chunked");
  }
  return absl::OkStatus();
}

}  // namespace

HttpSession::HttpSession(boost::asio::ip::tcp::socket socket, EdgeContext& context, size_t shard,
                         PendingSlot pending)
    : stream_(beast::tcp_stream(std::move(socket))),
      context_(context),
      shard_(shard),
      pending_(std::move(pending)) {}

void HttpSession::Run() {
  boost::system::error_code ignored;
  peer_ = stream_.tcp().socket().remote_endpoint(ignored).address();
  if (context_.config.proxy_protocol && context_.config.trusted_proxies.Contains(peer_)) {
    stream_.tcp().expires_after(absl::ToChronoMilliseconds(context_.config.handshake_timeout));
    ReadProxyHeader();
    return;
  }
  Start();
}

void HttpSession::ReadProxyHeader() {
  ProxyHeader header = ParseProxyHeader(BufferedBytes());
  switch (header.kind) {
    case ProxyHeader::Kind::kIncomplete:
      stream_.tcp().async_read_some(
          buffer_.prepare(512), [self = shared_from_this()](beast::error_code error, size_t bytes) {
            if (error) return;
            self->buffer_.commit(bytes);
            self->ReadProxyHeader();
          });
      return;
    case ProxyHeader::Kind::kHeader: {
      buffer_.consume(header.size);
      if (header.source) {
        peer_ = *header.source;
        // Its place among the connections not admitted yet is the client's from now on, under
        // the client's per-address cap (a slow client behind the balancer holds its own share).
        std::optional<PendingSlot> pending = context_.connections.AcquirePending(
            ClientAddressBucket(peer_), context_.config.trusted_proxies.Contains(peer_));
        if (!pending) {
          beast::error_code ignored;
          stream_.tcp().socket().close(ignored);
          return;
        }
        pending_ = *std::move(pending);
      } else if (!header.local) {
        // A client the balancer does not name: nothing it sends says who it is either.
        believe_forwarding_ = false;
      }
      Start();
      return;
    }
    case ProxyHeader::Kind::kNone:
    case ProxyHeader::Kind::kMalformed:
      RefuseProxyHeader();
      return;
  }
}

bool HttpSession::StartsWithProxyHeader() {
  ProxyHeader::Kind kind = ParseProxyHeader(BufferedBytes()).kind;
  return kind == ProxyHeader::Kind::kHeader || kind == ProxyHeader::Kind::kMalformed;
}

void HttpSession::RefuseProxyHeader() {
  // Nothing is answered: whoever sent it (or left it out) does not speak HTTP to us directly.
  context_.metrics.ProxyHeaderRefused();
  beast::error_code ignored;
  stream_.tcp().socket().close(ignored);
}

std::string_view HttpSession::BufferedBytes() const {
  auto bytes = buffer_.data();
  return {static_cast<const char*>(bytes.data()), bytes.size()};
}

void HttpSession::Start() {
  if (!context_.tls) {
    ReadRequest();
    return;
  }
  // A TLS port still reads the first bytes itself, to answer a plain HTTP request clearly.
  stream_.tcp().expires_after(absl::ToChronoMilliseconds(context_.config.handshake_timeout));
  beast::async_detect_ssl(stream_.tcp(), buffer_,
                          [self = shared_from_this()](beast::error_code error, bool is_tls) {
                            if (error) return;
                            if (!is_tls) {
                              if (self->StartsWithProxyHeader()) {
                                self->RefuseProxyHeader();
                                return;
                              }
                              self->Respond(400, "this port speaks TLS: use https:// or wss://\n",
                                            "text/plain", false);
                              return;
                            }
                            self->StartTls();
                          });
}

void HttpSession::StartTls() {
  // What detecting TLS read is the start of the handshake: the TLS layer reads it first.
  std::string already_read = beast::buffers_to_string(buffer_.data());
  buffer_.consume(buffer_.size());
  stream_.StartTls(context_.tls->Current(), std::move(already_read));
  // The TLS handshake gets its own --handshake_timeout (after detection's).
  stream_.expires_after(absl::ToChronoMilliseconds(context_.config.handshake_timeout));
  stream_.tls().async_handshake([self = shared_from_this()](beast::error_code error) {
    // A failed handshake (bad client certificate, wrong protocol) got its TLS alert.
    if (error) {
      self->context_.metrics.TlsHandshakeFailed();
      return;
    }
    self->ReadRequest();
  });
}

void HttpSession::ReadRequest() {
  head_request_ = false;
  parser_.emplace();
  parser_->header_limit(kMaxHeaderBytes);
  // A JSON body carries the event's bytes in base64 (4/3 larger) plus the other fields.
  parser_->body_limit(context_.config.max_message_bytes * 2 + 4096);
  stream_.expires_after(absl::ToChronoMilliseconds(context_.config.handshake_timeout));
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code error, size_t bytes) {
                     self->OnRead(error, bytes);
                   });
}

void HttpSession::OnRead(beast::error_code error, size_t bytes) {
  if (error == http::error::header_limit) {
    Respond(431, "request headers are larger than 8 KiB\n", "text/plain", false);
    return;
  }
  if (error == http::error::body_limit) {
    Respond(413, ErrorJson(absl::InvalidArgumentError("request body is too large")),
            "application/json", false);
    return;
  }
  if (error == http::error::end_of_stream || error == beast::error::timeout) return;
  if (error) {
    if (StartsWithProxyHeader()) {
      RefuseProxyHeader();
    } else if (bytes > 0 || buffer_.size() > 0) {
      Respond(400, "malformed HTTP request\n", "text/plain", false);
    }
    return;
  }
  Request request = parser_->release();
  if (absl::Status framing = CheckTransferEncoding(request); !framing.ok()) {
    // What follows the head cannot be told apart from a next request: answer and close.
    Respond(absl::IsUnimplemented(framing) ? 501 : 400,
            absl::StrCat(framing.message(), "\n"), "text/plain", false);
    return;
  }
  Route(std::move(request));
}

std::string HttpSession::ForwardingChain(const Request& request) const {
  // A proxy appends its own line after any the client sent: every line counts, in order.
  std::string chain;
  auto [first, last] = request.equal_range(ForwardingHeaderName(context_.config.forwarded_header));
  for (auto field = first; field != last; ++field) {
    if (!chain.empty()) chain += ',';
    chain.append(field->value());
  }
  return chain;
}

namespace {

// What an answer's body says, in a line: a JSON error's message, or the text.
std::string ReasonOf(std::string_view body) {
  if (body.starts_with("{")) {
    boost::system::error_code error;
    boost::json::value json = boost::json::parse(body, error);
    if (!error && json.is_object() && json.as_object().contains("message") &&
        json.as_object().at("message").is_string()) {
      return std::string(json.as_object().at("message").as_string());
    }
  }
  return std::string(absl::StripAsciiWhitespace(absl::string_view(body.data(), body.size())));
}

}  // namespace

void HttpSession::Route(Request request) {
  head_request_ = request.method() == http::verb::head;
  // Each request on a kept connection may come from another client of a proxy.
  client_address_ = believe_forwarding_
                        ? ClientAddress(peer_, ForwardingChain(request),
                                        context_.config.forwarded_header,
                                        context_.config.trusted_proxies)
                        : WithoutV4Mapping(peer_);
  boost::system::error_code ignored;
  bool forwarded = client_address_ !=
                   WithoutV4Mapping(stream_.tcp().socket().remote_endpoint(ignored).address());
  stream_.set_forwarded_client(forwarded ? client_address_.to_string() : "");
  std::string_view target = request.target();
  std::string_view path = target.substr(0, target.find('?'));
  bool keep_alive = request.keep_alive();
  if (request.method() == http::verb::options &&
      (path == "/sse" || path == "/v1/publish" || path == "/v1/history" ||
       path == "/v1/presence")) {
    Preflight(request);
  } else if (path == "/ws") {
    StartWebSocket(std::move(request));
  } else if (path == "/sse") {
    StartSse(std::move(request));
  } else if (path == "/v1/publish") {
    Publish(std::move(request));
  } else if (path == "/v1/history") {
    History(std::move(request));
  } else if (path == "/v1/presence") {
    Presence(std::move(request));
  } else if (context_.operator_endpoints != nullptr && OperatorEndpoints::Serves(path)) {
    OperatorAnswer answer = context_.operator_endpoints->Answer(path);
    Respond(answer.status, std::move(answer.body), answer.content_type, keep_alive);
  } else {
    ServeStatic(request);
  }
}

bool HttpSession::OriginAllowed(const Request& request) const {
  std::string_view origin = request[http::field::origin];
  if (origin.empty()) return true;
  // The gateway's own origin: its scheme and the Host asked for. Only with keys configured: a
  // page that rebinds its own DNS name to the gateway looks the same, and without keys nothing
  // else would stop it.
  std::string_view scheme = stream_.is_tls() ? "https://" : "http://";
  if (!context_.authenticator.open() && origin.starts_with(scheme) &&
      SameOrigin(origin, request[http::field::host])) {
    return true;
  }
  return context_.config.OriginAllowed(absl::string_view(origin.data(), origin.size()));
}

void HttpSession::RefuseOrigin(const Request& request, bool keep_alive) {
  // Readable by the refused page itself (no credentials), so a client can say why.
  Respond(403,
          ErrorJson(absl::PermissionDeniedError(absl::StrCat(
              "origin ", std::string(request[http::field::origin]),
              " is not allowed: the gateway's --allowed_origins must name it"))),
          "application/json", keep_alive, {{http::field::access_control_allow_origin, "*"}});
}

HttpSession::Headers HttpSession::CorsHeaders(const Request& request) const {
  auto origin = request.find(http::field::origin);
  if (origin == request.end()) return {};
  std::string value(origin->value());
  if (!context_.config.OriginAllowed(value)) return {};
  // Trusted origins get their exact origin with credentials, so the herald_token cookie is
  // sent; with any origin allowed, pages may read answers but never with the user's cookie.
  if (!context_.config.OriginTrusted(value)) {
    return {{http::field::access_control_allow_origin, "*"}};
  }
  return {{http::field::access_control_allow_origin, std::move(value)},
          {http::field::access_control_allow_credentials, "true"},
          {http::field::vary, "Origin"}};
}

void HttpSession::Preflight(const Request& request) {
  bool keep_alive = request.keep_alive();
  if (!OriginAllowed(request)) {
    RefuseOrigin(request, keep_alive);
    return;
  }
  Headers headers = CorsHeaders(request);
  headers.emplace_back(http::field::access_control_allow_methods, "GET, POST, OPTIONS");
  headers.emplace_back(http::field::access_control_allow_headers,
                       "Authorization, Content-Type, Last-Event-ID");
  headers.emplace_back(http::field::access_control_max_age, "600");
  Respond(204, "", "text/plain", keep_alive, headers);
}

void HttpSession::ResolveGrant(const Request& request, const RequestTarget& target,
                               const Headers& cors, std::optional<TransportKind> stream,
                               std::function<void(Grant)> granted) {
  std::string_view credential = RequestCredential(request, target, context_.config);
  absl::StatusOr<Grant> grant = context_.authenticator.Authenticate(
      absl::string_view(credential.data(), credential.size()));
  // A credential the gateway verifies needs no call; without keys the backend is the authority.
  bool ask_backend =
      context_.authorizer != nullptr && (context_.authenticator.open() || !grant.ok());
  if (!ask_backend) {
    if (grant.ok()) {
      granted(*std::move(grant));
      return;
    }
    RefuseGrant(grant.status(), cors, stream);
    return;
  }
  AuthorizerConnect ask;
  ask.transport = stream ? TransportName(*stream) : "http";
  ask.remote_address = client_address_.to_string();
  // The same rule as for the herald_token cookie: a page of another site gets the user's
  // cookies sent along too, and must not act as the user.
  bool cookies_count = CookiesCount(request, context_.config);
  for (const auto& field : request) {
    std::string_view name(field.name_string().data(), field.name_string().size());
    if (!context_.authorizer->Forwards(absl::string_view(name.data(), name.size()))) continue;
    std::string lower = absl::AsciiStrToLower(absl::string_view(name.data(), name.size()));
    if (lower == "cookie" && !cookies_count) continue;
    absl::string_view value(field.value().data(), field.value().size());
    auto same = std::find_if(ask.headers.begin(), ask.headers.end(),
                             [&](const auto& header) { return header.first == lower; });
    if (same == ask.headers.end()) {
      ask.headers.emplace_back(std::move(lower), std::string(value));
    } else {
      absl::StrAppend(&same->second, lower == "cookie" ? "; " : ", ", value);
    }
  }
  ask.query = target.other_params;
  ask.topics = target.topics;
  // The answer is awaited without reading: give it its deadline on top of the handshake's.
  stream_.expires_never();
  context_.authorizer->Connect(
      std::move(ask), [self = shared_from_this(), executor = stream_.get_executor(), cors, stream,
                       granted = std::move(granted)](absl::StatusOr<Grant> grant) mutable {
        boost::asio::post(executor, [self = std::move(self), cors = std::move(cors), stream,
                                     granted = std::move(granted),
                                     grant = std::move(grant)]() mutable {
          self->stream_.expires_after(
              absl::ToChronoMilliseconds(self->context_.config.handshake_timeout));
          if (self->context_.draining.load() && stream) {
            self->Respond(503, "shutting down\n", "text/plain", false, cors);
            self->NoteRefusal(*stream);
            return;
          }
          if (grant.ok()) {
            granted(*std::move(grant));
            return;
          }
          self->RefuseGrant(grant.status(), cors, stream);
        });
      });
}

void HttpSession::RefuseGrant(const absl::Status& status, Headers headers,
                              std::optional<TransportKind> stream) {
  if (absl::IsUnauthenticated(status)) {
    headers.emplace_back(http::field::www_authenticate, "Bearer");
  } else if (absl::IsUnavailable(status)) {
    headers.emplace_back(http::field::retry_after, "1");
  }
  Respond(HttpStatusFor(status), ErrorJson(status), "application/json", false, headers);
  if (stream) NoteRefusal(*stream);
}

void HttpSession::AdmitStream(const Request& request, bool topic_required, TransportKind kind,
                              std::function<void(AdmittedStream)> admitted) {
  auto refuse = [&](unsigned status, std::string body, const Headers& headers) {
    Respond(status, std::move(body), "text/plain", false, headers);
    NoteRefusal(kind);
  };
  if (!OriginAllowed(request)) {
    RefuseOrigin(request, false);
    NoteRefusal(kind);
    return;
  }
  Headers cors = CorsHeaders(request);
  if (context_.draining.load()) return refuse(503, "shutting down\n", cors);
  absl::StatusOr<RequestTarget> target = ParseRequestTarget(request.target());
  if (!target.ok()) return refuse(400, std::string(target.status().message()) + "\n", cors);
  if (topic_required && target->topics.empty()) {
    return refuse(400, "at least one topic= is needed\n", cors);
  }
  if (target->topics.size() > context_.config.max_topics_per_connection) {
    return refuse(400, "too many topics\n", cors);
  }
  auto parsed = std::make_shared<RequestTarget>(*std::move(target));
  ResolveGrant(request, *parsed, cors, kind,
               [self = shared_from_this(), parsed, cors, kind,
                admitted = std::move(admitted)](Grant grant) mutable {
                 for (const std::string& topic : parsed->topics) {
                   if (!grant.MaySubscribe(topic)) {
                     self->Respond(403,
                                   ErrorJson(absl::PermissionDeniedError(
                                       "this token may not subscribe to " + topic)),
                                   "application/json", false, cors);
                     self->NoteRefusal(kind);
                     return;
                   }
                 }
                 absl::StatusOr<ConnectionSlot> slot = self->context_.connections.Acquire(
                     self->AddressBucket(), grant.CredentialKey());
                 if (!slot.ok()) {
                   Headers headers = cors;
                   headers.emplace_back(http::field::retry_after, "5");
                   self->Respond(HttpStatusFor(slot.status()), ErrorJson(slot.status()),
                                 "application/json", false, headers);
                   self->NoteRefusal(kind);
                   return;
                 }
                 admitted(AdmittedStream{std::move(*parsed), std::move(grant), *std::move(slot)});
               });
}

void HttpSession::StartWebSocket(Request request) {
  // Admission comes first, so a plain GET /ws learns what the upgrade would be refused with
  // (401, 403, 429, 503): browsers hide the status of a refused upgrade, and the SDK asks this
  // way. 426 then means the request was fine but arrived without its upgrade.
  auto held = std::make_shared<Request>(std::move(request));
  AdmitStream(*held, /*topic_required=*/false, TransportKind::kWebSocket,
              [self = shared_from_this(), held](AdmittedStream admitted) mutable {
                self->UpgradeWebSocket(std::move(*held), std::move(admitted));
              });
}

void HttpSession::UpgradeWebSocket(Request request, AdmittedStream admitted) {
  if (!beast::websocket::is_upgrade(request)) {
    Respond(426, "/ws expects a WebSocket upgrade\n", "text/plain", false, CorsHeaders(request));
    return;
  }
  int status = 400;
  if (std::string problem = WebSocketUpgradeProblem(request, &status); !problem.empty()) {
    Headers headers = CorsHeaders(request);
    if (status == 426) headers.emplace_back(http::field::sec_websocket_version, "13");
    Respond(status, problem + "\n", "text/plain", false, headers);
    NoteRefusal(TransportKind::kWebSocket);
    return;
  }
  // Frames the client sent right behind its request were read with it.
  std::string early_bytes = beast::buffers_to_string(buffer_.data());
  pending_.Release();  // Admitted: counted under --max_connections from now on.
  std::make_shared<WebSocketSession>(std::move(stream_), context_, shard_)
      ->Run(std::move(request), std::move(admitted.target.topics), std::move(admitted.grant),
            std::move(admitted.slot), early_bytes);
}

void HttpSession::StartSse(Request request) {
  if (request.method() != http::verb::get) {
    Respond(405, "/sse expects GET\n", "text/plain", false);
    return;
  }
  auto held = std::make_shared<Request>(std::move(request));
  AdmitStream(*held, /*topic_required=*/true, TransportKind::kSse,
              [self = shared_from_this(), held](AdmittedStream admitted) mutable {
                // Browsers resend the last `id:` as Last-Event-ID; polyfills may put it in the
                // query.
                std::string resume_token((*held)["Last-Event-ID"]);
                if (resume_token.empty()) resume_token = admitted.target.last_event_id;
                self->pending_.Release();  // Admitted: counted under --max_connections now.
                std::make_shared<SseSession>(std::move(self->stream_), self->context_,
                                             self->shard_)
                    ->Run(*held, std::move(admitted.target.topics), resume_token,
                          std::move(admitted.grant), std::move(admitted.slot));
              });
}

std::string HttpSession::AddressBucket() { return ClientAddressBucket(client_address_); }

void HttpSession::AdmitCall(const Request& request, http::verb method,
                            std::function<void(AdmittedCall)> admitted) {
  bool keep_alive = request.keep_alive();
  std::string_view path = request.target().substr(0, request.target().find('?'));
  if (request.method() != method) {
    std::string answer(path);
    answer.append(" expects ").append(http::to_string(method)).append("\n");
    Respond(405, std::move(answer), "text/plain", keep_alive);
    return;
  }
  if (!OriginAllowed(request)) {
    RefuseOrigin(request, keep_alive);
    return;
  }
  Headers cors = CorsHeaders(request);
  absl::StatusOr<RequestTarget> target = ParseRequestTarget(request.target());
  if (!target.ok()) {
    Respond(400, ErrorJson(target.status()), "application/json", keep_alive, cors);
    return;
  }
  auto parsed = std::make_shared<RequestTarget>(*std::move(target));
  ResolveGrant(request, *parsed, cors, std::nullopt,
               [parsed, cors, admitted = std::move(admitted)](Grant grant) mutable {
                 admitted(AdmittedCall{std::move(*parsed), std::move(grant), std::move(cors)});
               });
}

void HttpSession::RespondJsonLater(std::shared_ptr<HttpSession> self, HttpAnswer answer,
                                   bool keep_alive, Headers cors) {
  auto executor = self->stream_.get_executor();
  boost::asio::post(executor, [self = std::move(self), keep_alive, cors = std::move(cors),
                               answer = std::move(answer)]() mutable {
    if (answer.status == 429 || answer.status == 503) {
      cors.emplace_back(http::field::retry_after, "1");
    }
    self->answer_held_ = std::move(answer.held);
    self->Respond(answer.status, std::move(answer.json), "application/json", keep_alive, cors);
  });
}

void HttpSession::RespondError(const absl::Status& status, bool keep_alive, Headers headers) {
  if (absl::IsResourceExhausted(status)) headers.emplace_back(http::field::retry_after, "1");
  Respond(HttpStatusFor(status), ErrorJson(status), "application/json", keep_alive, headers);
}

void HttpSession::Publish(Request request) {
  auto held = std::make_shared<Request>(std::move(request));
  AdmitCall(*held, http::verb::post,
            [self = shared_from_this(), held](AdmittedCall call) mutable {
              self->stream_.expires_never();
              PublishJson(held->body(), call.grant, self->context_,
                          [self, keep_alive = held->keep_alive(),
                           cors = std::move(call.cors)](HttpAnswer answer) mutable {
                            RespondJsonLater(std::move(self), std::move(answer), keep_alive,
                                             cors);
                          });
            });
}

void HttpSession::AdmitTopicRead(const Request& request, std::string_view refused_as,
                                 std::function<absl::Status(const std::string&)> also,
                                 std::function<void(AdmittedCall)> admitted) {
  std::string path(request.target().substr(0, request.target().find('?')));
  AdmitCall(request, http::verb::get,
            [self = shared_from_this(), keep_alive = request.keep_alive(), path,
             refused_as = std::string(refused_as), also = std::move(also),
             admitted = std::move(admitted)](AdmittedCall call) mutable {
              absl::Status status;
              if (call.target.topics.size() != 1) {
                status = absl::InvalidArgumentError(path + " takes one topic");
              } else if (!call.grant.MaySubscribe(call.target.topics[0])) {
                status = absl::PermissionDeniedError("this credential may not " + refused_as +
                                                     " " + call.target.topics[0]);
              } else if (also) {
                status = also(call.target.topics[0]);
              }
              if (status.ok() && !self->context_.history_reads.rates.Allow(call.grant)) {
                status = kReadRateExceeded;
              }
              if (!status.ok()) {
                self->RespondError(status, keep_alive, call.cors);
                return;
              }
              self->stream_.expires_never();
              admitted(std::move(call));
            });
}

void HttpSession::History(Request request) {
  bool keep_alive = request.keep_alive();
  AdmitTopicRead(request, "read", nullptr,
                 [self = shared_from_this(), keep_alive](AdmittedCall call) mutable {
                   HistoryJson(call.target.topics[0], call.target.limit,
                               HistoryReader(call.grant, self->AddressBucket()), self->context_,
                               LoopOf(self->stream_.get_executor()),
                               [self, keep_alive, cors = std::move(call.cors)](
                                   HttpAnswer answer) mutable {
                                 RespondJsonLater(std::move(self), std::move(answer), keep_alive,
                                                  cors);
                               });
                 });
}

void HttpSession::Presence(Request request) {
  bool keep_alive = request.keep_alive();
  AdmitTopicRead(
      request, "subscribe to",
      [this](const std::string& topic) {
        if (context_.rules.current()->For(topic).presence) return absl::OkStatus();
        return absl::PermissionDeniedError(absl::StrCat(
            "presence is off for ", topic, ": its topic rule does not say presence: true"));
      },
      [self = shared_from_this(), keep_alive](AdmittedCall call) mutable {
        self->context_.presence_reads.Answer(
            call.target.topics[0], call.target.limit,
            HistoryReader(call.grant, self->AddressBucket()),
            [self, keep_alive, cors = std::move(call.cors)](HttpAnswer answer) mutable {
              RespondJsonLater(std::move(self), std::move(answer), keep_alive, cors);
            });
      });
}

void HttpSession::ServeStatic(const Request& request) {
  bool keep_alive = request.keep_alive();
  if (!context_.static_files) {
    Respond(404, "not found\n", "text/plain", keep_alive);
    return;
  }
  Headers headers = {{"X-Content-Type-Options", "nosniff"}};
  absl::StatusOr<std::shared_ptr<const StaticFile>> file =
      context_.static_files->Resolve(request.target());
  if (!file.ok()) {
    // A file too large to load was counted when loading: no log line per request.
    bool not_found = absl::IsNotFound(file.status());
    Respond(not_found ? 404 : 500, not_found ? "not found\n" : "file not served\n", "text/plain",
            keep_alive, headers);
    return;
  }
  bool head = request.method() == http::verb::head;
  if (request.method() != http::verb::get && !head) {
    headers.emplace_back(http::field::allow, "GET, HEAD");
    Respond(405, "static files answer GET and HEAD\n", "text/plain", keep_alive, headers);
    return;
  }
  // Names are not fingerprinted and files change with each build: clients revalidate each time.
  // Any page may load them (an ES module from another origin needs CORS); never with cookies.
  const StaticFile& loaded = **file;
  bool gzip = loaded.gzipped && AcceptsGzip(request[http::field::accept_encoding]);
  const std::string& body = gzip ? *loaded.gzipped : *loaded.body;
  headers.emplace_back(http::field::etag, gzip ? loaded.gzipped_etag : loaded.etag);
  headers.emplace_back(http::field::cache_control, "no-cache");
  headers.emplace_back(http::field::access_control_allow_origin, "*");
  if (loaded.gzipped) headers.emplace_back(http::field::vary, "Accept-Encoding");
  if (gzip) headers.emplace_back(http::field::content_encoding, "gzip");
  if (EtagMatches(request[http::field::if_none_match], gzip ? loaded.gzipped_etag : loaded.etag)) {
    Respond(304, "", loaded.content_type, keep_alive, headers, body.size());
    return;
  }
  if (head) {
    Respond(200, "", loaded.content_type, keep_alive, headers, body.size());
    return;
  }
  RespondFile(*std::move(file), gzip, keep_alive, headers);
}

void HttpSession::NoteRefusal(TransportKind transport) {
  context_.metrics.ConnectionRefused(transport, last_status_);
  // A flood of refused connections must not become a flood of lines.
  static LogRate rate(10);
  int64_t suppressed = 0;
  if (!rate.Allow(&suppressed)) return;
  Log(LogLevel::kInfo, "refused",
      {{"transport", TransportName(transport)}, {"status", int64_t{last_status_}},
       {"address", client_address_.to_string()}, {"reason", last_reason_},
       {"suppressed", suppressed}});
}

void HttpSession::Respond(unsigned status, std::string body, std::string_view content_type,
                          bool keep_alive, const Headers& headers,
                          std::optional<uint64_t> length_without_body) {
  last_status_ = status;
  // Only a refusal's reason is ever logged: no work (nor a copy of a payload) for the rest.
  if (status >= 400) last_reason_ = ReasonOf(std::string_view(body).substr(0, 512));
  // Whatever the route, an answer to HEAD has headers only (a body would be read as the start
  // of the next answer on a kept connection).
  if (head_request_ && !length_without_body) {
    length_without_body = body.size();
    body.clear();
  }
  auto response = std::make_shared<http::response<http::string_body>>(
      static_cast<http::status>(status), 11);
  SetHeaders(*response, content_type, headers);
  response->keep_alive(keep_alive);
  response->body() = std::move(body);
  response->prepare_payload();
  if (length_without_body) response->content_length(*length_without_body);
  Send(response, *response, keep_alive);
}

void HttpSession::RespondFile(std::shared_ptr<const StaticFile> file, bool gzipped,
                              bool keep_alive, const Headers& headers) {
  // The response refers to the file's bytes, shared by every request for it, and holds them.
  struct FileResponse {
    std::shared_ptr<const StaticFile> file;
    http::response<http::span_body<const char>> response;
  };
  auto held = std::make_shared<FileResponse>();
  held->response.result(http::status::ok);
  held->response.version(11);
  SetHeaders(held->response, file->content_type, headers);
  held->response.keep_alive(keep_alive);
  const std::string& body = gzipped ? *file->gzipped : *file->body;
  held->response.body() = {body.data(), body.size()};
  held->response.prepare_payload();
  held->file = std::move(file);
  Send(held, held->response, keep_alive);
}

void HttpSession::SetHeaders(http::response_header<>& response, std::string_view content_type,
                             const Headers& headers) {
  response.set(http::field::server, "herald");
  for (const auto& [name, value] : headers) {
    std::visit([&](auto known) { response.set(known, value); }, name);
  }
  response.set(http::field::content_type, content_type);
}

template <typename Body>
void HttpSession::Send(std::shared_ptr<void> owner, http::response<Body>& response,
                       bool keep_alive) {
  response_ = std::move(owner);
  stream_.expires_after(absl::ToChronoMilliseconds(context_.config.handshake_timeout));
  http::async_write(stream_, response,
                    [self = shared_from_this(), keep_alive](beast::error_code error, size_t bytes) {
                      self->OnWrite(keep_alive, error, bytes);
                    });
}

void HttpSession::OnWrite(bool keep_alive, beast::error_code error, size_t bytes) {
  response_.reset();
  answer_held_.reset();
  if (error) return;
  if (keep_alive) {
    ReadRequest();
    return;
  }
  beast::error_code ignored;
  stream_.tcp().socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
  // Closing with unread input would reset the connection and could destroy the answer
  // before the client reads it (a refused 431 or 413 leaves input unread): read and drop what
  // the client still sends until it closes, for a short while.
  stream_.tcp().expires_after(kLingerTime);
  DrainInput();
}

void HttpSession::DrainInput() {
  stream_.tcp().async_read_some(boost::asio::buffer(linger_buffer_),
                          [self = shared_from_this()](beast::error_code error, size_t) {
                            if (!error) self->DrainInput();
                          });
}

}  // namespace herald
