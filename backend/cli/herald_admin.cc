// herald-admin: calls the gateway's Admin service (herald.v1.Admin) and prints its answer as JSON.
#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "herald/v1/admin.grpc.pb.h"
#include "publisher/publisher.h"
#include "tool/tool_flags.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "gRPC address of the Herald gateway.");
ABSL_FLAG(std::string, key, "",
          "Admin key (from the gateway's --admin_keys_file). Prefer --key_file: flags show in ps.");
ABSL_FLAG(std::string, key_file, "", "File holding the admin key (a final newline is ignored).");
ABSL_FLAG(bool, tls, false, "Connect with TLS (implied by the --tls_* file flags).");
ABSL_FLAG(std::string, tls_ca_file, "",
          "PEM CA certificates the gateway's certificate must chain to (default: system roots).");
ABSL_FLAG(std::string, tls_cert_file, "", "PEM client certificate, for mutual TLS.");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file.");
ABSL_FLAG(std::string, tls_server_name, "",
          "Name the gateway's certificate must carry, when it is not the --target host.");
ABSL_FLAG(std::string, topic, "", "The topic (presence, unsubscribe, remove_history).");
ABSL_FLAG(std::string, pattern, "", "Topic pattern to list (topics); empty: all.");
ABSL_FLAG(std::string, user, "", "The user (the token's sub): connections, disconnect, unsubscribe.");
ABSL_FLAG(std::string, client_id, "", "One connection: connections, disconnect, unsubscribe.");
ABSL_FLAG(uint32_t, limit, 0, "The most entries to list (0: the gateway's default).");
ABSL_FLAG(uint32_t, code, 0,
          "disconnect: the close code (4000-4999, 3000-3999 or 1000; 0: 4403, which the SDK does "
          "not reconnect after).");
ABSL_FLAG(std::string, reason, "", "disconnect: the reason told to the client.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10), "Deadline of the call.");

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

constexpr char kUsage[] =
    "Administers a Herald gateway (all of its nodes with Redis) and prints the answer as JSON.\n"
    "Usage: herald-admin [--target=host:port] --key_file=FILE COMMAND [flags]\n"
    "Commands:\n"
    "  info                                  nodes, their connections and topics\n"
    "  topics [--pattern=P] [--limit=N]      topics with subscribers\n"
    "  presence --topic=T [--limit=N]        who follows a topic\n"
    "  connections [--user=U|--client_id=C]  connections, with their topics and addresses\n"
    "  disconnect --user=U|--client_id=C [--code=4403] [--reason=R]\n"
    "  unsubscribe --user=U|--client_id=C --topic=T\n"
    "  remove_history --topic=T";

using Stub = herald::v1::Admin::Stub;
// One command: builds its request from the flags, makes the call, and prints the answer.
using Command = std::function<grpc::Status(Stub&, grpc::ClientContext&, std::string& json)>;

// Calls `method` with `request` and writes its answer, as JSON, to `json`.
template <typename Request, typename Response>
grpc::Status Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                  Stub& stub, grpc::ClientContext& context, const Request& request,
                  std::string& json) {
  Response response;
  grpc::Status status = (stub.*method)(&context, request, &response);
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(response, &json, options);
  return status;
}

const std::map<std::string, Command>& Commands() {
  static const auto* commands = new std::map<std::string, Command>{
      {"info",
       [](Stub& stub, grpc::ClientContext& context, std::string& json) {
         return Call(&Stub::Info, stub, context, herald::v1::InfoRequest(), json);
       }},
      {"topics",
       [](Stub& stub, grpc::ClientContext& context, std::string& json) {
         herald::v1::TopicsRequest request;
         request.set_pattern(absl::GetFlag(FLAGS_pattern));
         request.set_limit(absl::GetFlag(FLAGS_limit));
         return Call(&Stub::Topics, stub, context, request, json);
       }},
      {"presence",
       [](Stub& stub, grpc::ClientContext& context, std::string& json) {
         herald::v1::PresenceRequest request;
         request.set_topic(absl::GetFlag(FLAGS_topic));
         request.set_limit(absl::GetFlag(FLAGS_limit));
         return Call(&Stub::Presence, stub, context, request, json);
       }},
      {"connections",
       [](Stub& stub, grpc::ClientContext& context, std::string& json) {
         herald::v1::ConnectionsRequest request;
         request.set_user(absl::GetFlag(FLAGS_user));
         request.set_client_id(absl::GetFlag(FLAGS_client_id));
         request.set_limit(absl::GetFlag(FLAGS_limit));
         return Call(&Stub::Connections, stub, context, request, json);
       }},
      {"disconnect",
       [](Stub& stub, grpc::ClientContext& context, std::string& json) {
         herald::v1::DisconnectRequest request;
         request.set_user(absl::GetFlag(FLAGS_user));
         request.set_client_id(absl::GetFlag(FLAGS_client_id));
         request.set_code(absl::GetFlag(FLAGS_code));
         request.set_reason(absl::GetFlag(FLAGS_reason));
         return Call(&Stub::Disconnect, stub, context, request, json);
       }},
      {"unsubscribe",
       [](Stub& stub, grpc::ClientContext& context, std::string& json) {
         herald::v1::UnsubscribeRequest request;
         request.set_user(absl::GetFlag(FLAGS_user));
         request.set_client_id(absl::GetFlag(FLAGS_client_id));
         request.set_topic(absl::GetFlag(FLAGS_topic));
         return Call(&Stub::Unsubscribe, stub, context, request, json);
       }},
      {"remove_history",
       [](Stub& stub, grpc::ClientContext& context, std::string& json) {
         herald::v1::RemoveHistoryRequest request;
         request.set_topic(absl::GetFlag(FLAGS_topic));
         return Call(&Stub::RemoveHistory, stub, context, request, json);
       }},
  };
  return *commands;
}

// The admin key from --key or --key_file.
absl::StatusOr<std::string> AdminKey() {
  std::string key = absl::GetFlag(FLAGS_key);
  const std::string path = absl::GetFlag(FLAGS_key_file);
  if (!path.empty()) {
    std::ifstream file(path);
    if (!file) return absl::InvalidArgumentError("cannot read --key_file " + path);
    std::stringstream text;
    text << file.rdbuf();
    key = std::string(absl::StripTrailingAsciiWhitespace(text.str()));
  }
  return key;
}

const char* CodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {
      "OK",        "CANCELLED",          "UNKNOWN",           "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED", "NOT_FOUND",  "ALREADY_EXISTS",    "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",       "UNAVAILABLE",       "DATA_LOSS",
      "UNAUTHENTICATED"};
  int index = static_cast<int>(code);
  return index >= 0 && index <= 16 ? kNames[index] : "UNKNOWN";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> positional =
      herald::ParseToolFlags(argc, argv, "herald-admin", kUsage, "herald_admin");
  std::vector<std::string> names;
  for (const auto& [name, command] : Commands()) names.push_back(name);
  if (positional.size() != 2 || !Commands().contains(positional[1])) {
    std::fprintf(stderr, "herald-admin: name one command: %s (see --help)\n",
                 absl::StrJoin(names, ", ").c_str());
    return kExitUsage;
  }
  herald::PublisherOptions options;
  options.target = absl::GetFlag(FLAGS_target);
  absl::Status tls = herald::ApplyTlsFiles(
      {absl::GetFlag(FLAGS_tls), absl::GetFlag(FLAGS_tls_ca_file), absl::GetFlag(FLAGS_tls_cert_file),
       absl::GetFlag(FLAGS_tls_key_file), absl::GetFlag(FLAGS_tls_server_name)},
      options);
  absl::StatusOr<std::string> key = AdminKey();
  if (!tls.ok() || !key.ok()) {
    std::fprintf(stderr, "herald-admin: %s\n",
                 std::string((tls.ok() ? key.status() : tls).message()).c_str());
    return kExitUsage;
  }
  std::unique_ptr<Stub> stub = herald::v1::Admin::NewStub(herald::GatewayChannel(options));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoMilliseconds(absl::GetFlag(FLAGS_timeout)));
  if (!key->empty()) context.AddMetadata("authorization", "Bearer " + *key);
  std::string json;
  grpc::Status status = Commands().at(positional[1])(*stub, context, json);
  if (!status.ok()) {
    std::fprintf(stderr, "herald-admin: %s: %s\n", CodeName(status.error_code()),
                 status.error_message().c_str());
    return kExitFailed;
  }
  std::printf("%s\n", json.c_str());
  return kExitOk;
}
