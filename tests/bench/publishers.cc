// The publishing side of the bench: pipelined gRPC PublishStream calls, one per publisher.
#include "publishers.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <semaphore>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "herald/v1/publisher.grpc.pb.h"
#include "payload.h"

namespace herald::bench {

namespace {

using Stream = grpc::ClientReaderWriter<herald::v1::PublishRequest, herald::v1::PublishResponse>;

// What one publisher's stream did.
struct StreamResult {
  uint64_t written = 0;
  uint64_t acked = 0;
  uint64_t errors = 0;
  std::string first_error;
  int64_t first_write_unix_ns = 0;
  int64_t last_write_unix_ns = 0;
  int64_t last_ack_unix_ns = 0;
  std::vector<uint64_t> last_offset_per_topic;
};

// Runs publisher `index` of `count`: a writer thread (this one) and a reader thread.
StreamResult RunStream(herald::v1::Publisher::Stub& stub, const PublishPlan& plan, size_t index,
                       size_t count) {
  StreamResult result;
  result.last_offset_per_topic.assign(plan.topics, 0);
  std::vector<std::string> topic_names;
  for (size_t t = 0; t < plan.topics; ++t) topic_names.push_back(plan.topic_prefix + std::to_string(t));
  uint64_t mine = plan.events > index ? (plan.events - index + count - 1) / count : 0;
  if (mine == 0) return result;

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + plan.timeout);
  if (!plan.token.empty()) context.AddMetadata("authorization", "Bearer " + plan.token);
  std::unique_ptr<Stream> stream = stub.PublishStream(&context);
  std::counting_semaphore<> inflight(
      static_cast<ptrdiff_t>(std::max<size_t>(1, plan.max_inflight)));
  std::atomic<bool> broken{false};

  std::thread reader([&] {
    herald::v1::PublishResponse response;
    for (uint64_t i = 0; i < mine; ++i) {
      if (!stream->Read(&response)) {
        broken.store(true);
        break;
      }
      result.last_ack_unix_ns = UnixNowNs();
      inflight.release();
      if (response.has_error() && response.error().code() != 0) {
        if (result.errors++ == 0) {
          result.first_error = "item error " + std::to_string(response.error().code()) + ": " +
                               response.error().message();
        }
        continue;
      }
      ++result.acked;
      // request_id is the event's index: its topic is index % topics.
      uint64_t event = 0;
      const std::string& id = response.request_id();
      std::from_chars(id.data(), id.data() + id.size(), event);
      uint64_t& last = result.last_offset_per_topic[event % plan.topics];
      last = std::max(last, response.offset());
    }
  });

  herald::v1::PublishRequest request;
  request.set_content_type("text/plain");
  std::string payload;
  auto start = std::chrono::steady_clock::now();
  for (uint64_t k = 0; k < mine && !broken.load(); ++k) {
    uint64_t event = k * count + index;
    if (plan.rate > 0) {
      auto due = start + std::chrono::nanoseconds(
                             static_cast<int64_t>(static_cast<double>(event) * 1e9 / plan.rate));
      std::this_thread::sleep_until(due);
    }
    while (!inflight.try_acquire_for(std::chrono::milliseconds(100))) {
      if (broken.load()) break;
    }
    if (broken.load()) break;
    request.set_topic(topic_names[event % plan.topics]);
    request.set_request_id(std::to_string(event));
    int64_t now = UnixNowNs();
    FillPayload(now, plan.payload_bytes, &payload);
    request.set_data(payload);
    if (result.written == 0) result.first_write_unix_ns = now;
    if (!stream->Write(request)) {
      broken.store(true);
      break;
    }
    result.last_write_unix_ns = now;
    ++result.written;
  }
  stream->WritesDone();
  reader.join();
  grpc::Status status = stream->Finish();
  if (!status.ok() && result.first_error.empty()) {
    result.first_error =
        "stream: " + std::to_string(status.error_code()) + " " + status.error_message();
  }
  return result;
}

}  // namespace

Publishers::Publishers(const std::string& grpc_target, size_t count) {
  for (size_t i = 0; i < std::max<size_t>(1, count); ++i) {
    grpc::ChannelArguments args;
    // Separate subchannels, so each publisher has its own TCP connection.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("herald.bench.publisher", static_cast<int>(i));
    channels_.push_back(
        grpc::CreateCustomChannel(grpc_target, grpc::InsecureChannelCredentials(), args));
  }
}

Publishers::~Publishers() = default;

bool Publishers::WaitConnected(std::chrono::seconds timeout) {
  auto deadline = std::chrono::system_clock::now() + timeout;
  for (const auto& channel : channels_) {
    if (!channel->WaitForConnected(deadline)) return false;
  }
  return true;
}

PublishResult Publishers::Run(const PublishPlan& plan) {
  size_t count = channels_.size();
  std::vector<std::unique_ptr<herald::v1::Publisher::Stub>> stubs;
  for (const auto& channel : channels_) stubs.push_back(herald::v1::Publisher::NewStub(channel));
  std::vector<StreamResult> results(count);
  std::vector<std::thread> writers;
  for (size_t i = 0; i < count; ++i) {
    writers.emplace_back([&, i] { results[i] = RunStream(*stubs[i], plan, i, count); });
  }
  for (std::thread& writer : writers) writer.join();

  PublishResult total;
  total.last_offset_per_topic.assign(plan.topics, 0);
  total.events_per_topic.assign(plan.topics, 0);
  for (size_t t = 0; t < plan.topics; ++t) {
    total.events_per_topic[t] = plan.events / plan.topics + (t < plan.events % plan.topics ? 1 : 0);
  }
  for (const StreamResult& result : results) {
    total.written += result.written;
    total.acked += result.acked;
    total.errors += result.errors;
    if (total.first_error.empty()) total.first_error = result.first_error;
    if (result.written > 0) {
      if (total.first_write_unix_ns == 0 || result.first_write_unix_ns < total.first_write_unix_ns)
        total.first_write_unix_ns = result.first_write_unix_ns;
      total.last_write_unix_ns = std::max(total.last_write_unix_ns, result.last_write_unix_ns);
    }
    total.last_ack_unix_ns = std::max(total.last_ack_unix_ns, result.last_ack_unix_ns);
    for (size_t t = 0; t < plan.topics; ++t) {
      total.last_offset_per_topic[t] =
          std::max(total.last_offset_per_topic[t], result.last_offset_per_topic[t]);
    }
  }
  return total;
}

}  // namespace herald::bench
