// herald::Publisher and herald::PublishStream: unary and streamed publishing with reconnects.
#include "publisher/publisher.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"

namespace herald {
namespace {

constexpr char kEndOfStream[] = "end of stream";

std::chrono::system_clock::time_point DeadlineAfter(absl::Duration timeout) {
  return absl::ToChronoTime(absl::Now() + timeout);
}

}  // namespace

absl::Status ToAbslStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

absl::Status ResponseStatus(const v1::PublishResponse& response) {
  if (!response.has_error() || response.error().code() == 0) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(response.error().code()),
                      response.error().message());
}

// ---------------------------------------------------------------------------------------------
// PublishStream

PublishStream::PublishStream(
    std::unique_ptr<grpc::ClientContext> context,
    std::unique_ptr<grpc::ClientReaderWriter<v1::PublishRequest, v1::PublishResponse>> stream)
    : context_(std::move(context)), stream_(std::move(stream)) {}

PublishStream::~PublishStream() {
  if (!final_status_.has_value()) {
    context_->TryCancel();
    // The call must still be finished to release it; after a cancel this returns at once.
    stream_->Finish();
  }
}

bool PublishStream::IsEndOfStream(const absl::Status& status) {
  return absl::IsOutOfRange(status) && status.message() == kEndOfStream;
}

absl::StatusOr<v1::PublishResponse> PublishStream::Send(const v1::PublishRequest& request) {
  if (final_status_.has_value()) {
    return absl::FailedPreconditionError("PublishStream already finished");
  }
  if (Write(request).ok()) {
    absl::StatusOr<v1::PublishResponse> response = Read();
    if (response.ok() || !IsEndOfStream(response.status())) return response;
  }
  absl::Status status = Finish();
  if (status.ok()) {
    return absl::InternalError("PublishStream ended without answering the request");
  }
  return status;
}

absl::Status PublishStream::Write(const v1::PublishRequest& request) {
  if (writes_done_) return absl::FailedPreconditionError("Write after WritesDone");
  if (!stream_->Write(request)) {
    return absl::AbortedError("PublishStream is broken; Finish() gives the reason");
  }
  return absl::OkStatus();
}

absl::Status PublishStream::WritesDone() {
  if (writes_done_) return absl::OkStatus();
  writes_done_ = true;
  if (!stream_->WritesDone()) {
    return absl::AbortedError("PublishStream is broken; Finish() gives the reason");
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::PublishResponse> PublishStream::Read() {
  v1::PublishResponse response;
  if (read_ended_ || !stream_->Read(&response)) {
    read_ended_ = true;
    return absl::OutOfRangeError(kEndOfStream);
  }
  return response;
}

absl::Status PublishStream::Finish() {
  if (final_status_.has_value()) return *final_status_;
  if (!writes_done_) {
    writes_done_ = true;
    stream_->WritesDone();  // Fails when the stream is already broken: Finish() says why.
  }
  // gRPC's Finish() needs every message read; the gateway may also wait on flow control.
  v1::PublishResponse discarded;
  while (!read_ended_ && stream_->Read(&discarded)) {
  }
  read_ended_ = true;
  final_status_ = ToAbslStatus(stream_->Finish());
  return *final_status_;
}

void PublishStream::Cancel() { context_->TryCancel(); }

// ---------------------------------------------------------------------------------------------
// Publisher

std::shared_ptr<grpc::Channel> GatewayChannel(const PublisherOptions& options) {
  grpc::ChannelArguments args;
  // gRPC's default reconnect backoff starts at 1 s and grows to 2 min; a gateway restart should
  // be noticed about as fast as our own retries look for it.
  const int initial_ms =
      static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(options.initial_backoff)));
  const int max_ms = static_cast<int>(std::max<int64_t>(
      initial_ms, std::min<int64_t>(absl::ToInt64Milliseconds(options.max_backoff), 60'000)));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, initial_ms);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, max_ms);
  // Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: gRPC 1.51 also takes it as the time a connection
  // attempt may last (default 20 s). At 100 ms, a handshake on a loaded host or across a WAN
  // (TLS) times out before the server's SETTINGS arrive, every attempt.
  if (!options.tls) {
    return grpc::CreateCustomChannel(options.target, grpc::InsecureChannelCredentials(), args);
  }
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = options.tls_root_certs;
  tls.pem_cert_chain = options.tls_client_cert;
  tls.pem_private_key = options.tls_client_key;
  if (!options.tls_server_name.empty()) args.SetSslTargetNameOverride(options.tls_server_name);
  return grpc::CreateCustomChannel(options.target, grpc::SslCredentials(tls), args);
}

Publisher::Publisher(PublisherOptions options) : Publisher(GatewayChannel(options), options) {}

Publisher::Publisher(std::shared_ptr<grpc::Channel> channel, PublisherOptions options)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      stub_(v1::Publisher::NewStub(channel_)) {
  if (options_.max_attempts < 1) options_.max_attempts = 1;
  if (options_.max_in_flight < 1) options_.max_in_flight = 1;
}

std::unique_ptr<grpc::ClientContext> Publisher::NewContext(absl::Duration timeout) const {
  auto context = std::make_unique<grpc::ClientContext>();
  // Fail fast when the gateway is not reachable, so UNAVAILABLE triggers our retry.
  context->set_wait_for_ready(false);
  if (timeout != absl::InfiniteDuration()) context->set_deadline(DeadlineAfter(timeout));
  if (!options_.token.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", options_.token));
  }
  return context;
}

absl::Duration Publisher::Backoff(int attempt) const {
  absl::Duration backoff = options_.initial_backoff;
  for (int i = 1; i < attempt && backoff < options_.max_backoff; ++i) backoff *= 2;
  return std::min(backoff, options_.max_backoff);
}

absl::StatusOr<v1::PublishResponse> Publisher::Publish(const v1::PublishRequest& request) {
  absl::Status status;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    if (attempt > 1) absl::SleepFor(Backoff(attempt - 1));
    std::unique_ptr<grpc::ClientContext> context = NewContext(options_.timeout);
    v1::PublishResponse response;
    status = ToAbslStatus(stub_->Publish(context.get(), request, &response));
    if (status.ok()) return response;
    if (!absl::IsUnavailable(status)) return status;
  }
  return status;
}

std::unique_ptr<PublishStream> Publisher::OpenStream() {
  std::unique_ptr<grpc::ClientContext> context = NewContext(options_.stream_timeout);
  auto stream = stub_->PublishStream(context.get());
  return std::unique_ptr<PublishStream>(new PublishStream(std::move(context), std::move(stream)));
}

absl::Status Publisher::PublishAll(
    const std::function<std::optional<v1::PublishRequest>()>& next,
    const std::function<void(const v1::PublishResponse&)>& on_response) {
  // Written (or about to be re-written) but not answered yet, oldest first.
  std::deque<v1::PublishRequest> unanswered;
  bool source_done = false;
  int failures = 0;  // Consecutive streams that broke without answering anything.

  while (true) {
    std::unique_ptr<PublishStream> stream = OpenStream();
    bool progressed = false;
    bool broken = false;

    // Re-send what the previous stream did not answer.
    for (const v1::PublishRequest& request : unanswered) {
      if (!stream->Write(request).ok()) {
        broken = true;
        break;
      }
    }
    bool half_closed = false;
    while (!broken) {
      if (source_done && !half_closed) {
        half_closed = true;
        if (!stream->WritesDone().ok()) break;
      }
      if (!source_done && unanswered.size() < options_.max_in_flight) {
        std::optional<v1::PublishRequest> request = next();
        if (!request.has_value()) {
          source_done = true;
          continue;
        }
        unanswered.push_back(std::move(*request));
        if (!stream->Write(unanswered.back()).ok()) break;
        continue;
      }
      if (unanswered.empty()) break;  // source_done and everything answered.
      absl::StatusOr<v1::PublishResponse> response = stream->Read();
      if (!response.ok()) break;
      unanswered.pop_front();
      progressed = true;
      on_response(*response);
    }

    absl::Status status = stream->Finish();
    if (source_done && unanswered.empty()) return status;
    if (status.ok()) {
      return absl::InternalError(
          absl::StrCat("PublishStream ended with ", unanswered.size(), " request(s) unanswered"));
    }
    if (!absl::IsUnavailable(status)) return status;
    failures = progressed ? 1 : failures + 1;
    if (failures >= options_.max_attempts) return status;
    absl::SleepFor(Backoff(failures));
  }
}

absl::Status ApplyTlsFiles(const TlsFiles& files, PublisherOptions& options) {
  auto read = [](const std::string& path, std::string& into) -> absl::Status {
    if (path.empty()) return absl::OkStatus();
    std::ifstream file(path, std::ios::binary);
    if (!file) return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
    std::ostringstream text;
    text << file.rdbuf();
    into = text.str();
    return absl::OkStatus();
  };
  for (auto [path, into] : {std::pair{&files.ca_file, &options.tls_root_certs},
                            {&files.cert_file, &options.tls_client_cert},
                            {&files.key_file, &options.tls_client_key}}) {
    if (absl::Status status = read(*path, *into); !status.ok()) return status;
  }
  options.tls_server_name = files.server_name;
  options.tls = files.tls || !options.tls_root_certs.empty() || !options.tls_client_cert.empty() ||
                !options.tls_server_name.empty();
  return absl::OkStatus();
}

}  // namespace herald
