// herald-bench: connects many WS/SSE clients, publishes over gRPC, reports throughput and latency.
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

ABSL_FLAG(std::string, http, "127.0.0.1:8080", "Gateway HTTP address (host:port) for WS/SSE.");
ABSL_FLAG(std::string, grpc, "127.0.0.1:50051", "Gateway gRPC address (host:port).");
ABSL_FLAG(std::string, start_gateway, "",
          "Path of a herald binary to start on ephemeral ports (overrides --http/--grpc).");
ABSL_FLAG(
    std::string, gateway_args, "",
    "Comma-separated extra flags for the started gateway, e.g. --threads=2,--history_size=0.");
ABSL_FLAG(int64_t, gateway_pid, 0, "Pid of an already running gateway, to report its RSS/CPU.");
ABSL_FLAG(int64_t, ws_clients, 1000, "WebSocket clients.");
ABSL_FLAG(int64_t, sse_clients, 0, "SSE clients.");
ABSL_FLAG(int64_t, topics, 1, "Topics bench.0..bench.N-1; clients and events go round-robin.");
ABSL_FLAG(int64_t, events, 100000, "Measured events in total, spread over the topics.");
ABSL_FLAG(int64_t, payload_bytes, 64, "Event payload size (at least 19: the publish time).");
ABSL_FLAG(int64_t, publishers, 1, "gRPC PublishStream calls, each on its own connection.");
ABSL_FLAG(double, rate, 0,
          "Publish rate in events/s over all publishers; 0 = as fast as possible.");
ABSL_FLAG(int64_t, max_inflight, 1000, "Unanswered publishes allowed per stream.");
ABSL_FLAG(int64_t, client_threads, 1, "io_context threads running the WS/SSE clients.");
ABSL_FLAG(int64_t, connect_concurrency, 256, "Connection attempts in flight per client thread.");
ABSL_FLAG(int64_t, warmup_events, 1000, "Events published and awaited before measuring.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(120),
          "Longest wait for the measured phase (publishing plus delivery).");
ABSL_FLAG(absl::Duration, connect_timeout, absl::Seconds(60), "Longest wait for connecting.");

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

int Run() {
  signal(SIGPIPE, SIG_IGN);
  uint64_t file_limit = RaiseFileLimit();

  const size_t ws_clients = SizeFlag(FLAGS_ws_clients);
  const size_t sse_clients = SizeFlag(FLAGS_sse_clients);
  const size_t topics = std::max<size_t>(1, SizeFlag(FLAGS_topics));
  const size_t publisher_count = std::max<size_t>(1, SizeFlag(FLAGS_publishers));
  const size_t payload_bytes = std::max(SizeFlag(FLAGS_payload_bytes), kStampDigits);
  const auto timeout = absl::ToChronoSeconds(absl::GetFlag(FLAGS_timeout));
  const size_t clients_total = ws_clients + sse_clients;
  if (file_limit < clients_total + 64) {
    std::cerr << "herald-bench: warning: RLIMIT_NOFILE is " << file_limit << " for "
              << clients_total << " clients\n";
  }

  // The gateway: started here, or already running.
  GatewayProcess gateway;
  std::string http_text = absl::GetFlag(FLAGS_http);
  std::string grpc_text = absl::GetFlag(FLAGS_grpc);
  pid_t gateway_pid = static_cast<pid_t>(absl::GetFlag(FLAGS_gateway_pid));
  const std::string start_gateway = absl::GetFlag(FLAGS_start_gateway);
  if (!start_gateway.empty()) {
    std::vector<std::string> extra;
    for (absl::string_view arg :
         absl::StrSplit(absl::GetFlag(FLAGS_gateway_args), ',', absl::SkipEmpty())) {
      extra.emplace_back(arg.data(), arg.size());
    }
    std::string error;
    if (!gateway.Start(start_gateway, extra, std::chrono::seconds(30), &error)) {
      std::cerr << "herald-bench: cannot start gateway: " << error << "\n";
      return 1;
    }
    http_text = gateway.http_address();
    grpc_text = gateway.grpc_address();
    gateway_pid = gateway.pid();
    std::cerr << "herald-bench: started " << start_gateway << " " << absl::StrJoin(extra, " ")
              << " (pid " << gateway_pid << ") http=" << http_text << " grpc=" << grpc_text << "\n";
  }
  std::optional<Address> http = ParseAddress(http_text);
  if (!http) {
    std::cerr << "herald-bench: bad --http address " << http_text << "\n";
    return 1;
  }
  auto rss = [&]() -> std::optional<uint64_t> {
    if (gateway_pid <= 0) return std::nullopt;
    return ReadRssBytes(gateway_pid);
  };
  auto gateway_cpu = [&]() -> std::optional<double> {
    if (gateway_pid <= 0) return std::nullopt;
    return ReadProcessCpuSeconds(gateway_pid);
  };
  std::optional<uint64_t> rss_before = rss();

  auto publishers = std::make_unique<Publishers>(grpc_text, publisher_count);
  if (!publishers->WaitConnected(std::chrono::seconds(10))) {
    std::cerr << "herald-bench: cannot connect to gRPC " << grpc_text << "\n";
    return 1;
  }

  // Connect every client and wait for each first message.
  FleetOptions fleet_options;
  fleet_options.http_host = http->host;
  fleet_options.http_port = http->port;
  fleet_options.ws_clients = ws_clients;
  fleet_options.sse_clients = sse_clients;
  fleet_options.topics = topics;
  fleet_options.threads = std::max<size_t>(1, SizeFlag(FLAGS_client_threads));
  fleet_options.connect_concurrency = std::max<size_t>(1, SizeFlag(FLAGS_connect_concurrency));
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
  plan.topics = topics;
  plan.rate = absl::GetFlag(FLAGS_rate);
  plan.payload_bytes = payload_bytes;
  plan.max_inflight = std::max<size_t>(1, SizeFlag(FLAGS_max_inflight));
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
  const uint64_t events = SizeFlag(FLAGS_events);
  plan.events = events;
  std::optional<double> gateway_cpu_start = gateway_cpu();
  double bench_cpu_start = SelfCpuSeconds();
  auto measure_deadline = std::chrono::steady_clock::now() + timeout;
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

  FleetReport report = fleet.Stop();
  publishers.reset();  // closes the gRPC connections before the gateway drains
  std::string gateway_exit;
  if (!start_gateway.empty()) {
    auto stop_start = std::chrono::steady_clock::now();
    gateway_exit = gateway.Stop(std::chrono::seconds(15));
    std::cerr << absl::StrFormat(
        "herald-bench: gateway stopped (%s) in %.3f s\n", gateway_exit,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - stop_start).count());
  }

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
  std::printf("herald-bench\n");
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
      "  cpu            gateway %.2f s, bench %.2f s during the measured phase "
      "(bench total %.2f s)\n",
      gateway_cpu_used.value_or(-1), bench_cpu, bench_cpu_total);

  // One machine-readable line.
  auto optional_number = [](std::optional<double> value) {
    return value ? absl::StrFormat("%.3f", *value) : std::string("null");
  };
  auto optional_bytes = [](std::optional<uint64_t> value) {
    return value ? absl::StrCat(*value) : std::string("null");
  };
  std::string json = absl::StrCat(
      "{\"clients\":", connected, ",\"clients_requested\":", clients_total,
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
      ",\"timed_out\":", timed_out ? "true" : "false",
      ",\"complete\":", complete ? "true" : "false", "}");
  std::printf("RESULT %s\n", json.c_str());
  std::fflush(stdout);
  return complete ? 0 : 2;
}

}  // namespace
}  // namespace herald::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Load client for Herald: WS/SSE subscribers + gRPC publishers.\n"
      "  herald-bench --start_gateway=build/bin/herald --ws_clients=1000 --events=100000\n"
      "Prints a report and one line 'RESULT {json}'. Exit 0 when every client got every event\n"
      "in order (\"complete\": true), 2 otherwise, 1 when it could not run.");
  absl::ParseCommandLine(argc, argv);
  return herald::bench::Run();
}
