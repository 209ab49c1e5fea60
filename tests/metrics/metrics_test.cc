// Prometheus rendering of the gateway's metrics.
#include "metrics/metrics.h"

#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "metrics/prometheus_text.h"

namespace herald {
namespace {

void ExpectLines(const std::string& text, std::initializer_list<const char*> lines) {
  for (const char* line : lines) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\nin:\n" << text;
  }
}

TEST(Metrics, RendersCountersAndGaugesWithTheirLabels) {
  Metrics metrics(2);
  metrics.ConnectionOpened(TransportKind::kWebSocket);
  metrics.ConnectionOpened(TransportKind::kWebSocket);
  metrics.ConnectionClosed(TransportKind::kWebSocket, 1001);
  metrics.ConnectionOpened(TransportKind::kSse);
  metrics.ConnectionOpened(TransportKind::kGrpc);
  metrics.ConnectionClosed(TransportKind::kGrpc, 0);
  metrics.EventsDelivered(0, TransportKind::kWebSocket, 3);
  metrics.EventsDelivered(1, TransportKind::kWebSocket, 4);
  metrics.EventsDelivered(1, TransportKind::kSse);
  metrics.ServerDisconnect(4408);
  metrics.ServerDisconnect(4999);
  metrics.Published(PublishWay::kGrpc, absl::OkStatus());
  metrics.Published(PublishWay::kHttp, absl::PermissionDeniedError("no"));
  metrics.Published(PublishWay::kWebSocket, absl::ResourceExhaustedError("rate"));
  metrics.ConnectionRefused(TransportKind::kWebSocket, 401);
  metrics.ConnectionRefused(TransportKind::kSse, 418);
  metrics.Recovery(TransportKind::kSse, true);
  metrics.Recovery(TransportKind::kWebSocket, false);
  metrics.Reloaded(false);
  metrics.SetGrpcMethods({"/herald.v1.Publisher/Publish", "/herald.v1.Admin/Info"});
  size_t publish = metrics.GrpcMethodIndex("/herald.v1.Publisher/Publish");
  metrics.GrpcCallEnded(publish, 0);
  metrics.GrpcCallEnded(publish, 16);
  metrics.GrpcCallEnded(publish, 16);
  // A method a client made up counts as "other": a client cannot add series.
  metrics.GrpcCallEnded(metrics.GrpcMethodIndex("/made.Up/Anything"), 12);
  metrics.GrpcCallEnded(metrics.GrpcMethodIndex("/made.Up/Else"), 12);
  std::string text = metrics.RenderPrometheus();
  ExpectLines(text,
              {"# TYPE herald_connections gauge\n", "herald_connections{transport=\"ws\"} 1\n",
               "herald_connections{transport=\"sse\"} 1\n",
               "herald_connections{transport=\"grpc\"} 0\n",
               "herald_connects_total{transport=\"ws\"} 2\n",
               "herald_disconnects_total{transport=\"ws\",code=\"1001\"} 1\n",
               "herald_disconnects_total{transport=\"grpc\",code=\"none\"} 1\n",
               "herald_events_delivered_total{transport=\"ws\"} 7\n",
               "herald_events_delivered_total{transport=\"sse\"} 1\n",
               "herald_server_disconnects_total{code=\"4408\"} 1\n",
               "herald_server_disconnects_total{code=\"other\"} 1\n",
               "herald_events_published_total{way=\"grpc\",outcome=\"accepted\"} 1\n",
               "herald_events_published_total{way=\"http\",outcome=\"denied\"} 1\n",
               "herald_events_published_total{way=\"ws\",outcome=\"limited\"} 1\n",
               "herald_connections_refused_total{transport=\"ws\",status=\"401\"} 1\n",
               "herald_connections_refused_total{transport=\"sse\",status=\"other\"} 1\n",
               "herald_recoveries_total{transport=\"sse\",outcome=\"recovered\"} 1\n",
               "herald_recoveries_total{transport=\"ws\",outcome=\"not_recovered\"} 1\n",
               "herald_reloads_total{outcome=\"failed\"} 1\n",
               "herald_grpc_calls_total{method=\"/herald.v1.Publisher/Publish\",code=\"OK\"} 1\n",
               "herald_grpc_calls_total{method=\"/herald.v1.Publisher/Publish\",code="
               "\"UNAUTHENTICATED\"} 2\n",
               "herald_grpc_calls_total{method=\"other\",code=\"UNIMPLEMENTED\"} 2\n"});
  EXPECT_EQ(text.find("made.Up"), std::string::npos) << text;
  // A code that never happened is left out rather than listed at zero.
  EXPECT_EQ(text.find("herald_disconnects_total{transport=\"sse\""), std::string::npos) << text;
}

TEST(Metrics, CollectorsAddTheirFamiliesToEachScrape) {
  Metrics metrics(1);
  int scrapes = 0;
  metrics.AddCollector([&scrapes](PrometheusText& text) {
    ++scrapes;
    text.Family("herald_example", "gauge", "An example.");
    text.Sample("herald_example", {{"kind", "a\"b\\c\nd"}}, 2.5);
  });
  std::string text = metrics.RenderPrometheus();
  metrics.RenderPrometheus();
  EXPECT_EQ(scrapes, 2);
  ExpectLines(text, {"# HELP herald_example An example.\n# TYPE herald_example gauge\n",
                     "herald_example{kind=\"a\\\"b\\\\c\\nd\"} 2.5\n"});
}

TEST(DurationHistogram, WritesCumulativeBucketsSumAndCount) {
  DurationHistogram histogram;
  histogram.Observe(absl::Microseconds(500));  // <= 0.001
  histogram.Observe(absl::Milliseconds(3));    // <= 0.005
  histogram.Observe(absl::Seconds(30));        // +Inf only
  histogram.Observe(-absl::Seconds(1));        // A clock step back counts as no lag.
  DurationHistogram::Totals totals;
  histogram.AddTo(totals);
  histogram.AddTo(totals);  // Loops' histograms sum.
  PrometheusText text;
  totals.Write(text, "herald_lag_seconds");
  ExpectLines(text.text(), {"herald_lag_seconds_bucket{le=\"0.001\"} 4\n",
                            "herald_lag_seconds_bucket{le=\"0.0025\"} 4\n",
                            "herald_lag_seconds_bucket{le=\"0.005\"} 6\n",
                            "herald_lag_seconds_bucket{le=\"10\"} 6\n",
                            "herald_lag_seconds_bucket{le=\"+Inf\"} 8\n",
                            "herald_lag_seconds_sum 60.007\n",
                            "herald_lag_seconds_count 8\n"});
}

}  // namespace
}  // namespace herald
