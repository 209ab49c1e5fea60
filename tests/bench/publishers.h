// The publishing side of the bench: pipelined gRPC PublishStream calls, one per publisher.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace grpc {
class Channel;
}  // namespace grpc

namespace herald::bench {

struct PublishPlan {
  uint64_t events = 0;
  size_t topics = 1;
  std::string topic_prefix = "bench.";  // topic i is topic_prefix + i
  double rate = 0;  // events/s over all publishers; 0 = as fast as possible
  size_t payload_bytes = 64;
  size_t max_inflight = 1000;  // unanswered requests per stream
  std::chrono::seconds timeout{120};
  // Sent as "authorization: Bearer <token>" when set.
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
  std::vector<uint64_t> last_offset_per_topic;  // highest offset answered, per topic
  std::vector<uint64_t> events_per_topic;       // events planned per topic
};

class Publishers {
 public:
  // One channel (its own TCP connection) per publisher.
  Publishers(const std::string& grpc_target, size_t count);
  ~Publishers();

  // Waits until every channel is connected.
  bool WaitConnected(std::chrono::seconds timeout);

  // Publishes `plan.events` events: event i goes to topic i % topics, written by publisher
  // i % count at time start + i / rate. Returns when every response arrived or a stream failed.
  PublishResult Run(const PublishPlan& plan);

 private:
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
};

}  // namespace herald::bench
