// The gateway's side of the Authorizer service (authorizer.proto): asks the application's
// backend who a connecting browser is and what it may do, and turns the answer into a Grant.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "auth/grant.h"

namespace grpc {
class Channel;
class Status;
}  // namespace grpc
namespace herald::v1 {
class AuthorizerConnectResponse;
}

namespace herald {

struct AuthorizerOptions {
  std::string target;  // --authorizer: the backend's gRPC address (plaintext).
  absl::Duration timeout = absl::Seconds(1);  // Each call's deadline.
  std::vector<std::string> headers;  // Lower-case names of the headers forwarded.
  size_t max_calls = 1000;  // Calls in flight at most; more are refused at once.
  // How long a grant answered is reused for the same question (the same forwarded headers,
  // query, address, transport and topics); 0: every connection is asked about.
  absl::Duration cache_ttl = absl::ZeroDuration();
  size_t cache_entries = 100000;  // Grants kept at most.
};

// One connection asking to start, as the backend is told of it.
struct AuthorizerConnect {
  std::string transport;  // "websocket", "sse" or "http".
  std::string remote_address;
  std::vector<std::pair<std::string, std::string>> headers;  // Only the forwarded ones.
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::string> topics;
};

// The grant an answer gives, or INVALID_ARGUMENT naming the field that is malformed (a pattern
// that does not parse, an expiry already past). A wider grant than answered is never made.
absl::StatusOr<Grant> GrantFromAuthorizer(const herald::v1::AuthorizerConnectResponse& answer,
                                          absl::Time now = absl::Now());

// Thread-safe.
class AuthorizerClient {
 public:
  explicit AuthorizerClient(AuthorizerOptions options);
  // Waits for the calls in flight to end (each within the timeout).
  ~AuthorizerClient();

  // Whether a request header (any case) is one to forward.
  bool Forwards(absl::string_view header) const;

  // Asks the backend. `done` runs once, on a gRPC thread: with the grant; with UNAUTHENTICATED
  // or PERMISSION_DENIED and the backend's message when it refused; with UNAVAILABLE when it
  // could not be asked, did not answer within the timeout, failed otherwise, answered
  // something malformed (logged with the field), or when max_calls are in flight already.
  // A refusal at the cap, and a grant from the cache, come at once on the caller's thread.
  void Connect(AuthorizerConnect request, std::function<void(absl::StatusOr<Grant>)> done);

 private:
  struct Call;
  // Turns a call's outcome into what `done` is given.
  static void Answer(const herald::v1::AuthorizerConnectResponse& response,
                     const grpc::Status& status,
                     const std::function<void(absl::StatusOr<Grant>)>& done);
  void CallEnded();
  // The cache's key of a question: a digest of everything the backend is told.
  static std::string CacheKey(const AuthorizerConnect& ask);
  // A grant cached for `key` and still good at `now`.
  std::optional<Grant> Cached(const std::string& key, absl::Time now);
  void Remember(const std::string& key, const Grant& grant, absl::Time now);

  const AuthorizerOptions options_;
  absl::Mutex mutex_;
  size_t in_flight_ ABSL_GUARDED_BY(mutex_) = 0;
  struct CachedGrant {
    Grant grant;
    absl::Time until;
  };
  absl::flat_hash_map<std::string, CachedGrant> cache_ ABSL_GUARDED_BY(mutex_);
  absl::Time next_sweep_ ABSL_GUARDED_BY(mutex_) = absl::InfinitePast();
  std::shared_ptr<grpc::Channel> channel_;
  struct Stub;
  std::unique_ptr<Stub> stub_;
};

}  // namespace herald
