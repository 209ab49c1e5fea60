// herald-publish: publishes one event (--data) or each stdin line (one PublishStream) to Herald.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "publisher/publisher.h"
#include "tool/tool_flags.h"

// --data: a string that also knows whether it was given (so --data= publishes an empty payload
// instead of reading stdin).
struct PayloadFlag {
  bool given = false;
  std::string value;
};

bool AbslParseFlag(absl::string_view text, PayloadFlag* flag, std::string* /*error*/) {
  flag->given = true;
  flag->value = std::string(text);
  return true;
}

std::string AbslUnparseFlag(const PayloadFlag& flag) { return flag.value; }

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "gRPC address of the Herald gateway.");
ABSL_FLAG(std::string, token, "",
          "Bearer token sent as 'authorization: Bearer <token>' (JWT or publisher key).");
ABSL_FLAG(bool, tls, false, "Connect with TLS (implied by the --tls_* file flags).");
ABSL_FLAG(std::string, tls_ca_file, "",
          "PEM CA certificates the gateway's certificate must chain to (default: system roots).");
ABSL_FLAG(std::string, tls_cert_file, "", "PEM client certificate, for mutual TLS.");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file.");
ABSL_FLAG(std::string, tls_server_name, "",
          "Name the gateway's certificate must carry, when it is not the --target host.");
ABSL_FLAG(std::string, topic, "", "Topic to publish to (required).");
ABSL_FLAG(std::string, type, "", "Application event type (must not start with 'herald.').");
ABSL_FLAG(std::string, content_type, "",
          "Content type of the data, e.g. application/json or text/plain.");
ABSL_FLAG(std::vector<std::string>, meta, {},
          "Metadata as a comma-separated list of key=value pairs, e.g. --meta=a=1,b=2. "
          "Given several times, the last one wins (values cannot contain commas).");
ABSL_FLAG(bool, ephemeral, false, "Deliver live only, never keep in history (answered offset 0).");
ABSL_FLAG(std::string, idempotency_key, "",
          "Idempotency key. With --data it is sent as is; for stdin lines, line N is sent with "
          "'<key>:<N>' (N from 1), so re-running the same input does not publish twice.");
ABSL_FLAG(PayloadFlag, data, {},
          "Publish one event with this payload (unary Publish). Without --data, every line of "
          "stdin (without its newline) is one event, sent over one PublishStream.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(5),
          "Deadline of the unary publish (--data mode); retried on UNAVAILABLE.");

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

constexpr char kUsage[] =
    "Publishes events to a Herald gateway over gRPC.\n"
    "\n"
    "  herald-publish --topic=T --data=PAYLOAD [flags]   publish one event\n"
    "  producer | herald-publish --topic=T [flags]       publish each stdin line as one event\n"
    "\n"
    "Prints one line per published event on stdout: '<topic> <offset> <epoch>'.\n"
    "A failed stream item prints 'error <code> <message>' on stderr; the others go on.\n"
    "Exit status: 0 all published, 1 a publish or the call failed, 2 bad usage.\n"
    "Flags can also come from a file: --flagfile=FILE (one --flag=value per line).";

void PrintCallError(const absl::Status& status) {
  std::fprintf(stderr, "herald-publish: %s: %s\n", absl::StatusCodeToString(status.code()).c_str(),
               std::string(status.message()).c_str());
}

void PrintItemError(const herald::v1::PublishResponse& response) {
  std::fprintf(stderr, "error %d %s\n", response.error().code(),
               response.error().message().c_str());
}

void PrintPublished(const herald::v1::PublishResponse& response) {
  std::string line =
      absl::StrCat(response.topic(), " ", response.offset(), " ", response.epoch(), "\n");
  std::fwrite(line.data(), 1, line.size(), stdout);
}

// Flags -> the request template shared by every event.
absl::StatusOr<herald::v1::PublishRequest> BaseRequest() {
  herald::v1::PublishRequest request;
  request.set_topic(absl::GetFlag(FLAGS_topic));
  if (request.topic().empty()) return absl::InvalidArgumentError("--topic is required");
  request.set_type(absl::GetFlag(FLAGS_type));
  request.set_content_type(absl::GetFlag(FLAGS_content_type));
  request.set_ephemeral(absl::GetFlag(FLAGS_ephemeral));
  for (const std::string& pair : absl::GetFlag(FLAGS_meta)) {
    if (pair.empty()) continue;
    std::pair<std::string, std::string> kv = absl::StrSplit(pair, absl::MaxSplits('=', 1));
    if (kv.first.empty() || pair.find('=') == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("--meta: expected key=value, got '", pair, "'"));
    }
    (*request.mutable_meta())[kv.first] = kv.second;
  }
  return request;
}

int PublishOne(herald::Publisher& publisher, herald::v1::PublishRequest request) {
  request.set_data(absl::GetFlag(FLAGS_data).value);
  request.set_idempotency_key(absl::GetFlag(FLAGS_idempotency_key));
  absl::StatusOr<herald::v1::PublishResponse> response = publisher.Publish(request);
  if (!response.ok()) {
    PrintCallError(response.status());
    return kExitFailed;
  }
  if (response->has_error() && response->error().code() != 0) {
    PrintItemError(*response);
    return kExitFailed;
  }
  PrintPublished(*response);
  return kExitOk;
}

// Every stdin line is one event over one PublishStream. A writer thread reads stdin and writes
// while this thread reads the answers, so neither side can stall the other on flow control.
int PublishLines(herald::Publisher& publisher, const herald::v1::PublishRequest& base) {
  std::unique_ptr<herald::PublishStream> stream = publisher.OpenStream();
  const std::string key_prefix = absl::GetFlag(FLAGS_idempotency_key);

  std::atomic<uint64_t> written{0};
  std::atomic<bool> write_failed{false};
  std::thread writer([&] {
    herald::v1::PublishRequest request = base;
    std::string line;
    uint64_t n = 0;
    while (std::getline(std::cin, line)) {
      ++n;
      request.set_data(line);
      if (!key_prefix.empty()) request.set_idempotency_key(absl::StrCat(key_prefix, ":", n));
      if (!stream->Write(request).ok()) {
        write_failed = true;
        return;  // The reader sees the end of the stream; Finish() says why.
      }
      written.store(n, std::memory_order_relaxed);
    }
    (void)stream->WritesDone();
  });

  uint64_t answered = 0;
  bool item_failed = false;
  while (true) {
    absl::StatusOr<herald::v1::PublishResponse> response = stream->Read();
    if (!response.ok()) break;  // End of stream.
    ++answered;
    if (response->has_error() && response->error().code() != 0) {
      item_failed = true;
      PrintItemError(*response);
    } else {
      PrintPublished(*response);
    }
  }
  // When the stream broke while the writer waits for stdin, the error shows once the next line
  // (or EOF) arrives: the writer then fails its Write and returns.
  writer.join();
  std::fflush(stdout);

  absl::Status status = stream->Finish();
  if (!status.ok()) {
    PrintCallError(status);
    return kExitFailed;
  }
  if (write_failed || answered != written.load()) {
    PrintCallError(absl::InternalError(
        absl::StrCat("stream ended after ", answered, " of ", written.load(), " answers")));
    return kExitFailed;
  }
  return item_failed ? kExitFailed : kExitOk;
}

}  // namespace

// Reads the --tls_* files into `options`.
absl::Status ReadTlsFlags(herald::PublisherOptions& options) {
  return herald::ApplyTlsFiles({absl::GetFlag(FLAGS_tls), absl::GetFlag(FLAGS_tls_ca_file),
                                absl::GetFlag(FLAGS_tls_cert_file), absl::GetFlag(FLAGS_tls_key_file),
                                absl::GetFlag(FLAGS_tls_server_name)},
                               options);
}

int main(int argc, char** argv) {
  std::vector<char*> positional = herald::ParseToolFlags(argc, argv, "herald-publish", kUsage, "herald_publish");
  if (positional.size() > 1) {
    std::fprintf(stderr, "herald-publish: unexpected argument '%s' (see --help)\n", positional[1]);
    return kExitUsage;
  }
  absl::StatusOr<herald::v1::PublishRequest> base = BaseRequest();
  if (!base.ok()) {
    std::fprintf(stderr, "herald-publish: %s (see --help)\n",
                 std::string(base.status().message()).c_str());
    return kExitUsage;
  }

  herald::PublisherOptions options;
  if (absl::Status status = ReadTlsFlags(options); !status.ok()) {
    std::fprintf(stderr, "herald-publish: %s\n", std::string(status.message()).c_str());
    return kExitUsage;
  }
  options.target = absl::GetFlag(FLAGS_target);
  options.token = absl::GetFlag(FLAGS_token);
  options.timeout = absl::GetFlag(FLAGS_timeout);
  herald::Publisher publisher(options);

  std::ios::sync_with_stdio(false);
  const bool one_event = absl::GetFlag(FLAGS_data).given;
  return one_event ? PublishOne(publisher, *std::move(base)) : PublishLines(publisher, *base);
}
