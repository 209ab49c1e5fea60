// Prometheus rendering of the gateway's metrics.
#include "metrics/metrics.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

TEST(Metrics, RendersCountersAndGaugesWithTheirLabels) {
  Metrics metrics(2);
  metrics.ConnectionOpened(TransportKind::kWebSocket);
  metrics.ConnectionOpened(TransportKind::kWebSocket);
  metrics.ConnectionClosed(TransportKind::kWebSocket);
  metrics.ConnectionOpened(TransportKind::kSse);
  metrics.EventPublished();
  metrics.EventsDelivered(0, TransportKind::kWebSocket, 3);
  metrics.EventsDelivered(1, TransportKind::kWebSocket, 4);
  metrics.EventsDelivered(1, TransportKind::kSse);
  metrics.ServerDisconnect(4408);
  metrics.ServerDisconnect(4999);
  std::string text = metrics.RenderPrometheus();
  for (const char* line :
       {"# TYPE herald_connections gauge\n", "herald_connections{transport=\"ws\"} 1\n",
        "herald_connections{transport=\"sse\"} 1\n", "herald_connections{transport=\"grpc\"} 0\n",
        "herald_events_published_total 1\n",
        "herald_events_delivered_total{transport=\"ws\"} 7\n",
        "herald_events_delivered_total{transport=\"sse\"} 1\n",
        "herald_server_disconnects_total{code=\"4408\"} 1\n",
        "herald_server_disconnects_total{code=\"other\"} 1\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\nin:\n" << text;
  }
}

}  // namespace
}  // namespace herald
