// What every edge session needs from the rest of the gateway.
#pragma once

#include <atomic>

#include "auth/authenticator.h"
#include "client/client.h"
#include "config/config.h"
#include "edge/connection_limits.h"
#include "publish/publish_pipeline.h"
#include "edge/history_reads.h"
#include "edge/static_files.h"
#include "edge/tls_context.h"
#include "engine/engine.h"
#include "hub/hub.h"
#include "metrics/metrics.h"
#include "metrics/metrics_server.h"
#include "topic/topic_rules.h"

namespace herald {

class PresenceReads;  // edge/http_presence.h
class AuthorizerClient;  // grpc/authorizer_client.h

struct EdgeContext {
  const Config& config;
  Hub& hub;
  Engine& engine;
  Metrics& metrics;
  // Set once SIGTERM arrives: /readyz answers 503 and new streams are refused.
  const std::atomic<bool>& draining;
  const Authenticator& authenticator;
  ConnectionLimits& connections;
  PublishPipeline& publish;
  // What the connections' clients share.
  ClientContext& clients;
  // The HTTP port's TLS context; null when the port speaks plain HTTP.
  const TlsContext* tls;
  // The files under --web_root; null when static files are off.
  const StaticFiles* static_files;
  // What history reads share (/v1/history; gRPC History too).
  HistoryReads& history_reads;
  // Presence reads (/v1/presence), and the topic rules that allow them.
  PresenceReads& presence_reads;
  const TopicRulesStore& rules;
  // /metrics, /healthz and /readyz; null when --metrics_listen serves them elsewhere.
  const OperatorEndpoints* operator_endpoints = nullptr;
  // --authorizer: asked about requests without a verified credential; null without one.
  AuthorizerClient* authorizer = nullptr;
};

}  // namespace herald
