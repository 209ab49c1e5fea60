// Authorizer calls over the gRPC callback API.
#include "grpc/authorizer_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "auth/publisher_keys.h"
#include "auth/topic_pattern.h"
#include "herald/v1/authorizer.grpc.pb.h"
#include "log.h"

namespace herald {
namespace {

absl::Status Malformed(absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("AuthorizerConnectResponse.", field, ": ", why));
}

absl::Status CheckPatterns(absl::string_view field,
                           const google::protobuf::RepeatedPtrField<std::string>& patterns) {
  for (const std::string& pattern : patterns) {
    if (absl::Status status = ValidateTopicPattern(pattern); !status.ok()) {
      return Malformed(field, absl::StrCat("\"", pattern, "\": ", status.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status Unavailable(absl::string_view why) {
  return absl::UnavailableError(absl::StrCat("the authorizer is unavailable: ", why));
}

}  // namespace

absl::StatusOr<Grant> GrantFromAuthorizer(const herald::v1::AuthorizerConnectResponse& answer,
                                          absl::Time now) {
  if (absl::Status status = CheckPatterns("subscribe", answer.subscribe()); !status.ok()) {
    return status;
  }
  if (absl::Status status = CheckPatterns("publish", answer.publish()); !status.ok()) {
    return status;
  }
  Grant grant;
  grant.subject = answer.user();
  if (answer.expire_unix_s() != 0) {
    grant.expires = absl::FromUnixSeconds(answer.expire_unix_s());
    if (grant.expires <= now) return Malformed("expire_unix_s", "already past");
  }
  grant.subscribe.assign(answer.subscribe().begin(), answer.subscribe().end());
  grant.publish.assign(answer.publish().begin(), answer.publish().end());
  return grant;
}

struct AuthorizerClient::Stub {
  std::unique_ptr<herald::v1::Authorizer::Stub> stub;
};

// What one call owns until gRPC is done with it.
struct AuthorizerClient::Call {
  grpc::ClientContext context;
  herald::v1::AuthorizerConnectRequest request;
  herald::v1::AuthorizerConnectResponse response;
};

AuthorizerClient::AuthorizerClient(AuthorizerOptions options)
    : options_(std::move(options)),
      channel_(grpc::CreateChannel(options_.target, grpc::InsecureChannelCredentials())),
      stub_(std::make_unique<Stub>(Stub{herald::v1::Authorizer::NewStub(channel_)})) {}

AuthorizerClient::~AuthorizerClient() {
  absl::MutexLock lock(&mutex_);
  mutex_.Await(absl::Condition(
      +[](size_t* in_flight) { return *in_flight == 0; }, &in_flight_));
}

void AuthorizerClient::CallEnded() {
  absl::MutexLock lock(&mutex_);
  --in_flight_;
}

bool AuthorizerClient::Forwards(absl::string_view header) const {
  for (const std::string& name : options_.headers) {
    if (absl::EqualsIgnoreCase(name, header)) return true;
  }
  return false;
}

std::string AuthorizerClient::CacheKey(const AuthorizerConnect& ask) {
  // Each part length-prefixed, in a fixed order: no two questions write the same text.
  std::string text;
  auto add = [&text](absl::string_view part) { absl::StrAppend(&text, part.size(), ":", part); };
  add(ask.transport);
  add(ask.remote_address);
  for (const auto* pairs : {&ask.headers, &ask.query}) {
    std::vector<std::pair<std::string, std::string>> sorted = *pairs;
    std::sort(sorted.begin(), sorted.end());
    add(std::to_string(sorted.size()));
    for (const auto& [name, value] : sorted) {
      add(name);
      add(value);
    }
  }
  for (const std::string& topic : ask.topics) add(topic);
  PublisherKeys::Digest digest = PublisherKeys::Sha256(text);
  return std::string(digest.begin(), digest.end());
}

std::optional<Grant> AuthorizerClient::Cached(const std::string& key, absl::Time now) {
  absl::MutexLock lock(&mutex_);
  auto found = cache_.find(key);
  if (found == cache_.end()) return std::nullopt;
  if (found->second.until <= now) {
    cache_.erase(found);
    return std::nullopt;
  }
  return found->second.grant;
}

void AuthorizerClient::Remember(const std::string& key, const Grant& grant, absl::Time now) {
  absl::MutexLock lock(&mutex_);
  if (cache_.size() >= options_.cache_entries) {
    // Expired grants are swept at most once a second (a sweep reads every entry); when the
    // cache is full of live ones, one of them makes room.
    if (now >= next_sweep_) {
      absl::erase_if(cache_, [now](const auto& entry) { return entry.second.until <= now; });
      next_sweep_ = now + absl::Seconds(1);
    }
    if (cache_.size() >= options_.cache_entries) cache_.erase(cache_.begin());
  }
  cache_[key] = CachedGrant{grant, std::min(now + options_.cache_ttl, grant.expires)};
}

void AuthorizerClient::Connect(AuthorizerConnect ask,
                               std::function<void(absl::StatusOr<Grant>)> done) {
  std::string key;
  if (options_.cache_ttl > absl::ZeroDuration()) {
    key = CacheKey(ask);
    if (std::optional<Grant> grant = Cached(key, absl::Now())) {
      done(*std::move(grant));
      return;
    }
  }
  bool room;
  {
    absl::MutexLock lock(&mutex_);
    room = in_flight_ < options_.max_calls;
    if (room) ++in_flight_;
  }
  if (!room) {
    done(Unavailable("too many calls in flight"));
    return;
  }
  auto call = std::make_shared<Call>();
  call->context.set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
  herald::v1::AuthorizerConnectRequest& request = call->request;
  request.set_transport(std::move(ask.transport));
  request.set_remote_address(std::move(ask.remote_address));
  for (auto& [name, value] : ask.headers) (*request.mutable_headers())[name] = std::move(value);
  for (auto& [name, value] : ask.query) (*request.mutable_query())[name] = std::move(value);
  for (std::string& topic : ask.topics) request.add_topics(std::move(topic));
  stub_->stub->async()->Connect(
      &call->context, &call->request, &call->response,
      [this, call, key = std::move(key), done = std::move(done)](grpc::Status status) {
        Answer(call->response, status, [&](absl::StatusOr<Grant> grant) {
          if (grant.ok() && !key.empty()) Remember(key, *grant, absl::Now());
          done(std::move(grant));
        });
        CallEnded();
      });
}

void AuthorizerClient::Answer(const herald::v1::AuthorizerConnectResponse& response,
                              const grpc::Status& status,
                              const std::function<void(absl::StatusOr<Grant>)>& done) {
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      break;
    case grpc::StatusCode::UNAUTHENTICATED:
      done(absl::UnauthenticatedError(status.error_message()));
      return;
    case grpc::StatusCode::PERMISSION_DENIED:
      done(absl::PermissionDeniedError(status.error_message()));
      return;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      done(Unavailable("no answer in time"));
      return;
    default:
      done(Unavailable(absl::StrCat("status ", status.error_code(), ": ", status.error_message())));
      return;
  }
  absl::StatusOr<Grant> grant = GrantFromAuthorizer(response);
  if (!grant.ok()) {
    LogWarning(absl::StrCat("authorizer: a malformed answer, connection refused: ",
                            grant.status().message()));
    done(Unavailable("its answer was malformed"));
    return;
  }
  done(*std::move(grant));
}

}  // namespace herald
