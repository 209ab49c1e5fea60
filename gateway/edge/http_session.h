// A plain HTTP connection: reads requests and routes them (upgrade to /ws, stream /sse, or
// answer publish, health and static files itself).
#pragma once

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "edge/edge_context.h"
#include "edge/edge_stream.h"
#include "edge/http_publish.h"
#include "edge/request_target.h"

namespace herald {

class HttpSession final : public std::enable_shared_from_this<HttpSession> {
 public:
  // The socket must belong to the loop of `shard`.
  // `pending` holds the connection's place under --max_pending_connections until it is
  // admitted as a WebSocket or SSE client, or ends.
  HttpSession(boost::asio::ip::tcp::socket socket, EdgeContext& context, size_t shard,
              PendingSlot pending);

  void Run();

 private:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  // A header by its known field, or by name for one Beast has no field for.
  using HeaderName = std::variant<boost::beast::http::field, std::string_view>;
  using Headers = std::vector<std::pair<HeaderName, std::string>>;

  // A /ws or /sse request that may start: its parsed target and what its credential allows.
  struct AdmittedStream {
    RequestTarget target;
    Grant grant;
    ConnectionSlot slot;
  };

  // A JSON API call (/v1/publish, /v1/history, /v1/presence) that may go on.
  struct AdmittedCall {
    RequestTarget target;
    Grant grant;
    Headers cors;
  };

  // Whether the request's Origin may use the gateway: none (not a browser), the gateway's own
  // (pages it serves; when keys are configured), or one --allowed_origins names.
  bool OriginAllowed(const Request& request) const;
  // 403 for an Origin OriginAllowed refuses, which that page may read (the SDK shows it).
  void RefuseOrigin(const Request& request, bool keep_alive);
  // The client's address, as connection caps and shares bucket it.
  std::string AddressBucket();
  // The lines of the header trusted proxies name their client in, joined with commas.
  std::string ForwardingChain(const Request& request) const;
  // From a trusted proxy with --proxy_protocol: the PROXY header first, which names the peer.
  void ReadProxyHeader();
  // Whether what the connection sent starts with a PROXY header (whole or malformed).
  bool StartsWithProxyHeader();
  // Closes a connection whose PROXY header was missing, malformed or not expected (counted).
  void RefuseProxyHeader();
  std::string_view BufferedBytes() const;
  // TLS detection on a TLS port, else the first request.
  void Start();
  // TLS handshake on a TLS port, after detecting that the client speaks TLS.
  void StartTls();
  void ReadRequest();
  void OnRead(boost::beast::error_code error, size_t bytes);
  void Route(Request request);
  // Checks a /ws or /sse request (origin, drain, topics, credential and its permissions) and
  // answers the refusals itself (counted and logged as refused `kind`); runs `admitted` when the
  // stream may start, at once or once the Authorizer answered.
  void AdmitStream(const Request& request, bool topic_required, TransportKind kind,
                   std::function<void(AdmittedStream)> admitted);
  // What the request may do: its verified credential's grant, or (with --authorizer, for a
  // request without one) the backend's answer. Runs `granted` on the session's executor, at
  // once or later; answers a refusal itself (401, 403, 503), noted as a refused `stream`.
  void ResolveGrant(const Request& request, const RequestTarget& target, const Headers& cors,
                    std::optional<TransportKind> stream, std::function<void(Grant)> granted);
  // Answers a refused credential or authorizer call: 401 (with WWW-Authenticate), 403, or 503
  // (with Retry-After).
  void RefuseGrant(const absl::Status& status, Headers headers,
                   std::optional<TransportKind> stream);
  // CORS headers for a request from an allowed browser origin (none without an Origin).
  Headers CorsHeaders(const Request& request) const;
  // Answers a CORS preflight (OPTIONS) for /sse and the /v1/ calls.
  void Preflight(const Request& request);
  void StartWebSocket(Request request);
  // The upgrade of an admitted /ws request (426 without one).
  void UpgradeWebSocket(Request request, AdmittedStream admitted);
  void StartSse(Request request);
  // Checks a JSON API call (method, origin, target, credential) and answers the refusals itself;
  // runs `admitted` when it may go on.
  void AdmitCall(const Request& request, boost::beast::http::verb method,
                 std::function<void(AdmittedCall)> admitted);
  // A GET of one topic's data (/v1/history, /v1/presence): admitted, one topic the credential
  // may subscribe to (else 403 "may not <refused_as> <topic>"), `also` OK when given, and within
  // --history_rate; otherwise the refusal is answered and `admitted` does not run.
  void AdmitTopicRead(const Request& request, std::string_view refused_as,
                      std::function<absl::Status(const std::string&)> also,
                      std::function<void(AdmittedCall)> admitted);
  // Writes a JSON API answer from any thread, on the session's executor. The session is moved
  // in: the last reference must not be dropped on an engine's thread.
  static void RespondJsonLater(std::shared_ptr<HttpSession> self, HttpAnswer answer,
                               bool keep_alive, Headers cors);
  // A WebSocket or SSE connection refused: counts it by the last answer's status and logs it
  // (that status and reason, and the client's address) in at most 10 lines a second.
  void NoteRefusal(TransportKind transport);
  // A JSON error answer; 429 says when to retry.
  void RespondError(const absl::Status& status, bool keep_alive, Headers headers);
  void Publish(Request request);
  // GET /v1/presence: who follows a topic whose rule allows presence, on every node.
  void Presence(Request request);
  void History(Request request);
  // Answers from --web_root whatever no other route takes.
  void ServeStatic(const Request& request);
  // Writes an answer; keeps the connection for the next request when the client allows. With
  // `length_without_body` (HEAD, 304) the body is left out and Content-Length gives that length.
  void Respond(unsigned status, std::string body, std::string_view content_type, bool keep_alive,
               const Headers& headers = {},
               std::optional<uint64_t> length_without_body = std::nullopt);
  // Writes a loaded static file (a GET's 200): its body, or its gzipped form when `gzipped`.
  void RespondFile(std::shared_ptr<const StaticFile> file, bool gzipped, bool keep_alive,
                   const Headers& headers);
  static void SetHeaders(boost::beast::http::response_header<>& response,
                         std::string_view content_type, const Headers& headers);
  // Writes `response`, which `owner` keeps alive until the write ends.
  template <typename Body>
  void Send(std::shared_ptr<void> owner, boost::beast::http::response<Body>& response,
            bool keep_alive);
  void OnWrite(bool keep_alive, boost::beast::error_code error, size_t bytes);
  void DrainInput();

  EdgeStream stream_;
  EdgeContext& context_;
  const size_t shard_;
  PendingSlot pending_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  std::shared_ptr<void> response_;  // The response being written.
  std::shared_ptr<void> answer_held_;  // What that response holds (HttpAnswer::held).
  bool head_request_ = false;       // The request being answered is a HEAD.
  unsigned last_status_ = 0;        // The last answer's status and reason (for NoteRefusal).
  std::string last_reason_;
  // Who connected: the socket's peer, or the client a PROXY header named.
  boost::asio::ip::address peer_;
  // False once a PROXY header said the connection is a client's without naming it.
  bool believe_forwarding_ = true;
  // The client of the request being answered: the peer, or the one a trusted proxy names.
  boost::asio::ip::address client_address_;
  std::array<char, 4096> linger_buffer_;
};

}  // namespace herald
