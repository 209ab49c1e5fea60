// The publishing side of the bench: one pipelined connection per publisher, either a gRPC
// PublishStream (Herald) or HTTP/1.1 POSTs on a keep-alive connection (nchan, a Node.js server).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace herald::bench {

struct PublishPlan {
  uint64_t events = 0;
  size_t topics = 1;
  std::string topic_prefix = "bench.";  // topic i is topic_prefix + i
  double rate = 0;  // events/s over all publishers; 0 = as fast as possible
  size_t payload_bytes = 64;
  size_t max_inflight = 1000;  // unanswered requests per connection
  // gRPC: events per PublishBatch call (at most max_inflight); 0 or 1 = one PublishStream.
  size_t batch = 0;
  // Longest a Run may take; publishing stops and unanswered requests are given up after it.
  std::chrono::seconds timeout{120};
  // Sent as "authorization: Bearer <token>" when set (gRPC only).
  std::string token;
};

struct PublishResult {
  uint64_t written = 0;
  uint64_t acked = 0;       // responses without error
  uint64_t errors = 0;      // responses with error set
  std::string first_error;  // first item error or stream failure
  int64_t first_write_unix_ns = 0;
  int64_t last_write_unix_ns = 0;
  int64_t last_ack_unix_ns = 0;
  // Highest offset answered, per topic. Over HTTP (no offsets): how many events the topic has
  // accepted from these publishers so far, which is the number a subscriber that was there from
  // the start gives its last event (see FleetOptions::plain).
  std::vector<uint64_t> last_offset_per_topic;
  std::vector<uint64_t> events_per_topic;  // events planned per topic
};

class Publishers {
 public:
  virtual ~Publishers() = default;

  // Waits until every connection is up.
  virtual bool WaitConnected(std::chrono::seconds timeout) = 0;

  // Publishes `plan.events` events: event i goes to topic i % topics, written by publisher
  // i % count at time start + i / rate. Returns when every response arrived, a connection failed
  // or plan.timeout passed.
  virtual PublishResult Run(const PublishPlan& plan) = 0;
};

// One gRPC channel (its own TCP connection) per publisher; one PublishStream per Run, or
// PublishBatch calls with plan.batch > 1.
// With `tls_ca_file` set, the channels speak TLS and trust the certificates that file holds.
std::unique_ptr<Publishers> MakeGrpcPublishers(const std::string& grpc_target, size_t count,
                                               const std::string& tls_ca_file = "");

// One keep-alive HTTP/1.1 connection per publisher to host:port, carrying pipelined
// `POST <path_prefix><topic>` requests whose body is the raw payload; any 2xx answer accepts.
std::unique_ptr<Publishers> MakeHttpPublishers(const std::string& host, uint16_t port,
                                               const std::string& path_prefix, size_t count);

}  // namespace herald::bench
