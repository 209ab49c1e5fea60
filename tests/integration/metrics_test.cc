// /metrics after real traffic: promtool finds nothing to say, every series the traffic touches
// moved, --metrics_listen serves the operator endpoints on their own port, and the Grafana
// dashboard names only series the gateway exports.
#include <csignal>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "integration/gateway_test.h"
#include "support/http_request.h"
#include "support/temp_dir.h"

namespace herald::testing {
namespace {

// A scrape, sample by sample: "name{labels}" → value.
using Samples = std::map<std::string, double>;

Samples ParseSamples(const std::string& text) {
  Samples samples;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line.front() == '#') continue;
    size_t space = line.rfind(' ');
    samples[std::string(line.substr(0, space))] = std::stod(std::string(line.substr(space + 1)));
  }
  return samples;
}

// The families a scrape declares (its # TYPE lines), with their types.
std::map<std::string, std::string> Families(const std::string& text) {
  std::map<std::string, std::string> families;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, "# TYPE ")) continue;
    std::vector<std::string> words = absl::StrSplit(line, ' ');
    families[words[2]] = words[3];
  }
  return families;
}

// The sum of a family's samples whose labels contain `labels` (e.g. `transport="ws"`).
double Sum(const Samples& samples, const std::string& family, const std::string& labels = "") {
  double sum = 0;
  for (const auto& [name, value] : samples) {
    if (name != family && !absl::StartsWith(name, family + "{")) continue;
    if (!labels.empty() && !absl::StrContains(name, labels)) continue;
    sum += value;
  }
  return sum;
}

std::string SourcePath(const std::string& relative) {
  return std::string(HERALD_SOURCE_DIR) + "/" + relative;
}

class MetricsTest : public GatewayTest {
 protected:
  std::string Scrape() {
    HttpResponse response = Fetch(gateway_->metrics_port(), "GET", "/metrics");
    EXPECT_EQ(response.status, 200);
    return response.body;
  }
};

TEST_F(MetricsTest, AScrapeAfterTrafficOfEveryKindPassesPromtoolAndEverySeriesItTouchesMoved) {
  StartGateway({"--metrics_listen=127.0.0.1:0"});
  ASSERT_NE(gateway_->metrics_port(), 0);
  Samples before = ParseSamples(Scrape());

  // WebSocket: a subscriber that recovers, and publishes by command.
  ASSERT_TRUE(PublishForTest("m.a", "first").ok());
  herald::v1::PublishResponse first;
  ASSERT_TRUE(Publish(Request("m.a", "second"), &first).ok());
  std::shared_ptr<WsClient> ws = ConnectWs("/ws");
  ASSERT_TRUE(ws);
  std::optional<herald::v1::Reply> subscribed =
      SubscribeWs(*ws, 1, "m.a", TopicPositionForTest{first.epoch(), 1});
  ASSERT_TRUE(subscribed && subscribed->subscribed().recovered());
  herald::v1::ClientMessage publish;
  publish.set_id(2);
  publish.mutable_publish()->set_topic("m.a");
  publish.mutable_publish()->set_data("by command");
  ws->Send(publish);
  ASSERT_TRUE(ws->WaitForReply(2, kWait));
  // SSE and gRPC subscribers.
  std::shared_ptr<SseClient> sse = ConnectSse("/sse?topic=m.a");
  ASSERT_TRUE(sse);
  grpc::ClientContext grpc_context;
  herald::v1::SubscribeRequest grpc_request;
  grpc_request.add_topics("m.a");
  auto grpc_reader = subscriber_->Subscribe(&grpc_context, grpc_request);
  grpc_reader->WaitForInitialMetadata();
  // An HTTP publish reaches all three.
  HttpResponse http_publish = Fetch(http_port(), "POST", "/v1/publish",
                                    R"({"topic":"m.a","data":"aHR0cA=="})",
                                    {{"Content-Type", "application/json"}});
  ASSERT_EQ(http_publish.status, 200) << http_publish.body;
  herald::v1::Event event;
  ASSERT_TRUE(grpc_reader->Read(&event));
  ASSERT_TRUE(ws->WaitForEvents(3, kWait));  // The replayed one, the command's, the HTTP one.
  ASSERT_TRUE(sse->WaitForEvents(2, kWait));
  // Refusals: an SSE request without a topic, a publish without one.
  HttpResponse refused = Fetch(http_port(), "GET", "/sse");
  EXPECT_EQ(refused.status, 400);
  EXPECT_FALSE(Publish(Request("", "no topic")).ok());
  // A reload, and connections ended.
  ASSERT_TRUE(gateway_->SendSignal(SIGHUP));
  ASSERT_TRUE(gateway_->WaitForLogLine("reloaded", kWait));
  ws->Close(1000);
  ASSERT_TRUE(ws->WaitForClose(kWait));
  grpc_context.TryCancel();
  while (grpc_reader->Read(&event)) {
  }
  grpc_reader->Finish();

  std::string text;
  Samples after;
  // Disconnects are counted as the connections end, a moment after the clients see it, and a
  // reload when all of it is done.
  auto deadline = std::chrono::steady_clock::now() + kWait;
  do {
    text = Scrape();
    after = ParseSamples(text);
  } while ((Sum(after, "herald_disconnects_total", "transport=\"ws\"") < 1 ||
            Sum(after, "herald_disconnects_total", "transport=\"grpc\"") < 1 ||
            Sum(after, "herald_reloads_total") < 1) &&
           std::chrono::steady_clock::now() < deadline &&
           (std::this_thread::sleep_for(50ms), true));

  TempDir dir;
  std::string scrape_file = dir.path() + "/scrape.txt";
  std::ofstream(scrape_file) << text;
  CommandResult promtool = RunCommand("promtool check metrics < " + scrape_file + " 2>&1");
  EXPECT_EQ(promtool.exit_code, 0) << promtool.output;
  EXPECT_EQ(promtool.output, "") << text;

  struct Moved {
    std::string family;
    std::string labels;
  };
  for (const Moved& series : std::vector<Moved>{
           {"herald_connects_total", "transport=\"ws\""},
           {"herald_connects_total", "transport=\"sse\""},
           {"herald_connects_total", "transport=\"grpc\""},
           {"herald_disconnects_total", "transport=\"ws\",code=\"1000\""},
           {"herald_disconnects_total", "transport=\"grpc\""},
           {"herald_events_published_total", "way=\"grpc\",outcome=\"accepted\""},
           {"herald_events_published_total", "way=\"grpc\",outcome=\"invalid\""},
           {"herald_events_published_total", "way=\"ws\",outcome=\"accepted\""},
           {"herald_events_published_total", "way=\"http\",outcome=\"accepted\""},
           {"herald_events_delivered_total", "transport=\"ws\""},
           {"herald_events_delivered_total", "transport=\"sse\""},
           {"herald_events_delivered_total", "transport=\"grpc\""},
           {"herald_bytes_delivered_total", "transport=\"ws\""},
           {"herald_bytes_delivered_total", "transport=\"sse\""},
           {"herald_bytes_delivered_total", "transport=\"grpc\""},
           {"herald_delivery_lag_seconds_count", ""},
           {"herald_recoveries_total", "transport=\"ws\",outcome=\"recovered\""},
           {"herald_connections_refused_total", "transport=\"sse\",status=\"400\""},
           {"herald_grpc_calls_total", "method=\"/herald.v1.Publisher/Publish\",code=\"OK\""},
           {"herald_grpc_calls_total", "code=\"INVALID_ARGUMENT\""},
           {"herald_grpc_calls_total", "method=\"/herald.v1.Subscriber/Subscribe\""},
           {"herald_reloads_total", "outcome=\"succeeded\""},
           {"herald_topics", ""},
           {"herald_followed_topics", ""},
           {"herald_history_events", ""},
           {"herald_history_bytes", ""},
           {"process_cpu_seconds_total", ""},
       }) {
    EXPECT_GT(Sum(after, series.family, series.labels), Sum(before, series.family, series.labels))
        << series.family << "{" << series.labels << "}\n" << text;
  }
  EXPECT_EQ(Sum(after, "herald_connections", "transport=\"sse\""), 1) << text;
  EXPECT_EQ(Sum(after, "herald_engine_up"), 1) << text;
  EXPECT_GT(Sum(after, "process_resident_memory_bytes"), 1e6) << text;
  EXPECT_GT(Sum(after, "process_open_fds"), 5) << text;
  EXPECT_GT(Sum(after, "process_start_time_seconds"), 1.7e9) << text;
  EXPECT_EQ(Sum(after, "herald_build_info"), 1) << text;
}

TEST_F(MetricsTest, MetricsListenMovesTheOperatorEndpointsOffTheBrowserPort) {
  StartGateway({"--metrics_listen=127.0.0.1:0"});
  uint16_t metrics = gateway_->metrics_port();
  ASSERT_NE(metrics, 0);
  EXPECT_EQ(Fetch(metrics, "GET", "/healthz").status, 200);
  EXPECT_EQ(Fetch(metrics, "GET", "/readyz").body, "ready\n");
  EXPECT_EQ(Fetch(metrics, "GET", "/ws").status, 404);
  for (const char* path : {"/metrics", "/healthz", "/readyz"}) {
    EXPECT_EQ(Fetch(http_port(), "GET", path).status, 404) << path;
  }
  // The drain shows there too.
  ASSERT_TRUE(gateway_->SendSignal(SIGTERM));
  HttpResponse draining;
  auto deadline = std::chrono::steady_clock::now() + kWait;
  do {
    draining = Fetch(metrics, "GET", "/readyz");
  } while (draining.status == 200 && std::chrono::steady_clock::now() < deadline);
  if (draining.status != 0) {  // 0: it already exited.
    EXPECT_EQ(draining.status, 503);
  }
  EXPECT_EQ(gateway_->WaitForExit(kWait), 0);
}

TEST_F(MetricsTest, AnAddressThatCannotBeUsedStopsTheStart) {
  CommandResult bad = RunHerald("--metrics_listen=nowhere");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(bad.output, "is not host:port")) << bad.output;
  CommandResult not_ip = RunHerald("--metrics_listen=example.invalid:0");
  EXPECT_NE(not_ip.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(not_ip.output, "not an IP address")) << not_ip.output;
}

TEST_F(MetricsTest, EveryExpressionOfTheGrafanaDashboardNamesASeriesTheGatewayExports) {
  StartGateway({"--metrics_listen=127.0.0.1:0"});
  std::map<std::string, std::string> families = Families(Scrape());
  std::ifstream file(SourcePath("deploy/grafana/herald.json"));
  ASSERT_TRUE(file) << "deploy/grafana/herald.json";
  std::stringstream json;
  json << file.rdbuf();
  boost::json::value dashboard = boost::json::parse(json.str());
  std::vector<std::string> expressions;
  std::function<void(const boost::json::value&)> walk = [&](const boost::json::value& value) {
    if (value.is_object()) {
      for (const auto& [key, member] : value.as_object()) {
        if (key == "expr" && member.is_string()) expressions.push_back(Str(member));
        walk(member);
      }
    } else if (value.is_array()) {
      for (const boost::json::value& element : value.as_array()) walk(element);
    }
  };
  walk(dashboard);
  ASSERT_GE(expressions.size(), 10u);
  // Series names: herald_* and process_* (PromQL functions and labels are neither).
  std::regex series_name(R"(\b(herald|process)_[a-z_]+)");
  size_t names = 0;
  // Exported only with TLS on the HTTP port.
  std::set<std::string> conditional = {"herald_tls_certificate_expiry_timestamp_seconds"};
  for (const std::string& expression : expressions) {
    for (auto it = std::sregex_iterator(expression.begin(), expression.end(), series_name);
         it != std::sregex_iterator(); ++it) {
      std::string name = it->str();
      ++names;
      if (conditional.contains(name)) continue;
      std::string family = name;
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        std::string base = name.substr(0, name.size() - std::min(name.size(), strlen(suffix)));
        if (absl::EndsWith(name, suffix) && families.contains(base) &&
            families[base] == "histogram") {
          family = base;
        }
      }
      EXPECT_TRUE(families.contains(family)) << name << " in " << expression;
    }
  }
  EXPECT_GE(names, expressions.size());
}

}  // namespace
}  // namespace herald::testing
