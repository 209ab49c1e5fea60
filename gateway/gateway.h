// The whole gateway: event loops, hub, engine, HTTP listener and gRPC server, and their drain.
#pragma once

#include <grpcpp/server.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <memory>
#include <thread>

#include "absl/synchronization/notification.h"

#include "absl/status/status.h"
#include "auth/authenticator.h"
#include "config/config.h"
#include "edge/edge_context.h"
#include "edge/event_loops.h"
#include "edge/listener.h"
#include "edge/static_files.h"
#include "edge/tls_context.h"
#include "engine/memory_engine.h"
#include "admin/cluster_admin.h"
#include "edge/http_presence.h"
#include "admin/node_admin.h"
#include "grpc/admin_service.h"
#include "grpc/authorizer_client.h"
#include "grpc/publisher_service.h"
#include "grpc/subscriber_service.h"
#include "hub/hub.h"
#include "metrics/metrics_server.h"

namespace herald {

class Gateway {
 public:
  Gateway(Config config, std::unique_ptr<Authenticator> authenticator);
  ~Gateway();

  // Binds both ports, starts the loops and logs the addresses it listens on.
  absl::Status Start();
  // Blocks until SIGTERM or SIGINT (SIGHUP meanwhile reloads keys and certificates), then drains: /readyz turns 503, no new connections,
  // clients are told and closed, in-flight publishes finish; returns within the shutdown
  // timeout.
  void RunUntilSignal();

  uint16_t http_port() const { return listener_ ? listener_->port() : 0; }
  int grpc_port() const { return grpc_port_; }

 private:
  void Drain();
  // Closes every client with 1001: all at once, or, with --drain_window, spread evenly over it
  // in a random order, each asked to wait up to kMostReconnectDelay before reconnecting.
  // Closing ends by `deadline`: what is left then is closed at once.
  void CloseClientsForDrain(absl::Time deadline);
  // Detaches the cluster admin from the hub, on its loop (before the loops stop).
  void StopClusterAdmin();
  // SIGHUP: re-reads the JWT keys, publisher keys, TLS certificates, topic rules and static
  // files; live connections stay.
  void Reload();
  // Closes what credentials removed by a reload, or expired, opened: PublishStream calls end
  // with UNAUTHENTICATED, clients are disconnected with 4401.
  void CloseRevoked();
  // Every second: when a publisher key's `expires=` passed since `checked_until`, closes what it
  // opened (also what was opened before a reload gave the key its expiry).
  void WatchKeyExpiry(absl::Time checked_until);
  // Opens --web_root for the edge; returns the log line saying where static files come from,
  // or why there are none.
  std::string OpenStaticFiles();
  // The engine --broker names: memory, or Redis shared with other nodes.
  std::unique_ptr<Engine> MakeEngine();
  // What each scrape adds to the metrics' own counters: the loops' writes and lag, the engine,
  // the caps, the certificate, the process.
  void CollectMetrics(PrometheusText& text);
  // The sweeper thread: one stripe of the engine's topics at a time, off the event loops.
  void RunSweeper();
  void StopSweeper();

  Config config_;
  // Installed before the ports open, so a signal that arrives early still drains.
  boost::asio::io_context signals_context_;
  boost::asio::signal_set signals_{signals_context_, SIGINT, SIGTERM, SIGHUP};
  boost::asio::steady_timer key_expiry_timer_{signals_context_};
  std::atomic<bool> draining_{false};
  Metrics metrics_;
  OperatorEndpoints operator_endpoints_;  // /metrics, /healthz, /readyz.
  std::unique_ptr<MetricsServer> metrics_server_;  // With --metrics_listen.
  std::unique_ptr<Authenticator> authenticator_;
  ConnectionLimits connection_limits_;
  HistoryReads history_reads_;  // What /v1/history and gRPC History share.
  PublishAdmission publish_admission_;
  // --topic_rules_file, shared by the hub, the engine and the publish pipeline.
  std::shared_ptr<TopicRulesStore> topic_rules_;
  // The hub, engine and edge context outlive the loops: sessions still owned by pending
  // handlers detach from the hub while the loops are destroyed.
  std::unique_ptr<Hub> hub_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<PublishPipeline> publish_pipeline_;
  std::unique_ptr<ClientRegistry> client_registry_;
  std::unique_ptr<JoinLeave> join_leave_;
  std::unique_ptr<ClientContext> client_context_;
  MemoryEngine* memory_engine_ = nullptr;  // The engine, when it is the memory engine.
  std::unique_ptr<TlsContext> tls_context_;  // Null when the HTTP port is plain.
  std::unique_ptr<StaticFiles> static_files_;  // Null when static files are off.
  std::unique_ptr<EdgeContext> edge_context_;
  EventLoops loops_;
  // After the loops: destroyed first, it waits for its calls in flight, whose answers are
  // posted to the loops.
  std::unique_ptr<AuthorizerClient> authorizer_;  // Null without --authorizer.
  absl::Notification stop_sweeper_;
  std::thread sweeper_;
  std::shared_ptr<Listener> listener_;
  // Before the cluster admin, which answers its reads in flight when it stops.
  std::unique_ptr<PresenceReads> presence_reads_;
  std::unique_ptr<NodeAdmin> node_admin_;
  std::unique_ptr<ClusterAdmin> cluster_admin_;
  bool cluster_admin_running_ = false;  // Started with the loops, stopped before them.
  std::unique_ptr<AdminService> admin_service_;
  std::unique_ptr<PublisherService> publisher_service_;
  std::unique_ptr<SubscriberService> subscriber_service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  int grpc_port_ = 0;
};

}  // namespace herald
