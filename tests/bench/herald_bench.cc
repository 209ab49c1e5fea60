// herald-bench: connects many WS/SSE clients, publishes over gRPC (or HTTP to the servers Herald
// is compared with), reports throughput and latency.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tool/tool_flags.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "clients.h"
#include "gateway_process.h"
#include "payload.h"
#include "publishers.h"

ABSL_FLAG(std::string, scenario, "fanout",
          "fanout: live delivery throughput and latency. storm: reconnect storm with recovery "
          "(connect, first batch, drop every client, publish --missed_events per topic, "
          "reconnect all and resume). history_memory: gateway memory per topic and per stored "
          "event (no subscribers).");
ABSL_FLAG(std::string, server, "herald",
          "Server under test. herald: gRPC publishers, Herald's WS/SSE protocol. nchan, node "
          "(bench/node): HTTP POST /pub/<topic> publishers on --http, and bare payloads on WS "
          "and SSE (nchan /sub/<topic>, node /ws/<topic> and /sse/<topic>); fanout only.");
ABSL_FLAG(std::string, http, "127.0.0.1:8080", "Gateway HTTP address (host:port) for WS/SSE.");
ABSL_FLAG(std::string, grpc, "127.0.0.1:50051", "Gateway gRPC address (host:port).");
ABSL_FLAG(std::string, start_gateway, "",
          "Path of a herald binary to start on ephemeral ports (overrides --http/--grpc).");
ABSL_FLAG(
    std::string, gateway_args, "",
    "Comma-separated extra flags for the started gateway, e.g. --threads=2,--history_size=0.");
ABSL_FLAG(int64_t, gateway_pid, 0, "Pid of an already running gateway, to report its RSS/CPU.");
ABSL_FLAG(int64_t, ws_clients, 1000, "WebSocket clients.");
ABSL_FLAG(std::string, token, "",
          "Token the WS/SSE clients send (?token=), for a gateway with auth on.");
ABSL_FLAG(std::string, publish_token, "",
          "Token or publisher key the gRPC publishers send, for a gateway with auth on.");
ABSL_FLAG(int64_t, sse_clients, 0, "SSE clients.");
ABSL_FLAG(int64_t, topics, 0,
          "Topics bench.0..bench.N-1; clients and events go round-robin. 0: the scenario's "
          "default (fanout 1, storm 10, history_memory 1000).");
ABSL_FLAG(int64_t, events, -1,
          "Events in total, spread over the topics. -1: the scenario's default (fanout 100000 "
          "measured events, history_memory 1000 per topic).");
ABSL_FLAG(int64_t, payload_bytes, 64, "Event payload size (at least 19: the publish time).");
ABSL_FLAG(int64_t, publishers, 1,
          "gRPC PublishStream calls (HTTP keep-alive connections for nchan and node), each on its "
          "own connection.");
ABSL_FLAG(double, rate, 0,
          "Publish rate in events/s over all publishers; 0 = as fast as possible.");
ABSL_FLAG(int64_t, max_inflight, 1000, "Unanswered publishes allowed per stream.");
ABSL_FLAG(std::string, tls_ca_file, "",
          "fanout on Herald: speak TLS (wss://, https://, gRPC over TLS) to a gateway started "
          "with --tls_cert_file, trusting the certificates in this PEM file.");
ABSL_FLAG(int64_t, publish_batch, 0,
          "fanout on Herald: events per PublishBatch call (at most --max_inflight); 0 = one "
          "PublishStream per publisher.");
ABSL_FLAG(int64_t, client_threads, 1, "io_context threads running the WS/SSE clients.");
ABSL_FLAG(int64_t, connect_concurrency, 256, "Connection attempts in flight per client thread.");
ABSL_FLAG(int64_t, warmup_events, 1000, "Events published and awaited before measuring.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(120),
          "Longest wait for the measured phase (publishing plus delivery).");
ABSL_FLAG(absl::Duration, connect_timeout, absl::Seconds(60), "Longest wait for connecting.");
ABSL_FLAG(int64_t, missed_events, 100, "storm: events per topic published while clients are away.");
ABSL_FLAG(int64_t, live_check_events, 10,
          "storm: events per topic published after the recovery, to check live delivery goes on.");
ABSL_FLAG(bool, drop_reset, false,
          "storm: drop connections with a TCP reset (SO_LINGER 0) instead of a FIN.");
ABSL_FLAG(int64_t, sample_ms, 5, "storm: gateway VmRSS/VmHWM sampling period.");
ABSL_FLAG(int64_t, history_size, -1,
          "Passed to the started gateway as --history_size (-1: not passed, gateway default).");

namespace herald::bench {
namespace {

struct Address {
  std::string host;
  uint16_t port = 0;
};

std::optional<Address> ParseAddress(const std::string& text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  Address address{text.substr(0, colon), 0};
  int port = 0;
  try {
    port = std::stoi(text.substr(colon + 1));
  } catch (...) {
    return std::nullopt;
  }
  if (port <= 0 || port > 65535) return std::nullopt;
  address.port = static_cast<uint16_t>(port);
  if (address.host == "localhost") address.host = "127.0.0.1";
  return address;
}

size_t SizeFlag(const absl::Flag<int64_t>& flag) {
  return static_cast<size_t>(std::max<int64_t>(0, absl::GetFlag(flag)));
}

double Seconds(int64_t from_ns, int64_t to_ns) {
  return static_cast<double>(to_ns - from_ns) / 1e9;
}

double Ms(uint64_t ns) { return static_cast<double>(ns) / 1e6; }

double Mib(std::optional<uint64_t> bytes) {
  return bytes ? static_cast<double>(*bytes) / (1024.0 * 1024.0) : -1;
}

// Waits until every live client has reached its topic's target offset, or the deadline.
bool WaitReached(const ClientFleet& fleet, const std::vector<uint64_t>& targets,
                 std::chrono::steady_clock::time_point deadline, const char* phase) {
  auto next_progress = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  size_t lagging = 0;
  while (true) {
    if (fleet.AllReached(targets, &lagging)) return true;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      std::cerr << "herald-bench: " << phase << ": timed out, " << lagging
                << " clients still behind\n";
      return false;
    }
    if (now >= next_progress) {
      std::cerr << "herald-bench: " << phase << ": waiting for " << lagging << " clients\n";
      next_progress = now + std::chrono::seconds(5);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// How the bench talks to the server under test (--server).
struct ServerProtocol {
  std::string name;
  // False: Herald (gRPC publishing, its own WS/SSE protocol). True: HTTP POST publishing and bare
  // payloads on WS and SSE, at these paths + topic.
  bool plain = false;
  std::string ws_path;
  std::string sse_path;
  std::string publish_path;
};

std::optional<ServerProtocol> ProtocolOf(const std::string& server) {
  if (server == "herald") return ServerProtocol{server, false, "", "", ""};
  if (server == "nchan") return ServerProtocol{server, true, "/sub/", "/sub/", "/pub/"};
  if (server == "node") return ServerProtocol{server, true, "/ws/", "/sse/", "/pub/"};
  return std::nullopt;
}

// The gateway under test: started by the bench (--start_gateway) or already running.
struct GatewayUnderTest {
  GatewayProcess process;
  std::string start_binary;  // empty when not started here
  std::string http_text;
  std::string grpc_text;
  Address http;
  pid_t pid = 0;

  std::optional<uint64_t> Rss() const {
    if (pid <= 0) return std::nullopt;
    return ReadRssBytes(pid);
  }
  std::optional<MemoryStatus> Memory() const {
    if (pid <= 0) return std::nullopt;
    return ReadMemoryStatus(pid);
  }
  std::optional<double> Cpu() const {
    if (pid <= 0) return std::nullopt;
    return ReadProcessCpuSeconds(pid);
  }
  // Stops the gateway when the bench started it; returns its exit text ("" otherwise).
  std::string StopIfStarted() {
    if (start_binary.empty()) return "";
    auto stop_start = std::chrono::steady_clock::now();
    std::string exit_text = process.Stop(std::chrono::seconds(15));
    std::cerr << absl::StrFormat(
        "herald-bench: gateway stopped (%s) in %.3f s\n", exit_text,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - stop_start).count());
    return exit_text;
  }
};

bool SetUpGateway(GatewayUnderTest* gw) {
  gw->http_text = absl::GetFlag(FLAGS_http);
  gw->grpc_text = absl::GetFlag(FLAGS_grpc);
  gw->pid = static_cast<pid_t>(absl::GetFlag(FLAGS_gateway_pid));
  gw->start_binary = absl::GetFlag(FLAGS_start_gateway);
  if (!gw->start_binary.empty()) {
    // Two log lines per connection are not what a benchmark measures (a later
    // --log_level in --gateway_args wins).
    std::vector<std::string> extra = {"--log_level=warning"};
    for (absl::string_view arg :
         absl::StrSplit(absl::GetFlag(FLAGS_gateway_args), ',', absl::SkipEmpty())) {
      extra.emplace_back(arg.data(), arg.size());
    }
    if (absl::GetFlag(FLAGS_history_size) >= 0) {
      extra.push_back(absl::StrCat("--history_size=", absl::GetFlag(FLAGS_history_size)));
    }
    std::string error;
    if (!gw->process.Start(gw->start_binary, extra, std::chrono::seconds(30), &error)) {
      std::cerr << "herald-bench: cannot start gateway: " << error << "\n";
      gw->start_binary.clear();
      return false;
    }
    gw->http_text = gw->process.http_address();
    gw->grpc_text = gw->process.grpc_address();
    gw->pid = gw->process.pid();
    std::cerr << "herald-bench: started " << gw->start_binary << " " << absl::StrJoin(extra, " ")
              << " (pid " << gw->pid << ") http=" << gw->http_text << " grpc=" << gw->grpc_text
              << "\n";
  }
  std::optional<Address> http = ParseAddress(gw->http_text);
  if (!http) {
    std::cerr << "herald-bench: bad --http address " << gw->http_text << "\n";
    return false;
  }
  gw->http = *http;
  return true;
}

// --topics, or the scenario's default when it is 0.
size_t TopicsOr(size_t scenario_default) {
  size_t topics = SizeFlag(FLAGS_topics);
  return topics > 0 ? topics : scenario_default;
}

std::string OptionalNumber(std::optional<double> value) {
  return value ? absl::StrFormat("%.3f", *value) : std::string("null");
}

std::string OptionalBytes(std::optional<uint64_t> value) {
  return value ? absl::StrCat(*value) : std::string("null");
}

// One publisher per --publishers: gRPC for Herald, HTTP POST for the plain servers.
std::unique_ptr<Publishers> MakePublishers(const GatewayUnderTest& gw,
                                           const ServerProtocol& protocol) {
  const size_t count = std::max<size_t>(1, SizeFlag(FLAGS_publishers));
  if (!protocol.plain) {
    return MakeGrpcPublishers(gw.grpc_text, count, absl::GetFlag(FLAGS_tls_ca_file));
  }
  return MakeHttpPublishers(gw.http.host, gw.http.port, protocol.publish_path, count);
}

int RunFanout(GatewayUnderTest& gw, const ServerProtocol& protocol, uint64_t file_limit) {
  const size_t ws_clients = SizeFlag(FLAGS_ws_clients);
  const size_t sse_clients = SizeFlag(FLAGS_sse_clients);
  const size_t topics = TopicsOr(1);
  const size_t publisher_count = std::max<size_t>(1, SizeFlag(FLAGS_publishers));
  const size_t payload_bytes = std::max(SizeFlag(FLAGS_payload_bytes), kStampDigits);
  const auto timeout = absl::ToChronoSeconds(absl::GetFlag(FLAGS_timeout));
  const size_t clients_total = ws_clients + sse_clients;
  if (file_limit < clients_total + 64) {
    std::cerr << "herald-bench: warning: RLIMIT_NOFILE is " << file_limit << " for "
              << clients_total << " clients\n";
  }

  const std::string& http_text = gw.http_text;
  const std::string& grpc_text = gw.grpc_text;
  const pid_t gateway_pid = gw.pid;
  const std::optional<Address> http = gw.http;
  auto rss = [&] { return gw.Rss(); };
  auto gateway_cpu = [&] { return gw.Cpu(); };
  std::optional<uint64_t> rss_before = rss();

  std::unique_ptr<Publishers> publishers = MakePublishers(gw, protocol);
  if (!publishers->WaitConnected(std::chrono::seconds(10))) {
    std::cerr << "herald-bench: cannot connect the publishers to "
              << (protocol.plain ? http_text : grpc_text) << "\n";
    return 1;
  }

  // Connect every client and wait for each first message.
  FleetOptions fleet_options;
  fleet_options.token = absl::GetFlag(FLAGS_token);
  fleet_options.http_host = http->host;
  fleet_options.http_port = http->port;
  fleet_options.ws_clients = ws_clients;
  fleet_options.sse_clients = sse_clients;
  fleet_options.topics = topics;
  fleet_options.threads = std::max<size_t>(1, SizeFlag(FLAGS_client_threads));
  fleet_options.connect_concurrency = std::max<size_t>(1, SizeFlag(FLAGS_connect_concurrency));
  fleet_options.plain = protocol.plain;
  fleet_options.tls_ca_file = absl::GetFlag(FLAGS_tls_ca_file);
  fleet_options.plain_ws_path = protocol.ws_path;
  fleet_options.plain_sse_path = protocol.sse_path;
  ClientFleet fleet(fleet_options);
  auto connect_start = std::chrono::steady_clock::now();
  fleet.Start();
  auto connect_deadline =
      connect_start + absl::ToChronoMilliseconds(absl::GetFlag(FLAGS_connect_timeout));
  while (fleet.settled() < clients_total && std::chrono::steady_clock::now() < connect_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  double connect_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - connect_start).count();
  size_t connected = fleet.connected();
  std::cerr << absl::StrFormat("herald-bench: %d/%d clients connected in %.3f s\n", connected,
                               clients_total, connect_seconds);
  if (connected == 0 && clients_total > 0) {
    std::cerr << "herald-bench: no client connected\n";
    return 1;
  }
  std::optional<uint64_t> rss_connected = rss();

  PublishPlan plan;
  plan.token = absl::GetFlag(FLAGS_publish_token);
  plan.topics = topics;
  plan.rate = absl::GetFlag(FLAGS_rate);
  plan.payload_bytes = payload_bytes;
  plan.max_inflight = std::max<size_t>(1, SizeFlag(FLAGS_max_inflight));
  plan.batch = std::min(SizeFlag(FLAGS_publish_batch), plan.max_inflight);
  plan.timeout = timeout;

  // Warmup: published and awaited, not measured.
  const uint64_t warmup_events = SizeFlag(FLAGS_warmup_events);
  if (warmup_events > 0) {
    plan.events = warmup_events;
    PublishResult warmup = publishers->Run(plan);
    if (warmup.errors > 0 || warmup.acked < warmup_events) {
      std::cerr << "herald-bench: warmup: " << warmup.acked << "/" << warmup_events << " acked; "
                << warmup.first_error << "\n";
    }
    WaitReached(fleet, warmup.last_offset_per_topic,
                std::chrono::steady_clock::now() + std::chrono::seconds(30), "warmup");
  }

  // Measured phase.
  const uint64_t events = absl::GetFlag(FLAGS_events) >= 0 ? SizeFlag(FLAGS_events) : 100000;
  plan.events = events;
  std::optional<double> gateway_cpu_start = gateway_cpu();
  double bench_cpu_start = SelfCpuSeconds();
  const auto measure_start = std::chrono::steady_clock::now();
  auto measure_deadline = measure_start + timeout;
  fleet.SetMeasureStart(UnixNowNs());
  PublishResult published = publishers->Run(plan);
  if (!published.first_error.empty()) {
    std::cerr << "herald-bench: publish: " << published.errors << " errors; "
              << published.first_error << "\n";
  }
  const bool timed_out =
      !WaitReached(fleet, published.last_offset_per_topic, measure_deadline, "delivery");
  std::optional<uint64_t> rss_after = rss();
  std::optional<double> gateway_cpu_end = gateway_cpu();
  double bench_cpu = SelfCpuSeconds() - bench_cpu_start;
  double bench_cpu_total = SelfCpuSeconds();
  // The window the CPU figures cover: publishing plus delivery (or the timeout).
  const double measure_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - measure_start).count();

  FleetReport report = fleet.Stop();
  publishers.reset();  // closes the publishing connections before the gateway drains
  std::string gateway_exit = gw.StopIfStarted();

  // Aggregate.
  uint64_t deliveries = 0, expected = 0, missing = 0, gaps = 0, duplicates = 0, unexpected = 0;
  uint64_t measured_frames = 0, frames = 0;
  int64_t last_receive_ns = 0;
  size_t ended_early = 0, failed = 0;
  std::map<uint32_t, size_t> disconnect_codes;
  std::string first_failure;
  for (const ClientReport& client : report.clients) {
    if (!client.connected) {
      ++failed;
      if (first_failure.empty()) first_failure = client.error;
      continue;
    }
    uint64_t want = published.events_per_topic[client.topic];
    expected += want;
    deliveries += client.measured_events;
    if (client.measured_events < want) missing += want - client.measured_events;
    gaps += client.gaps;
    duplicates += client.duplicates;
    unexpected += client.unexpected;
    measured_frames += client.measured_frames;
    frames += client.frames;
    last_receive_ns = std::max(last_receive_ns, client.last_receive_ns);
    if (client.ended_early) {
      ++ended_early;
      ++disconnect_codes[client.disconnect_code];
      if (first_failure.empty()) first_failure = client.error;
    }
  }
  const double publish_seconds =
      published.acked > 0 ? Seconds(published.first_write_unix_ns, published.last_ack_unix_ns) : 0;
  const double publish_rate =
      publish_seconds > 0 ? static_cast<double>(published.acked) / publish_seconds : 0;
  const double delivery_seconds =
      deliveries > 0 ? Seconds(published.first_write_unix_ns, last_receive_ns) : 0;
  const double delivery_rate =
      delivery_seconds > 0 ? static_cast<double>(deliveries) / delivery_seconds : 0;
  const Histogram& latency = report.latency_ns;
  const double frames_per_client =
      connected > 0 ? static_cast<double>(measured_frames) / static_cast<double>(connected) : 0;
  const double events_per_frame =
      measured_frames > 0 ? static_cast<double>(deliveries) / static_cast<double>(measured_frames)
                          : 0;
  const bool complete = !timed_out && missing == 0 && gaps == 0 && duplicates == 0 && failed == 0 &&
                        ended_early == 0 && published.errors == 0;
  std::optional<double> gateway_cpu_used;
  if (gateway_cpu_start && gateway_cpu_end)
    gateway_cpu_used = *gateway_cpu_end - *gateway_cpu_start;
  std::optional<double> rss_per_connection;
  if (rss_before && rss_connected && connected > 0) {
    rss_per_connection = (static_cast<double>(*rss_connected) - static_cast<double>(*rss_before)) /
                         static_cast<double>(connected);
  }
  std::string codes;
  for (const auto& [code, count] : disconnect_codes) {
    absl::StrAppend(&codes, codes.empty() ? "" : ",", code, ":", count);
  }

  // Human-readable report.
  std::printf("herald-bench (%s)\n", protocol.name.c_str());
  std::printf("  gateway        http=%s grpc=%s pid=%d%s\n", http_text.c_str(), grpc_text.c_str(),
              static_cast<int>(gateway_pid),
              gateway_exit.empty() ? "" : (" (" + gateway_exit + ")").c_str());
  std::printf(
      "  clients        %zu connected of %zu (ws %zu, sse %zu), %zu topics, %zu failed, "
      "%zu ended early%s%s\n",
      connected, clients_total, ws_clients, sse_clients, topics, failed, ended_early,
      codes.empty() ? "" : " codes ", codes.c_str());
  if (!first_failure.empty()) std::printf("  first failure  %s\n", first_failure.c_str());
  std::printf("  connect        %.3f s total, p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
              connect_seconds, Ms(report.connect_ns.Quantile(0.5)),
              Ms(report.connect_ns.Quantile(0.99)), Ms(report.connect_ns.max()));
  std::printf(
      "  published      %llu of %llu events (%llu errors), %zu publishers, payload %zu B, "
      "%.0f events/s over %.3f s\n",
      static_cast<unsigned long long>(published.acked), static_cast<unsigned long long>(events),
      static_cast<unsigned long long>(published.errors), publisher_count, payload_bytes,
      publish_rate, publish_seconds);
  std::printf("  delivered      %llu of %llu expected, %.0f deliveries/s over %.3f s%s\n",
              static_cast<unsigned long long>(deliveries),
              static_cast<unsigned long long>(expected), delivery_rate, delivery_seconds,
              timed_out ? " (TIMED OUT)" : "");
  std::printf("  latency        p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms, mean %.3f ms\n",
              Ms(latency.Quantile(0.5)), Ms(latency.Quantile(0.9)), Ms(latency.Quantile(0.99)),
              Ms(latency.max()), latency.mean() / 1e6);
  std::printf("  order          %llu gaps, %llu duplicates, %llu missing, %llu unexpected\n",
              static_cast<unsigned long long>(gaps), static_cast<unsigned long long>(duplicates),
              static_cast<unsigned long long>(missing),
              static_cast<unsigned long long>(unexpected));
  std::printf("  frames         %.1f per client (measured), %.2f events per frame\n",
              frames_per_client, events_per_frame);
  std::printf(
      "  gateway rss    before %.1f MiB, connected %.1f MiB, after %.1f MiB, "
      "%.0f B per connection\n",
      Mib(rss_before), Mib(rss_connected), Mib(rss_after), rss_per_connection.value_or(-1));
  std::printf(
      "  cpu            gateway %.2f s, bench %.2f s during the measured phase (%.3f s; "
      "bench total %.2f s)\n",
      gateway_cpu_used.value_or(-1), bench_cpu, measure_seconds, bench_cpu_total);

  // One machine-readable line.
  auto optional_number = [](std::optional<double> value) {
    return value ? absl::StrFormat("%.3f", *value) : std::string("null");
  };
  auto optional_bytes = [](std::optional<uint64_t> value) {
    return value ? absl::StrCat(*value) : std::string("null");
  };
  std::string json = absl::StrCat(
      "{\"server\":\"", protocol.name, "\",\"clients\":", connected,
      ",\"clients_requested\":", clients_total,
      ",\"ws_clients\":", ws_clients, ",\"sse_clients\":", sse_clients, ",\"topics\":", topics,
      ",\"connect_failures\":", failed, ",\"ended_early\":", ended_early,
      ",\"connect_s\":", absl::StrFormat("%.3f", connect_seconds),
      ",\"events_published\":", published.acked, ",\"publish_errors\":", published.errors,
      ",\"publish_rate\":", absl::StrFormat("%.1f", publish_rate), ",\"deliveries\":", deliveries,
      ",\"expected_deliveries\":", expected,
      ",\"delivery_rate\":", absl::StrFormat("%.1f", delivery_rate),
      ",\"latency_p50_ms\":", absl::StrFormat("%.3f", Ms(latency.Quantile(0.5))),
      ",\"latency_p90_ms\":", absl::StrFormat("%.3f", Ms(latency.Quantile(0.9))),
      ",\"latency_p99_ms\":", absl::StrFormat("%.3f", Ms(latency.Quantile(0.99))),
      ",\"latency_max_ms\":", absl::StrFormat("%.3f", Ms(latency.max())), ",\"gaps\":", gaps,
      ",\"duplicates\":", duplicates, ",\"missing\":", missing, ",\"unexpected\":", unexpected,
      ",\"frames_per_client\":", absl::StrFormat("%.2f", frames_per_client),
      ",\"events_per_frame\":", absl::StrFormat("%.2f", events_per_frame),
      ",\"gateway_rss_before_bytes\":", optional_bytes(rss_before),
      ",\"gateway_rss_connected_bytes\":", optional_bytes(rss_connected),
      ",\"gateway_rss_after_bytes\":", optional_bytes(rss_after),
      ",\"gateway_cpu_s\":", optional_number(gateway_cpu_used),
      ",\"bench_cpu_s\":", absl::StrFormat("%.3f", bench_cpu),
      ",\"measure_s\":", absl::StrFormat("%.3f", measure_seconds),
      ",\"timed_out\":", timed_out ? "true" : "false",
      ",\"complete\":", complete ? "true" : "false", "}");
  std::printf("RESULT %s\n", json.c_str());
  std::fflush(stdout);
  return complete ? 0 : 2;
}

// Connects every client of `fleet` and waits until each settled (or the connect timeout).
// Returns the seconds it took.
double ConnectFleet(ClientFleet& fleet) {
  auto connect_start = std::chrono::steady_clock::now();
  fleet.Start();
  auto connect_deadline =
      connect_start + absl::ToChronoMilliseconds(absl::GetFlag(FLAGS_connect_timeout));
  while (fleet.settled() < fleet.total() && std::chrono::steady_clock::now() < connect_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - connect_start).count();
}

double Quantile(const Histogram& histogram, double q) { return Ms(histogram.Quantile(q)); }

// Reconnect storm: every client drops at once, events are published while they are away, then
// every client reconnects at once and resumes from its position.
int RunStorm(GatewayUnderTest& gw, uint64_t file_limit) {
  const size_t ws_clients = SizeFlag(FLAGS_ws_clients);
  const size_t sse_clients = SizeFlag(FLAGS_sse_clients);
  const size_t topics = TopicsOr(10);
  const size_t publisher_count = std::max<size_t>(1, SizeFlag(FLAGS_publishers));
  const size_t payload_bytes = std::max(SizeFlag(FLAGS_payload_bytes), kStampDigits);
  const auto timeout = absl::ToChronoSeconds(absl::GetFlag(FLAGS_timeout));
  const uint64_t missed_per_topic = SizeFlag(FLAGS_missed_events);
  const uint64_t live_per_topic = SizeFlag(FLAGS_live_check_events);
  const size_t clients_total = ws_clients + sse_clients;
  if (file_limit < clients_total + 64) {
    std::cerr << "herald-bench: warning: RLIMIT_NOFILE is " << file_limit << " for "
              << clients_total << " clients\n";
  }
  if (gw.pid <= 0) {
    std::cerr << "herald-bench: warning: no gateway pid (--start_gateway or --gateway_pid): "
                 "no memory or CPU figures\n";
  }

  std::unique_ptr<Publishers> publishers = MakeGrpcPublishers(gw.grpc_text, publisher_count);
  if (!publishers->WaitConnected(std::chrono::seconds(10))) {
    std::cerr << "herald-bench: cannot connect to gRPC " << gw.grpc_text << "\n";
    return 1;
  }
  std::optional<uint64_t> rss_start = gw.Rss();

  FleetOptions fleet_options;
  fleet_options.token = absl::GetFlag(FLAGS_token);
  fleet_options.http_host = gw.http.host;
  fleet_options.http_port = gw.http.port;
  fleet_options.ws_clients = ws_clients;
  fleet_options.sse_clients = sse_clients;
  fleet_options.topics = topics;
  fleet_options.threads = std::max<size_t>(1, SizeFlag(FLAGS_client_threads));
  fleet_options.connect_concurrency = std::max<size_t>(1, SizeFlag(FLAGS_connect_concurrency));
  fleet_options.drop_with_reset = absl::GetFlag(FLAGS_drop_reset);
  ClientFleet fleet(fleet_options);
  const double connect_seconds = ConnectFleet(fleet);
  const size_t connected = fleet.connected();
  std::cerr << absl::StrFormat("herald-bench: %d/%d clients connected in %.3f s\n", connected,
                               clients_total, connect_seconds);
  if (connected == 0) {
    std::cerr << "herald-bench: no client connected\n";
    return 1;
  }

  PublishPlan plan;
  plan.token = absl::GetFlag(FLAGS_publish_token);
  plan.topics = topics;
  plan.rate = absl::GetFlag(FLAGS_rate);
  plan.payload_bytes = payload_bytes;
  plan.max_inflight = std::max<size_t>(1, SizeFlag(FLAGS_max_inflight));
  plan.timeout = timeout;

  // 1. A first batch every client receives: afterwards each knows epoch + last offset.
  plan.events = std::max<uint64_t>(SizeFlag(FLAGS_warmup_events), topics);
  PublishResult first = publishers->Run(plan);
  if (first.errors > 0 || first.acked < plan.events) {
    std::cerr << "herald-bench: first batch: " << first.acked << "/" << plan.events
              << " acked; " << first.first_error << "\n";
  }
  if (!WaitReached(fleet, first.last_offset_per_topic,
                   std::chrono::steady_clock::now() + std::chrono::seconds(30), "first batch")) {
    std::cerr << "herald-bench: not every client got the first batch; going on\n";
  }
  const uint64_t first_events = first.acked;

  // 2. Drop every client at once; publish while they are away.
  std::optional<MemoryStatus> mem_before = gw.Memory();
  const bool hwm_reset = gw.pid > 0 && ResetPeakRss(gw.pid);
  std::optional<MemorySampler> sampler;
  const auto sample_period =
      std::chrono::milliseconds(std::max<int64_t>(1, absl::GetFlag(FLAGS_sample_ms)));
  if (gw.pid > 0) sampler.emplace(gw.pid, sample_period);
  std::optional<double> cpu_drop_start = gw.Cpu();
  auto drop_start = std::chrono::steady_clock::now();
  fleet.Drop();
  const double drop_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - drop_start).count();
  plan.events = missed_per_topic * topics;
  PublishResult missed;
  if (plan.events > 0) missed = publishers->Run(plan);
  if (missed.errors > 0 || missed.acked < plan.events) {
    std::cerr << "herald-bench: missed batch: " << missed.acked << "/" << plan.events
              << " acked; " << missed.first_error << "\n";
  }
  std::vector<uint64_t> targets = first.last_offset_per_topic;
  for (size_t t = 0; t < topics && t < missed.last_offset_per_topic.size(); ++t) {
    targets[t] = std::max(targets[t], missed.last_offset_per_topic[t]);
  }
  const double away_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - drop_start).count();
  std::optional<double> cpu_drop_end = gw.Cpu();
  std::optional<MemoryStatus> mem_away = gw.Memory();

  // 3. Reconnect every client at once; each resumes from its position.
  std::optional<double> cpu_storm_start = gw.Cpu();
  double bench_cpu_start = SelfCpuSeconds();
  auto storm_start = fleet.Reconnect(targets);
  const size_t reconnecting = fleet.reconnecting();
  auto storm_deadline = storm_start + timeout;
  auto next_progress = storm_start + std::chrono::seconds(5);
  bool storm_timed_out = false;
  while (fleet.reconnect_finished() < reconnecting) {
    auto now = std::chrono::steady_clock::now();
    if (now >= storm_deadline) {
      storm_timed_out = true;
      std::cerr << "herald-bench: storm: timed out, " << reconnecting - fleet.reconnect_finished()
                << " clients not recovered\n";
      break;
    }
    if (now >= next_progress) {
      std::cerr << "herald-bench: storm: " << fleet.recovered() << "/" << reconnecting
                << " recovered, " << fleet.reconnect_finished() - fleet.recovered()
                << " failed or not recovered\n";
      next_progress = now + std::chrono::seconds(5);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  const double storm_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - storm_start).count();
  std::optional<double> cpu_storm_end = gw.Cpu();
  const double bench_cpu = SelfCpuSeconds() - bench_cpu_start;
  std::optional<MemoryStatus> mem_live = gw.Memory();
  std::cerr << absl::StrFormat("herald-bench: storm: %d/%d recovered in %.3f s\n",
                               fleet.recovered(), reconnecting, storm_seconds);

  // 4. Live delivery goes on after the storm, without gaps or duplicates.
  std::vector<uint64_t> final_targets = targets;
  bool live_timed_out = false;
  PublishResult live;
  if (live_per_topic > 0) {
    fleet.SetMeasureStart(UnixNowNs());
    plan.events = live_per_topic * topics;
    live = publishers->Run(plan);
    for (size_t t = 0; t < topics && t < live.last_offset_per_topic.size(); ++t) {
      final_targets[t] = std::max(final_targets[t], live.last_offset_per_topic[t]);
    }
    live_timed_out = !WaitReached(fleet, final_targets,
                                  std::chrono::steady_clock::now() + std::chrono::seconds(30),
                                  "live check");
  }
  if (sampler) sampler->Stop();
  std::optional<MemoryStatus> mem_after = gw.Memory();

  FleetReport report = fleet.Stop();
  publishers.reset();
  std::string gateway_exit = gw.StopIfStarted();

  // Aggregate.
  Histogram recovered_ns, recovered_own_ns, reply_ns, reconnected_ns;
  size_t recovered = 0, not_recovered = 0, failed = 0, no_answer = 0, initial_failures = 0;
  size_t ended_early = 0;
  uint64_t gaps = 0, duplicates = 0, unexpected = 0, epoch_mismatches = 0, resumed = 0;
  uint64_t expected_resumed = 0, missing = 0;
  std::string first_failure;
  std::map<uint32_t, size_t> disconnect_codes;
  for (const ClientReport& client : report.clients) {
    gaps += client.gaps;
    duplicates += client.duplicates;
    unexpected += client.unexpected;
    epoch_mismatches += client.epoch_mismatches;
    if (!client.reconnecting) {
      ++initial_failures;
      if (first_failure.empty()) first_failure = "initial: " + client.error;
      continue;
    }
    if (client.ended_early) {
      ++ended_early;
      ++disconnect_codes[client.disconnect_code];
    }
    resumed += client.resumed_events;
    uint64_t want = final_targets[client.topic] - client.resume_offset;
    expected_resumed += want;
    if (client.resumed_events < want) missing += want - client.resumed_events;
    if (client.reconnected) reconnected_ns.Record(static_cast<uint64_t>(client.reconnect_connected_ns));
    if (client.recover_reply) reply_ns.Record(static_cast<uint64_t>(client.recover_reply_ns));
    if (client.recovered) {
      ++recovered;
      recovered_ns.Record(static_cast<uint64_t>(client.recovered_ns));
      recovered_own_ns.Record(
          static_cast<uint64_t>(client.recovered_ns - client.reconnect_start_ns));
    } else if (client.recover_reply && !client.recovered_flag && client.recover_error.empty()) {
      ++not_recovered;
    } else if (client.reconnect_failed || !client.recover_error.empty()) {
      ++failed;
      if (first_failure.empty()) {
        first_failure = client.recover_error.empty() ? client.error : client.recover_error;
      }
    } else {
      ++no_answer;
    }
  }
  auto cpu_delta = [](std::optional<double> from, std::optional<double> to) {
    return from && to ? std::optional<double>(*to - *from) : std::nullopt;
  };
  std::optional<double> storm_cpu = cpu_delta(cpu_storm_start, cpu_storm_end);
  std::optional<double> away_cpu = cpu_delta(cpu_drop_start, cpu_drop_end);
  std::optional<uint64_t> rss_before, rss_away, rss_live, rss_after, rss_peak;
  if (mem_before) rss_before = mem_before->rss;
  if (mem_away) rss_away = mem_away->rss;
  if (mem_live) rss_live = mem_live->rss;
  if (mem_after) rss_after = mem_after->rss;
  uint64_t sampled_peak = sampler ? sampler->max_rss() : 0;
  uint64_t hwm_peak = 0;
  if (sampler) hwm_peak = sampler->max_hwm();
  if (mem_after) hwm_peak = std::max(hwm_peak, mem_after->hwm);
  if (gw.pid > 0) {
    // VmHWM covers the storm only when it could be reset before it; else it is the lifetime peak.
    rss_peak = std::max(sampled_peak, hwm_reset ? hwm_peak : uint64_t{0});
  }
  const bool complete = !storm_timed_out && !live_timed_out && recovered == reconnecting &&
                        reconnecting == clients_total && gaps == 0 && duplicates == 0 &&
                        missing == 0 && epoch_mismatches == 0 && missed.errors == 0 &&
                        live.errors == 0;
  std::string codes;
  for (const auto& [code, count] : disconnect_codes) {
    absl::StrAppend(&codes, codes.empty() ? "" : ",", code, ":", count);
  }

  std::printf("herald-bench storm\n");
  std::printf("  gateway        http=%s grpc=%s pid=%d%s\n", gw.http_text.c_str(),
              gw.grpc_text.c_str(), static_cast<int>(gw.pid),
              gateway_exit.empty() ? "" : (" (" + gateway_exit + ")").c_str());
  std::printf("  clients        %zu connected of %zu (ws %zu, sse %zu) in %.3f s, %zu topics\n",
              connected, clients_total, ws_clients, sse_clients, connect_seconds, topics);
  std::printf("  first batch    %llu events, every client got them\n",
              static_cast<unsigned long long>(first_events));
  std::printf(
      "  drop           %zu connections closed%s in %.3f ms; %llu events missed (%llu per topic, "
      "%llu errors) over %.3f s away\n",
      reconnecting, absl::GetFlag(FLAGS_drop_reset) ? " with RST" : " with FIN",
      drop_seconds * 1e3, static_cast<unsigned long long>(missed.acked),
      static_cast<unsigned long long>(missed_per_topic),
      static_cast<unsigned long long>(missed.errors), away_seconds);
  std::printf(
      "  storm          %zu of %zu recovered in %.3f s%s; %zu recovered=false, %zu failed, "
      "%zu no answer, %zu ended early%s%s\n",
      recovered, reconnecting, storm_seconds, storm_timed_out ? " (TIMED OUT)" : "",
      not_recovered, failed, no_answer, ended_early, codes.empty() ? "" : " codes ",
      codes.c_str());
  if (!first_failure.empty()) std::printf("  first failure  %s\n", first_failure.c_str());
  std::printf(
      "  to connected   p50 %.2f ms, p99 %.2f ms, max %.2f ms (from the storm start)\n",
      Quantile(reconnected_ns, 0.5), Quantile(reconnected_ns, 0.99), Ms(reconnected_ns.max()));
  std::printf("  to reply       p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", Quantile(reply_ns, 0.5),
              Quantile(reply_ns, 0.99), Ms(reply_ns.max()));
  std::printf(
      "  to recovered   p50 %.2f ms, p99 %.2f ms, max %.2f ms (from the storm start); "
      "own attempt p50 %.2f ms, p99 %.2f ms\n",
      Quantile(recovered_ns, 0.5), Quantile(recovered_ns, 0.99), Ms(recovered_ns.max()),
      Quantile(recovered_own_ns, 0.5), Quantile(recovered_own_ns, 0.99));
  std::printf(
      "  resumed        %llu events received of %llu expected (replay + %llu live per topic), "
      "%llu missing\n",
      static_cast<unsigned long long>(resumed), static_cast<unsigned long long>(expected_resumed),
      static_cast<unsigned long long>(live_per_topic), static_cast<unsigned long long>(missing));
  std::printf(
      "  order          %llu gaps, %llu duplicates, %llu unexpected, %llu epoch mismatches%s\n",
      static_cast<unsigned long long>(gaps), static_cast<unsigned long long>(duplicates),
      static_cast<unsigned long long>(unexpected),
      static_cast<unsigned long long>(epoch_mismatches),
      live_timed_out ? " (live check TIMED OUT)" : "");
  std::printf(
      "  live check     latency p50 %.3f ms, p99 %.3f ms (%llu events after the storm)\n",
      Quantile(report.latency_ns, 0.5), Quantile(report.latency_ns, 0.99),
      static_cast<unsigned long long>(live.acked));
  std::printf(
      "  gateway rss    start %.1f MiB, before drop %.1f MiB, away %.1f MiB, peak %.1f MiB "
      "(sampled %.1f, VmHWM %.1f%s), all live %.1f MiB, after %.1f MiB\n",
      Mib(rss_start), Mib(rss_before), Mib(rss_away), Mib(rss_peak),
      Mib(sampler ? std::optional<uint64_t>(sampled_peak) : std::nullopt),
      Mib(sampler ? std::optional<uint64_t>(hwm_peak) : std::nullopt),
      hwm_reset ? " reset before the drop" : " lifetime", Mib(rss_live), Mib(rss_after));
  std::printf(
      "  cpu            gateway %.3f s during the storm (%.0f%% of one core), %.3f s for drop + "
      "missed publish; bench %.3f s during the storm\n",
      storm_cpu.value_or(-1), storm_cpu && storm_seconds > 0 ? 100 * *storm_cpu / storm_seconds : -1,
      away_cpu.value_or(-1), bench_cpu);

  std::string json = absl::StrCat(
      "{\"scenario\":\"storm\",\"clients\":", connected, ",\"clients_requested\":", clients_total,
      ",\"ws_clients\":", ws_clients, ",\"sse_clients\":", sse_clients, ",\"topics\":", topics,
      ",\"connect_s\":", absl::StrFormat("%.3f", connect_seconds),
      ",\"first_events\":", first_events, ",\"missed_events\":", missed.acked,
      ",\"missed_per_topic\":", missed_per_topic, ",\"drop_reset\":",
      absl::GetFlag(FLAGS_drop_reset) ? "true" : "false",
      ",\"drop_ms\":", absl::StrFormat("%.3f", drop_seconds * 1e3),
      ",\"reconnecting\":", reconnecting, ",\"recovered\":", recovered,
      ",\"recovered_false\":", not_recovered, ",\"failed\":", failed,
      ",\"no_answer\":", no_answer, ",\"ended_early\":", ended_early,
      ",\"all_live_s\":", absl::StrFormat("%.3f", storm_seconds),
      ",\"connected_p50_ms\":", absl::StrFormat("%.3f", Quantile(reconnected_ns, 0.5)),
      ",\"connected_p99_ms\":", absl::StrFormat("%.3f", Quantile(reconnected_ns, 0.99)),
      ",\"reply_p50_ms\":", absl::StrFormat("%.3f", Quantile(reply_ns, 0.5)),
      ",\"reply_p99_ms\":", absl::StrFormat("%.3f", Quantile(reply_ns, 0.99)),
      ",\"recovered_p50_ms\":", absl::StrFormat("%.3f", Quantile(recovered_ns, 0.5)),
      ",\"recovered_p99_ms\":", absl::StrFormat("%.3f", Quantile(recovered_ns, 0.99)),
      ",\"recovered_max_ms\":", absl::StrFormat("%.3f", Ms(recovered_ns.max())),
      ",\"recovered_own_p50_ms\":", absl::StrFormat("%.3f", Quantile(recovered_own_ns, 0.5)),
      ",\"recovered_own_p99_ms\":", absl::StrFormat("%.3f", Quantile(recovered_own_ns, 0.99)),
      ",\"resumed_events\":", resumed, ",\"expected_resumed_events\":", expected_resumed,
      ",\"missing\":", missing, ",\"gaps\":", gaps, ",\"duplicates\":", duplicates,
      ",\"unexpected\":", unexpected, ",\"epoch_mismatches\":", epoch_mismatches,
      ",\"live_p50_ms\":", absl::StrFormat("%.3f", Quantile(report.latency_ns, 0.5)),
      ",\"live_p99_ms\":", absl::StrFormat("%.3f", Quantile(report.latency_ns, 0.99)),
      ",\"gateway_rss_start_bytes\":", OptionalBytes(rss_start),
      ",\"gateway_rss_before_bytes\":", OptionalBytes(rss_before),
      ",\"gateway_rss_away_bytes\":", OptionalBytes(rss_away),
      ",\"gateway_rss_peak_bytes\":", OptionalBytes(rss_peak),
      ",\"gateway_rss_live_bytes\":", OptionalBytes(rss_live),
      ",\"gateway_rss_after_bytes\":", OptionalBytes(rss_after),
      ",\"peak_from_hwm\":", hwm_reset ? "true" : "false",
      ",\"rss_samples\":", sampler ? sampler->samples() : 0,
      ",\"gateway_cpu_storm_s\":", OptionalNumber(storm_cpu),
      ",\"gateway_cpu_away_s\":", OptionalNumber(away_cpu),
      ",\"bench_cpu_s\":", absl::StrFormat("%.3f", bench_cpu),
      ",\"timed_out\":", storm_timed_out || live_timed_out ? "true" : "false",
      ",\"complete\":", complete ? "true" : "false", "}");
  std::printf("RESULT %s\n", json.c_str());
  std::fflush(stdout);
  return complete ? 0 : 2;
}

// History memory: publish to many topics with no subscriber and see what the history costs.
int RunHistoryMemory(GatewayUnderTest& gw) {
  const size_t topics = TopicsOr(1000);
  const uint64_t events =
      absl::GetFlag(FLAGS_events) >= 0 ? SizeFlag(FLAGS_events) : uint64_t{topics} * 1000;
  const size_t publisher_count = std::max<size_t>(1, SizeFlag(FLAGS_publishers));
  const size_t payload_bytes = std::max(SizeFlag(FLAGS_payload_bytes), kStampDigits);
  const int64_t history_flag = absl::GetFlag(FLAGS_history_size);
  // What the gateway keeps per topic (its default when the flag is not passed).
  const uint64_t history_size = history_flag >= 0 ? static_cast<uint64_t>(history_flag) : 1000;
  if (gw.pid <= 0) {
    std::cerr << "herald-bench: history_memory needs --start_gateway or --gateway_pid\n";
    return 1;
  }
  if (events < topics) {
    std::cerr << "herald-bench: --events must be at least --topics\n";
    return 1;
  }
  std::unique_ptr<Publishers> publishers = MakeGrpcPublishers(gw.grpc_text, publisher_count);
  if (!publishers->WaitConnected(std::chrono::seconds(10))) {
    std::cerr << "herald-bench: cannot connect to gRPC " << gw.grpc_text << "\n";
    return 1;
  }
  PublishPlan plan;
  plan.rate = absl::GetFlag(FLAGS_rate);
  plan.payload_bytes = payload_bytes;
  plan.max_inflight = std::max<size_t>(1, SizeFlag(FLAGS_max_inflight));
  plan.timeout = absl::ToChronoSeconds(absl::GetFlag(FLAGS_timeout));

  // Warm the publish path (gRPC stream, allocator arenas) on a topic of its own.
  plan.topic_prefix = "warm.";
  plan.topics = 1;
  plan.events = 1000;
  publishers->Run(plan);
  auto settle = [] { std::this_thread::sleep_for(std::chrono::milliseconds(300)); };
  settle();
  std::optional<uint64_t> rss_before = gw.Rss();
  std::optional<double> cpu_start = gw.Cpu();

  // One event per topic: the cost of a topic (with one stored event).
  plan.topic_prefix = "bench.";
  plan.topics = topics;
  plan.events = topics;
  auto publish_start = std::chrono::steady_clock::now();
  PublishResult first = publishers->Run(plan);
  settle();
  std::optional<uint64_t> rss_topics = gw.Rss();

  // The rest.
  plan.events = events - topics;
  PublishResult rest;
  if (plan.events > 0) rest = publishers->Run(plan);
  const double publish_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - publish_start).count() - 0.3;
  settle();
  std::optional<uint64_t> rss_after = gw.Rss();
  std::optional<double> cpu_end = gw.Cpu();
  std::optional<MemoryStatus> mem_after = gw.Memory();
  publishers.reset();
  std::string gateway_exit = gw.StopIfStarted();

  const uint64_t acked = first.acked + rest.acked;
  const uint64_t errors = first.errors + rest.errors;
  uint64_t stored = 0;
  for (size_t t = 0; t < topics; ++t) {
    uint64_t per_topic = events / topics + (t < events % topics ? 1 : 0);
    stored += std::min(per_topic, history_size);
  }
  auto diff = [](std::optional<uint64_t> from, std::optional<uint64_t> to) {
    return from && to ? std::optional<double>(static_cast<double>(*to) - static_cast<double>(*from))
                      : std::nullopt;
  };
  std::optional<double> topics_delta = diff(rss_before, rss_topics);
  std::optional<double> rest_delta = diff(rss_topics, rss_after);
  std::optional<double> total_delta = diff(rss_before, rss_after);
  std::optional<double> per_topic, per_event, per_event_overall;
  if (topics_delta) per_topic = *topics_delta / static_cast<double>(topics);
  if (rest_delta && stored > topics) per_event = *rest_delta / static_cast<double>(stored - topics);
  if (total_delta && stored > 0) per_event_overall = *total_delta / static_cast<double>(stored);
  std::optional<double> cpu_used;
  if (cpu_start && cpu_end) cpu_used = *cpu_end - *cpu_start;
  const double publish_rate =
      publish_seconds > 0 ? static_cast<double>(acked) / publish_seconds : 0;

  std::printf("herald-bench history_memory\n");
  std::printf("  gateway        pid=%d history_size=%llu%s%s\n", static_cast<int>(gw.pid),
              static_cast<unsigned long long>(history_size),
              history_flag >= 0 ? "" : " (gateway default, not passed)",
              gateway_exit.empty() ? "" : (" (" + gateway_exit + ")").c_str());
  std::printf(
      "  published      %llu of %llu events (%llu errors) to %zu topics, payload %zu B, "
      "%.0f events/s; %llu kept in history\n",
      static_cast<unsigned long long>(acked), static_cast<unsigned long long>(events),
      static_cast<unsigned long long>(errors), topics, payload_bytes, publish_rate,
      static_cast<unsigned long long>(stored));
  std::printf(
      "  gateway rss    before %.1f MiB, one event per topic %.1f MiB, after %.1f MiB "
      "(VmHWM %.1f MiB)\n",
      Mib(rss_before), Mib(rss_topics), Mib(rss_after),
      Mib(mem_after ? std::optional<uint64_t>(mem_after->hwm) : std::nullopt));
  std::printf(
      "  memory         %.0f B per topic (with its first event), %.0f B per further stored "
      "event, %.0f B per stored event overall (payload %zu B)\n",
      per_topic.value_or(-1), per_event.value_or(-1), per_event_overall.value_or(-1),
      payload_bytes);
  std::printf("  cpu            gateway %.2f s\n", cpu_used.value_or(-1));
  std::string json = absl::StrCat(
      "{\"scenario\":\"history_memory\",\"topics\":", topics, ",\"events\":", events,
      ",\"events_published\":", acked, ",\"publish_errors\":", errors,
      ",\"payload_bytes\":", payload_bytes, ",\"history_size\":", history_size,
      ",\"stored_events\":", stored, ",\"publish_rate\":", absl::StrFormat("%.1f", publish_rate),
      ",\"gateway_rss_before_bytes\":", OptionalBytes(rss_before),
      ",\"gateway_rss_topics_bytes\":", OptionalBytes(rss_topics),
      ",\"gateway_rss_after_bytes\":", OptionalBytes(rss_after),
      ",\"bytes_per_topic\":", OptionalNumber(per_topic),
      ",\"bytes_per_event\":", OptionalNumber(per_event),
      ",\"bytes_per_event_overall\":", OptionalNumber(per_event_overall),
      ",\"gateway_cpu_s\":", OptionalNumber(cpu_used),
      ",\"complete\":", errors == 0 && acked == events ? "true" : "false", "}");
  std::printf("RESULT %s\n", json.c_str());
  std::fflush(stdout);
  return errors == 0 && acked == events ? 0 : 2;
}

int Run() {
  signal(SIGPIPE, SIG_IGN);
  uint64_t file_limit = RaiseFileLimit();
  const std::string scenario = absl::GetFlag(FLAGS_scenario);
  if (scenario != "fanout" && scenario != "storm" && scenario != "history_memory") {
    std::cerr << "herald-bench: unknown --scenario=" << scenario
              << " (fanout, storm, history_memory)\n";
    return 1;
  }
  const std::optional<ServerProtocol> protocol = ProtocolOf(absl::GetFlag(FLAGS_server));
  if (!protocol) {
    std::cerr << "herald-bench: unknown --server=" << absl::GetFlag(FLAGS_server)
              << " (herald, nchan, node)\n";
    return 1;
  }
  if (protocol->plain && (scenario != "fanout" || !absl::GetFlag(FLAGS_start_gateway).empty())) {
    std::cerr << "herald-bench: --server=" << protocol->name
              << " runs the fanout scenario against a running server (--http, --gateway_pid)\n";
    return 1;
  }
  GatewayUnderTest gw;
  if (!SetUpGateway(&gw)) return 1;
  if (scenario == "storm") return RunStorm(gw, file_limit);
  if (scenario == "history_memory") return RunHistoryMemory(gw);
  return RunFanout(gw, *protocol, file_limit);
}

}  // namespace
}  // namespace herald::bench

int main(int argc, char** argv) {
  herald::ParseToolFlags(
      argc, argv, "herald-bench",
      "Load client for Herald: WS/SSE subscribers + gRPC publishers.\n"
      "  herald-bench --start_gateway=build/bin/herald --ws_clients=1000 --events=100000\n"
      "  herald-bench --server=nchan --http=127.0.0.1:8081 --gateway_pid=<nginx worker> \\\n"
      "      --sse_clients=1000 --ws_clients=0 --rate=1000 --events=5000   (see bench/run)\n"
      "  herald-bench --scenario=storm --start_gateway=build/bin/herald --ws_clients=1000 \\\n"
      "      --topics=10 --missed_events=100\n"
      "  herald-bench --scenario=history_memory --start_gateway=build/bin/herald \\\n"
      "      --history_size=1000 --topics=1000 --events=1000000 --payload_bytes=100\n"
      "Prints a report and one line 'RESULT {json}'. Exit 0 when every client got every event\n"
      "in order (\"complete\": true), 2 otherwise, 1 when it could not run.",
      "tests/bench/");
  return herald::bench::Run();
}
