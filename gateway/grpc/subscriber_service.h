// The gRPC Subscriber service: a server stream of events for internal consumers.
#pragma once

#include <atomic>

#include "auth/authenticator.h"
#include "client/client.h"
#include "config/config.h"
#include "edge/history_reads.h"
#include "edge/connection_limits.h"
#include "edge/event_loops.h"
#include "engine/engine.h"
#include "herald/v1/subscriber.grpc.pb.h"
#include "hub/hub.h"
#include "metrics/metrics.h"

namespace herald {

// Both methods are registered raw: each event is written as the bytes it is kept in, shared by
// every consumer and every history answer, not parsed or serialized again per call.
class SubscriberService final
    : public herald::v1::Subscriber::WithRawCallbackMethod_Subscribe<
          herald::v1::Subscriber::WithRawCallbackMethod_History<
              herald::v1::Subscriber::CallbackService>> {
 public:
  // New subscriptions are refused with UNAVAILABLE once `clients.draining` is set. Each
  // Subscribe call holds a place under `connections`, as a WebSocket or SSE connection does.
  SubscriberService(ClientContext& clients, Engine& engine, const Authenticator& authenticator,
                    EventLoops& loops, ConnectionLimits& connections,
                    HistoryReads& history_reads);

  // herald::v1::Subscriber::CallbackService:
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Subscribe(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes) override;
  grpc::ServerUnaryReactor* History(grpc::CallbackServerContext* context,
                                    const grpc::ByteBuffer* request_bytes,
                                    grpc::ByteBuffer* response) override;

 private:
  ClientContext& clients_;
  Engine& engine_;
  const Authenticator& authenticator_;
  EventLoops& loops_;  // Loop i runs shard i: each call's expiry timer runs on its shard's.
  ConnectionLimits& connections_;
  HistoryReads& history_reads_;  // Shared with /v1/history.
  std::atomic<size_t> next_shard_{0};
};

}  // namespace herald
