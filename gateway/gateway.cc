// Wiring of the gateway's parts, start and drain.
#include "gateway.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_builder.h>


#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/memory_engine.h"
#include "engine/redis_engine.h"
#include "grpc/server_credentials.h"
#include "grpc/call_metrics.h"
#include "log.h"
#include "metrics/process_metrics.h"

namespace herald {
namespace {

// How often each topic's expired history is dropped and idle topics are forgotten.
constexpr absl::Duration kSweepInterval = absl::Seconds(5);
// The most a drain asks a client to wait before it reconnects (Disconnect::reconnect_after).
constexpr absl::Duration kMostReconnectDelay = absl::Seconds(1);
// How long publishes still in flight at the end of a drain may take.
constexpr absl::Duration kGrpcGrace = absl::Milliseconds(500);

}  // namespace

Gateway::Gateway(Config config, std::unique_ptr<Authenticator> authenticator)
    : config_(std::move(config)),
      metrics_(static_cast<size_t>(config_.threads)),
      operator_endpoints_([this] { return metrics_.RenderPrometheus(); }, draining_,
                          [this] { return engine_->ready(); }),
      authenticator_(std::move(authenticator)),
      connection_limits_({.total = config_.max_connections,
                          .per_ip = config_.max_connections_per_ip,
                          .per_credential = config_.max_connections_per_credential,
                          .pending = config_.max_pending_connections}),
      history_reads_(config_.max_history_answer_bytes, config_.history_rate),
      publish_admission_(config_.publish_rate, config_.max_delivery_lag,
                         [this] { return hub_->DeliveryLag(); },
                         [this] { return hub_->WriteBacklogged(); }, metrics_),
      topic_rules_(std::make_shared<TopicRulesStore>(config_.topic_rules_file,
                                                     config_.DefaultTopicRule())),
      loops_(static_cast<size_t>(config_.threads)) {
  hub_ = std::make_unique<Hub>(loops_.HubLoops(), topic_rules_);
  engine_ = MakeEngine();
  hub_->set_engine(engine_.get());
  publish_pipeline_ = std::make_unique<PublishPipeline>(
      config_.max_message_bytes, *engine_, publish_admission_, metrics_, topic_rules_);
  client_registry_ = std::make_unique<ClientRegistry>(loops_.HubLoops());
  join_leave_ = std::make_unique<JoinLeave>(*engine_, topic_rules_);
  client_context_ = std::make_unique<ClientContext>(
      ClientContext{config_, *hub_, *publish_pipeline_, *authenticator_, metrics_,
                    *client_registry_, *join_leave_, draining_});
  node_admin_ = std::make_unique<NodeAdmin>(config_.node, *client_registry_);
  cluster_admin_ = std::make_unique<ClusterAdmin>(config_.node, *hub_, /*shard=*/0,
                                                  loops_.context(0), *engine_, *node_admin_);
  presence_reads_ = std::make_unique<PresenceReads>(*cluster_admin_);
  edge_context_ = std::make_unique<EdgeContext>(
      EdgeContext{config_, *hub_, *engine_, metrics_, draining_, *authenticator_,
                  connection_limits_, *publish_pipeline_, *client_context_, nullptr, nullptr,
                  history_reads_, *presence_reads_, *topic_rules_});
  if (!config_.metrics_listen) edge_context_->operator_endpoints = &operator_endpoints_;
  if (!config_.auth.authorizer.empty()) {
    authorizer_ = std::make_unique<AuthorizerClient>(
        AuthorizerOptions{.target = config_.auth.authorizer,
                          .timeout = config_.auth.authorizer_timeout,
                          .headers = config_.auth.authorizer_headers,
                          .max_calls = config_.auth.authorizer_max_calls,
                          .cache_ttl = config_.auth.authorizer_cache_ttl});
    edge_context_->authorizer = authorizer_.get();
  }
  metrics_.SetGrpcMethods(ServedGrpcMethods());
  metrics_.AddCollector([this](PrometheusText& text) { CollectMetrics(text); });
  metrics_.AddCollector(WriteProcessMetrics);
}

void Gateway::CollectMetrics(PrometheusText& text) {
  std::array<uint64_t, kTransportKinds> sent{};
  uint64_t queued = 0;
  DurationHistogram::Totals lag;
  for (size_t loop = 0; loop < hub_->shard_count(); ++loop) {
    const LoopLoad& load = hub_->load(loop);
    for (size_t t = 0; t < kTransportKinds; ++t) sent[t] += load.sent_bytes(TransportKind(t));
    queued += load.queued_bytes();
    load.delivery_lag().AddTo(lag);
  }
  text.Family("herald_bytes_delivered_total", "counter",
              "Bytes written to subscribers' connections: events, replies and protocol frames "
              "(frame headers and TLS aside).");
  for (size_t t = 0; t < kTransportKinds; ++t) {
    text.Sample("herald_bytes_delivered_total", {{"transport", TransportLabel(TransportKind(t))}},
                sent[t]);
  }
  text.Family("herald_delivery_lag_seconds", "histogram",
              "From a publish accepted to its event written to a subscriber's socket (to the "
              "millisecond; at most one event timed per connection and write).");
  lag.Write(text, "herald_delivery_lag_seconds");
  text.Single("herald_delivery_lag_current_seconds", "gauge",
              "The delivery lag --max_delivery_lag acts on: the longest any loop's events wait "
              "to be handed out or, on a loop behind on its writes, to be written.",
              absl::ToDoubleSeconds(hub_->DeliveryLag()));
  if (config_.max_delivery_lag > absl::ZeroDuration()) {
    text.Single("herald_delivery_lag_limit_seconds", "gauge",
                "--max_delivery_lag: past it, publishes are refused as overloaded.",
                absl::ToDoubleSeconds(config_.max_delivery_lag));
  }
  text.Single("herald_queued_bytes", "gauge",
              "Bytes waiting in subscribers' connection queues (each connection's share is "
              "counted in steps of 64 KiB).",
              queued);
  text.Single("herald_followed_topics", "gauge", "Topics this node's clients follow.",
              uint64_t{hub_->followed_topic_count()});
  if (config_.max_connections > 0) {
    text.Single("herald_connections_limit", "gauge", "--max_connections.",
                uint64_t{config_.max_connections});
  }

  Engine::Stats engine = engine_->stats();
  text.Single("herald_engine_up", "gauge",
              "1 while the engine accepts publishes (with Redis: every master connected).",
              uint64_t{engine.up ? 1u : 0u});
  text.Single("herald_engine_errors_total", "counter",
              "Engine faults: Redis connections lost, commands failed or refused.", engine.errors);
  text.Single("herald_engine_reconnects_total", "counter",
              "Redis connections made again after one was lost.", engine.reconnects);
  if (engine.topics) {
    text.Single("herald_topics", "gauge",
                "Topics the memory engine holds (history, positions, idempotency keys).",
                *engine.topics);
    if (config_.max_topics > 0) {
      text.Single("herald_topics_limit", "gauge", "--max_topics.", uint64_t{config_.max_topics});
    }
  }
  if (engine.history_events && engine.history_bytes) {
    text.Single("herald_history_events", "gauge", "Events the memory engine keeps in history.",
                *engine.history_events);
    text.Single("herald_history_bytes", "gauge",
                "Bytes the memory engine's history holds (payloads and their bookkeeping).",
                *engine.history_bytes);
    if (config_.max_history_bytes > 0) {
      text.Single("herald_history_bytes_limit", "gauge", "--max_history_bytes.",
                  uint64_t{config_.max_history_bytes});
    }
  }
  if (int64_t expiry = tls_context_ ? tls_context_->CertificateExpiry() : 0; expiry != 0) {
    text.Single("herald_tls_certificate_expiry_timestamp_seconds", "gauge",
                "When the HTTP port's certificate expires (its notAfter), in Unix seconds.",
                expiry);
  }
}

std::unique_ptr<Engine> Gateway::MakeEngine() {
  if (config_.redis) {
    RedisEngineOptions options;
    options.address = *config_.redis;
    options.history_size = config_.history_size;
    options.history_ttl = config_.history_ttl;
    options.rules = topic_rules_;
    options.idempotency_window = config_.idempotency_window;
    options.timeout = config_.redis_timeout;
    options.wait_replicas = config_.redis_wait_replicas;
    return std::make_unique<RedisEngine>(*hub_, std::move(options));
  }
  MemoryEngineOptions options;
  options.history_size = config_.history_size;
  options.history_ttl = config_.history_ttl;
  options.rules = topic_rules_;
  options.idempotency_window = config_.idempotency_window;
  options.max_topics = config_.max_topics;
  options.max_topics_per_credential = config_.max_topics_per_credential;
  options.max_history_bytes = config_.max_history_bytes;
  options.max_topic_history_bytes = config_.max_topic_history_bytes;
  options.max_history_bytes_per_credential = config_.max_history_bytes_per_credential;
  options.max_keys_total = config_.max_idempotency_keys;
  options.max_keys_per_publisher = config_.max_idempotency_keys_per_publisher;
  auto engine = std::make_unique<MemoryEngine>(*hub_, std::move(options));
  memory_engine_ = engine.get();
  return engine;
}

Gateway::~Gateway() {
  // Its scrapes read the hub and the engine.
  metrics_server_.reset();
  StopSweeper();
  if (grpc_server_) grpc_server_->Shutdown();
  StopClusterAdmin();
  loops_.Stop();
  // The engine goes while the loops' contexts still exist: work it still holds may own
  // sessions, whose sockets belong to those contexts. Sessions destroyed later detach from a
  // hub that no longer has an engine.
  hub_->set_engine(nullptr);
  join_leave_->Stop();
  engine_.reset();
}

absl::Status Gateway::Start() {
  // A rules file with a mistake never falls back to the defaults: the gateway does not start.
  if (absl::Status rules = topic_rules_->Load(); !rules.ok()) return rules;
  if (config_.http_tls()) {
    absl::StatusOr<std::unique_ptr<TlsContext>> tls =
        TlsContext::Load(config_.tls_cert_file, config_.tls_key_file);
    if (!tls.ok()) return tls.status();
    tls_context_ = *std::move(tls);
    edge_context_->tls = tls_context_.get();
  }
  std::string static_files_line = OpenStaticFiles();
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> grpc_credentials =
      GrpcServerCredentials(config_);
  if (!grpc_credentials.ok()) return grpc_credentials.status();
  absl::StatusOr<std::shared_ptr<Listener>> listener =
      Listener::Bind(loops_, *edge_context_, config_.http_host, config_.http_port);
  if (!listener.ok()) return listener.status();
  listener_ = *std::move(listener);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  publisher_service_ = std::make_unique<PublisherService>(*authenticator_, *publish_pipeline_);
  subscriber_service_ =
      std::make_unique<SubscriberService>(*client_context_, *engine_, *authenticator_, loops_,
                                          connection_limits_, history_reads_);
  admin_service_ = std::make_unique<AdminService>(*authenticator_, *cluster_admin_, *engine_);
  grpc::ServerBuilder builder;
  // gRPC shares a port with any other process by default (SO_REUSEPORT): a second gateway on the
  // same port would start and silently take part of the publishers. It must fail instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(config_.grpc_listen, *grpc_credentials, &grpc_port_);
  // Well above the event limit, so an oversized item gets its own INVALID_ARGUMENT and its
  // PublishStream goes on; only a message past this ends a stream (gRPC cannot read it).
  builder.SetMaxReceiveMessageSize(static_cast<int>(config_.max_message_bytes * 4 + (1 << 20)));
  builder.RegisterService(publisher_service_.get());
  builder.RegisterService(subscriber_service_.get());
  builder.RegisterService(admin_service_.get());
  builder.experimental().SetInterceptorCreators(CallMetricsInterceptors(metrics_));
  grpc_server_ = builder.BuildAndStart();
  if (!grpc_server_ || grpc_port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", config_.grpc_listen));
  }

  std::string metrics_line;
  if (config_.metrics_listen) {
    absl::StatusOr<std::unique_ptr<MetricsServer>> server = MetricsServer::Start(
        config_.metrics_listen->host, config_.metrics_listen->port, operator_endpoints_);
    if (!server.ok()) return server.status();
    metrics_server_ = *std::move(server);
    metrics_line = absl::StrCat(" metrics=", config_.metrics_listen->host, ":",
                                metrics_server_->port());
  }

  loops_.Start();
  listener_->Start();
  cluster_admin_->Start();
  cluster_admin_running_ = true;
  if (memory_engine_) sweeper_ = std::thread([this] { RunSweeper(); });
  LogInfo(config_.Describe());
  LogInfo(static_files_line);
  LogInfo(authenticator_->Describe());
  if (!config_.topic_rules_file.empty()) LogInfo(topic_rules_->current()->Describe());
  if (authenticator_->open() && authorizer_) {
    LogWarning(
        "no JWT key or publisher keys are configured: browsers are asked about at --authorizer, "
        "but every gRPC call may publish to and subscribe to every topic. Set "
        "--publisher_keys_file before exposing the gRPC port.");
  } else if (authenticator_->open()) {
    LogWarning(
        "AUTH IS OFF: no JWT key or publisher keys are configured, so every client may "
        "subscribe to and publish on every topic. Set --jwt_hs256_secret_file, "
        "--jwt_public_key_file or --publisher_keys_file (and --auth=required) before exposing "
        "this gateway.");
  }
  std::string grpc_host = config_.grpc_listen.substr(0, config_.grpc_listen.rfind(':'));
  LogListening(absl::StrCat("herald listening http=", config_.http_host, ":", listener_->port(),
                            " grpc=", grpc_host, ":", grpc_port_, metrics_line));
  return absl::OkStatus();
}

std::string Gateway::OpenStaticFiles() {
  if (config_.web_root.empty()) return "static files are off: --web_root=none";
  // A missing web root is not an error: a gateway may serve no browser app at all.
  absl::StatusOr<std::unique_ptr<StaticFiles>> files = StaticFiles::Open(config_.web_root);
  if (!files.ok()) return absl::StrCat("static files are off: ", files.status().message());
  static_files_ = *std::move(files);
  edge_context_->static_files = static_files_.get();
  return static_files_->Describe();
}

void Gateway::RunSweeper() {
  constexpr size_t kStripes = MemoryEngine::kStripes;
  size_t stripe = 0;
  while (!stop_sweeper_.WaitForNotificationWithTimeout(kSweepInterval / kStripes)) {
    memory_engine_->SweepStripe(stripe, [this](absl::string_view topic) {
      return hub_->HasSubscribers(topic);
    });
    stripe = (stripe + 1) % kStripes;
  }
}

void Gateway::StopSweeper() {
  if (!sweeper_.joinable()) return;
  stop_sweeper_.Notify();
  sweeper_.join();
}

void Gateway::RunUntilSignal() {
  int received = 0;
  std::function<void()> wait = [&] {
    signals_.async_wait([&](const boost::system::error_code& error, int signal) {
      if (error) return;
      if (signal == SIGHUP) {
        Reload();
        wait();
        return;
      }
      received = signal;
      signals_context_.stop();  // Also when the expiry timer's handler is already queued.
    });
  };
  wait();
  WatchKeyExpiry(absl::Now());
  signals_context_.run();
  LogInfo(absl::StrCat("signal ", received, ": draining"));
  Drain();
}

void Gateway::Reload() {
  bool ok = true;
  if (tls_context_) {
    if (absl::Status status = tls_context_->Reload(); !status.ok()) {
      ok = false;
      LogError(absl::StrCat("reload: TLS certificate kept as it was: ", status.ToString()));
    } else {
      LogInfo("reloaded: TLS certificate");
    }
  }
  if (absl::Status status = authenticator_->Reload(); !status.ok()) {
    ok = false;
    LogError(absl::StrCat("reload: keys kept as they were: ", status.ToString()));
  } else {
    LogInfo(absl::StrCat("reloaded: ", authenticator_->Describe()));
    CloseRevoked();
  }
  if (!config_.topic_rules_file.empty()) {
    if (absl::Status status = topic_rules_->Load(); !status.ok()) {
      ok = false;
      LogError(absl::StrCat("reload: topic rules kept as they were: ", status.ToString()));
    } else {
      LogInfo(absl::StrCat("reloaded: ", topic_rules_->current()->Describe()));
    }
  }
  if (static_files_) {
    if (absl::Status status = static_files_->Reload(); !status.ok()) {
      ok = false;
      LogError(absl::StrCat("reload: static files kept as they were: ", status.ToString()));
    } else {
      LogInfo(absl::StrCat("reloaded: ", static_files_->Describe()));
    }
  }
  metrics_.Reloaded(ok);
}

void Gateway::WatchKeyExpiry(absl::Time checked_until) {
  key_expiry_timer_.expires_after(std::chrono::seconds(1));
  key_expiry_timer_.async_wait([this, checked_until](const boost::system::error_code& error) {
    if (error) return;
    absl::Time now = absl::Now();
    if (authenticator_->KeyExpiredBetween(checked_until, now)) {
      LogInfo("a publisher key expired: closing what it opened");
      CloseRevoked();
    }
    WatchKeyExpiry(now);
  });
}

void Gateway::CloseRevoked() {
  auto revoked = [&authenticator = *authenticator_](const Grant& grant) {
    return authenticator.Revoked(grant);
  };
  publisher_service_->EndStreamsOf(
      revoked, grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "the publisher key was revoked"));
  client_registry_->ForEach([revoked](Client& client) {
    if (revoked(client.grant())) client.Disconnect(kDisconnectCredentialRevoked);
  });
}

void Gateway::StopClusterAdmin() {
  if (!cluster_admin_running_) return;
  cluster_admin_running_ = false;
  absl::Notification stopped;
  boost::asio::post(loops_.context(0), [this, &stopped] {
    cluster_admin_->Stop();
    stopped.Notify();
  });
  stopped.WaitForNotification();
}

void Gateway::CloseClientsForDrain(absl::Time deadline) {
  if (config_.drain_window <= absl::ZeroDuration()) {
    client_registry_->ForEach([](Client& client) { client.Disconnect(kDisconnectShutdown); });
    return;
  }
  // The clients there now; one that becomes live later is closed at once (Client::OnConnected).
  // Shared with the loops: one that answers after the deadline finds it still there.
  struct Listed {
    std::weak_ptr<Client> client;
    boost::asio::io_context* loop;
  };
  struct Listing {
    absl::Mutex mutex;
    std::vector<Listed> clients ABSL_GUARDED_BY(mutex);
    absl::Notification done;
  };
  auto listing = std::make_shared<Listing>();
  client_registry_->ForEach(
      [listing](Client& client) {
        absl::MutexLock lock(&listing->mutex);
        listing->clients.push_back({client.weak_from_this(), &client.loop()});
      },
      [listing] { listing->done.Notify(); });
  // The last second of the deadline is the clients' to leave.
  if (!listing->done.WaitForNotificationWithDeadline(deadline - absl::Seconds(1))) {
    LogWarning("drain: the event loops did not list their clients in time");
  }
  std::vector<Listed> clients;
  {
    absl::MutexLock lock(&listing->mutex);
    clients = std::move(listing->clients);
  }
  // A random order: a topic's or a user's clients do not all go in the same moment.
  std::mt19937_64 random(std::random_device{}());
  std::shuffle(clients.begin(), clients.end(), random);
  absl::Duration most_delay = std::min(kMostReconnectDelay, config_.drain_window);
  std::uniform_int_distribution<int64_t> delay_ms(
      1, std::max<int64_t>(1, absl::ToInt64Milliseconds(most_delay)));
  // The last closes leave the clients a second of the shutdown timeout to leave.
  absl::Time start = absl::Now();
  absl::Duration window =
      std::max(absl::ZeroDuration(),
               std::min(config_.drain_window, deadline - absl::Seconds(1) - start));
  LogInfo(absl::StrCat("draining: closing ", clients.size(), " clients over ",
                       absl::FormatDuration(window)));
  for (size_t i = 0; i < clients.size(); ++i) {
    absl::Time due =
        start + window * static_cast<double>(i) / static_cast<double>(clients.size());
    // Clients due within a few milliseconds go together: no sleep per client.
    if (absl::Duration wait = due - absl::Now(); wait > absl::Milliseconds(2)) {
      // Every listed client left on its own: nothing to wait for.
      if (client_registry_->count() == 0) break;
      absl::SleepFor(wait);
    }
    Disconnect disconnect = kDisconnectShutdown;
    disconnect.reconnect_after = absl::Milliseconds(delay_ms(random));
    boost::asio::post(*clients[i].loop, [client = std::move(clients[i].client), disconnect] {
      if (std::shared_ptr<Client> live = client.lock()) live->Disconnect(disconnect);
    });
  }
}

void Gateway::Drain() {
  absl::Time deadline = absl::Now() + config_.shutdown_timeout;
  // The listener keeps answering during the drain: /readyz says 503 so load balancers move
  // traffic away, and new /ws and /sse requests are refused with 503.
  draining_.store(true);
  publisher_service_->DrainStreams();
  // Every client, whether or not it follows a topic yet.
  CloseClientsForDrain(deadline);
  while (client_registry_->count() > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  listener_->Stop();
  StopSweeper();
  // Streams are ended by now; a unary publish still running gets a short grace, then gRPC
  // cancels what is left (idle client connections would otherwise hold the shutdown).
  grpc_server_->Shutdown(absl::ToChronoTime(std::min(deadline, absl::Now() + kGrpcGrace)));
  size_t left = client_registry_->count();
  StopClusterAdmin();
  loops_.Stop();
  if (left > 0) {
    LogWarning(absl::StrCat("drained: ", left, " clients cut at the shutdown deadline"));
  } else {
    LogInfo("drained");
  }
}

}  // namespace herald
