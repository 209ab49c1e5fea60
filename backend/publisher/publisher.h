// herald::Publisher: a small C++ client publishing events to Herald over gRPC, unary or streamed.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "herald/v1/publisher.grpc.pb.h"

namespace herald {

struct PublisherOptions {
  // gRPC address of the gateway.
  std::string target = "127.0.0.1:50051";
  // Sent as "authorization: Bearer <token>" metadata when non-empty.
  std::string token;
  // TLS to the gateway's gRPC port when set. PEM contents (not paths): the CA certificates the
  // gateway's certificate must chain to (empty: the system's roots), and for mutual TLS this
  // client's certificate chain and private key.
  bool tls = false;
  std::string tls_root_certs;
  std::string tls_client_cert;
  std::string tls_client_key;
  // The name the gateway's certificate must carry, when it is not the target's host.
  std::string tls_server_name;
  // Deadline of each unary attempt.
  absl::Duration timeout = absl::Seconds(5);
  // Attempts per unary Publish, and consecutive failed stream openings in PublishAll, when the
  // gateway answers UNAVAILABLE (not reachable, restarting). Other codes are never retried.
  int max_attempts = 5;
  // Backoff before the second attempt; doubles after each attempt up to max_backoff.
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  // Deadline of a whole PublishStream call. Infinite by default: streams are long-lived.
  absl::Duration stream_timeout = absl::InfiniteDuration();
  // Responses PublishAll lets be outstanding before it waits for one. Bounded so a single thread
  // can both write and read without a flow-control deadlock.
  std::size_t max_in_flight = 256;
};

// grpc::Status -> absl::Status (the code numbers are the same).
absl::Status ToAbslStatus(const grpc::Status& status);

// Where a publisher's TLS settings come from: PEM files (each may be empty) and the name the
// server's certificate must carry. TLS is on when `tls` is set or any of them is given.
struct TlsFiles {
  bool tls = false;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string server_name;
};

// A channel to the gateway's gRPC port as `options` say (target, TLS), reconnecting quickly
// after a gateway restart. Any of the gateway's services may use it (herald-admin does).
std::shared_ptr<grpc::Channel> GatewayChannel(const PublisherOptions& options);

// Reads `files` into the TLS fields of `options`; INVALID_ARGUMENT naming a file that cannot be
// read.
absl::Status ApplyTlsFiles(const TlsFiles& files, PublisherOptions& options);

// The error of a PublishResponse (a failed item of a stream) as an absl::Status; OK when unset.
absl::Status ResponseStatus(const v1::PublishResponse& response);

// One PublishStream call. Responses come back one per request, in order; an item that failed
// comes back as a PublishResponse with `error` set (the stream goes on), not as a Status.
//
// Two ways to use it:
//  - lock-step: Send() writes one request and waits for its response;
//  - pipelined: Write() many while another thread Read()s the responses, then WritesDone() and
//    Finish(). One thread may Write while one other thread Reads; nothing else runs concurrently.
//    A single thread that writes everything before reading anything can deadlock on flow control
//    (the gateway stops reading when its answers are not read): use two threads, or bound the
//    number of unanswered requests as Publisher::PublishAll does.
class PublishStream {
 public:
  PublishStream(const PublishStream&) = delete;
  PublishStream& operator=(const PublishStream&) = delete;
  // Cancels the call if Finish() was not called.
  ~PublishStream();

  // Writes `request` and reads its response. Call failures (the stream broke) come back as the
  // call's status, after which the stream is finished.
  absl::StatusOr<v1::PublishResponse> Send(const v1::PublishRequest& request);

  // Writes one request. An error means the stream is broken: Read() the responses still
  // delivered, then Finish() gives the call's status.
  absl::Status Write(const v1::PublishRequest& request);
  // Half-closes: no more requests. The gateway ends the stream after the last response.
  absl::Status WritesDone();
  // Reads the next response. At the end of the stream (normal or not) returns OUT_OF_RANGE
  // (see IsEndOfStream); Finish() then gives the call's status.
  absl::StatusOr<v1::PublishResponse> Read();
  // Half-closes if WritesDone() was not called, reads and discards any response not read yet,
  // and returns the call's status. Idempotent.
  absl::Status Finish();

  // Cancels the call; any blocked Write/Read returns. Thread-safe.
  void Cancel();

  // True when `status` is Read()'s end-of-stream marker.
  static bool IsEndOfStream(const absl::Status& status);

 private:
  friend class Publisher;
  PublishStream(
      std::unique_ptr<grpc::ClientContext> context,
      std::unique_ptr<grpc::ClientReaderWriter<v1::PublishRequest, v1::PublishResponse>> stream);

  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::PublishRequest, v1::PublishResponse>> stream_;
  bool writes_done_ = false;
  bool read_ended_ = false;
  std::optional<absl::Status> final_status_;
};

// Publishes to one gateway. Thread-safe: one Publisher (one channel) serves many threads.
class Publisher {
 public:
  // Opens an insecure channel to options.target, reconnecting quickly after a gateway restart.
  explicit Publisher(PublisherOptions options = {});
  // Uses a channel the caller built (TLS credentials, custom arguments).
  Publisher(std::shared_ptr<grpc::Channel> channel, PublisherOptions options);

  // Publishes one event. Retries with exponential backoff only on UNAVAILABLE (gateway not
  // reachable or restarting), never on other codes. A request that reached the gateway just
  // before the connection broke may be retried and so published twice: set idempotency_key to
  // make retries safe (the gateway answers a repeat with the first offset).
  absl::StatusOr<v1::PublishResponse> Publish(const v1::PublishRequest& request);

  // Starts a PublishStream call. Never fails here: a gateway that cannot be reached shows up in
  // the first Write/Send (and Finish() gives UNAVAILABLE).
  std::unique_ptr<PublishStream> OpenStream();

  // Publishes every request `next` yields (std::nullopt = no more) over a PublishStream,
  // pipelined (at most options.max_in_flight unanswered), calling `on_response` once per request,
  // in order; items that failed come with `error` set. When the stream breaks with UNAVAILABLE
  // it re-opens one (with backoff, up to max_attempts consecutive failures) and re-sends the
  // requests written but not answered: set idempotency_key on each request so that a request the
  // gateway had already accepted is answered with its first offset instead of being delivered
  // twice. Returns OK once every request is answered, else the call's status.
  absl::Status PublishAll(const std::function<std::optional<v1::PublishRequest>()>& next,
                          const std::function<void(const v1::PublishResponse&)>& on_response);

 private:
  std::unique_ptr<grpc::ClientContext> NewContext(absl::Duration timeout) const;
  absl::Duration Backoff(int attempt) const;

  PublisherOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Publisher::Stub> stub_;
};

}  // namespace herald
