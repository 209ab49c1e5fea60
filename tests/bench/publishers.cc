// The publishing side of the bench: pipelined gRPC PublishStream calls or HTTP POSTs, one
// connection per publisher, driven by the same paced writer and in-order reader.
#include "publishers.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <semaphore>
#include <set>
#include <sstream>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <grpcpp/grpcpp.h>

#include "herald/v1/publisher.grpc.pb.h"
#include "payload.h"

namespace herald::bench {

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

// One publisher's connection as RunPipelined drives it: requests are written in order by one
// thread while another reads the responses.
class Pipe {
 public:
  struct Response {
    uint64_t event = 0;   // index of the event answered
    uint64_t offset = 0;  // its offset in its topic
    std::string error;    // empty when accepted
  };

  virtual ~Pipe() = default;
  virtual bool Write(uint64_t event, const std::string& topic, const std::string& payload) = 0;
  // Blocks for the next response; false when the connection failed or was cancelled.
  virtual bool Read(Response* response) = 0;
  // Makes a blocked Read return false (used when the plan's timeout passed).
  virtual void Cancel() = 0;
  // After the last write: ends the call; returns why it failed, if it did.
  virtual void WritesDone() = 0;
  virtual std::string Finish() = 0;
};

// What one publisher's connection did.
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

// The events publisher `index` of `count` writes.
uint64_t EventsOf(const PublishPlan& plan, size_t index, size_t count) {
  return plan.events > index ? (plan.events - index + count - 1) / count : 0;
}

// Runs publisher `index` of `count` on `pipe`: paced writes here, responses on a reader thread.
StreamResult RunPipelined(Pipe& pipe, const PublishPlan& plan, size_t index, size_t count) {
  StreamResult result;
  result.last_offset_per_topic.assign(plan.topics, 0);
  std::vector<std::string> topic_names;
  for (size_t t = 0; t < plan.topics; ++t) topic_names.push_back(plan.topic_prefix + std::to_string(t));
  const uint64_t mine = EventsOf(plan, index, count);
  if (mine == 0) return result;

  std::counting_semaphore<> inflight(
      static_cast<ptrdiff_t>(std::max<size_t>(1, plan.max_inflight)));
  std::atomic<bool> broken{false};
  std::promise<void> reader_done;
  std::thread reader([&] {
    Pipe::Response response;
    for (uint64_t i = 0; i < mine; ++i) {
      if (!pipe.Read(&response)) {
        broken.store(true);
        break;
      }
      result.last_ack_unix_ns = UnixNowNs();
      inflight.release();
      if (!response.error.empty()) {
        if (result.errors++ == 0) result.first_error = response.error;
        continue;
      }
      ++result.acked;
      uint64_t& last = result.last_offset_per_topic[response.event % plan.topics];
      last = std::max(last, response.offset);
    }
    reader_done.set_value();
  });

  std::string payload;
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + plan.timeout;
  for (uint64_t k = 0; k < mine && !broken.load(); ++k) {
    const uint64_t event = k * count + index;
    if (plan.rate > 0) {
      std::this_thread::sleep_until(
          start + std::chrono::nanoseconds(
                      static_cast<int64_t>(static_cast<double>(event) * 1e9 / plan.rate)));
    }
    bool slot = false;
    while (!slot && !broken.load() && std::chrono::steady_clock::now() < deadline) {
      slot = inflight.try_acquire_for(std::chrono::milliseconds(100));
    }
    if (!slot) break;
    const int64_t now = UnixNowNs();
    FillPayload(now, plan.payload_bytes, &payload);
    if (result.written == 0) result.first_write_unix_ns = now;
    if (!pipe.Write(event, topic_names[event % plan.topics], payload)) {
      broken.store(true);
      break;
    }
    result.last_write_unix_ns = now;
    ++result.written;
  }
  pipe.WritesDone();
  if (reader_done.get_future().wait_until(deadline) != std::future_status::ready) {
    pipe.Cancel();
    if (result.first_error.empty()) result.first_error = "timed out";
  }
  reader.join();
  std::string failure = pipe.Finish();
  if (!failure.empty() && result.first_error.empty()) result.first_error = failure;
  return result;
}

// Runs `count` publishers, one thread each, and adds up what they did.
template <typename RunOne>
PublishResult RunAll(const PublishPlan& plan, size_t count, RunOne run_one) {
  std::vector<StreamResult> results(count);
  std::vector<std::thread> writers;
  for (size_t i = 0; i < count; ++i) {
    writers.emplace_back([&, i] { results[i] = run_one(i); });
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
    // A stream with no events to send has no per-topic results.
    for (size_t t = 0; t < result.last_offset_per_topic.size() && t < plan.topics; ++t) {
      total.last_offset_per_topic[t] =
          std::max(total.last_offset_per_topic[t], result.last_offset_per_topic[t]);
    }
  }
  return total;
}

// gRPC: one PublishStream call; request_id is the event's index.
class GrpcPipe : public Pipe {
 public:
  GrpcPipe(herald::v1::Publisher::Stub& stub, const PublishPlan& plan) {
    context_.set_deadline(std::chrono::system_clock::now() + plan.timeout);
    if (!plan.token.empty()) context_.AddMetadata("authorization", "Bearer " + plan.token);
    stream_ = stub.PublishStream(&context_);
    request_.set_content_type("text/plain");
  }

  bool Write(uint64_t event, const std::string& topic, const std::string& payload) override {
    request_.set_topic(topic);
    request_.set_request_id(std::to_string(event));
    request_.set_data(payload);
    return stream_->Write(request_);
  }

  bool Read(Response* response) override {
    herald::v1::PublishResponse answer;
    if (!stream_->Read(&answer)) return false;
    const std::string& id = answer.request_id();
    response->event = 0;
    std::from_chars(id.data(), id.data() + id.size(), response->event);
    response->offset = answer.offset();
    response->error.clear();
    if (answer.has_error() && answer.error().code() != 0) {
      response->error = "item error " + std::to_string(answer.error().code()) + ": " +
                        answer.error().message();
    }
    return true;
  }

  void Cancel() override { context_.TryCancel(); }
  void WritesDone() override { stream_->WritesDone(); }

  std::string Finish() override {
    grpc::Status status = stream_->Finish();
    if (status.ok()) return "";
    return "stream: " + std::to_string(status.error_code()) + " " + status.error_message();
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<herald::v1::PublishRequest,
                                           herald::v1::PublishResponse>>
      stream_;
  herald::v1::PublishRequest request_;
};

// gRPC: PublishBatch calls of plan.batch events each, as many in flight as the plan allows
// events; request_id is the event's index.
class GrpcBatchPipe : public Pipe {
 public:
  GrpcBatchPipe(herald::v1::Publisher::Stub& stub, const PublishPlan& plan)
      : stub_(stub), plan_(plan) {}

  ~GrpcBatchPipe() override { Finish(); }

  bool Write(uint64_t event, const std::string& topic, const std::string& payload) override {
    herald::v1::PublishRequest* item = batch_.add_requests();
    item->set_topic(topic);
    item->set_request_id(std::to_string(event));
    item->set_data(payload);
    item->set_content_type("text/plain");
    if (static_cast<size_t>(batch_.requests_size()) >= plan_.batch) Send();
    std::lock_guard<std::mutex> lock(mutex_);
    return failure_.empty();
  }

  bool Read(Response* response) override {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return !answers_.empty() || !failure_.empty() || cancelled_; });
    if (answers_.empty()) return false;
    *response = std::move(answers_.front());
    answers_.pop_front();
    return true;
  }

  void Cancel() override {
    std::set<std::shared_ptr<Call>> calls;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      cancelled_ = true;
      calls = calls_;
      changed_.notify_all();
    }
    // Outside the lock: a cancel may run the call's callback at once.
    for (const std::shared_ptr<Call>& call : calls) call->context.TryCancel();
  }

  void WritesDone() override {
    if (batch_.requests_size() > 0) Send();
  }

  std::string Finish() override {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return calls_.empty(); });
    return failure_;
  }

 private:
  struct Call {
    grpc::ClientContext context;
    herald::v1::PublishBatchRequest request;
    herald::v1::PublishBatchResponse response;
  };

  void Send() {
    auto call = std::make_shared<Call>();
    call->request.Swap(&batch_);
    call->context.set_deadline(std::chrono::system_clock::now() + plan_.timeout);
    if (!plan_.token.empty()) call->context.AddMetadata("authorization", "Bearer " + plan_.token);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      calls_.insert(call);
    }
    stub_.async()->PublishBatch(&call->context, &call->request, &call->response,
                                [this, call](grpc::Status status) { Answered(*call, status); });
  }

  void Answered(Call& call, const grpc::Status& status) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!status.ok() && failure_.empty()) {
      failure_ = "batch: " + std::to_string(status.error_code()) + " " + status.error_message();
    }
    for (const herald::v1::PublishResponse& answer : call.response.responses()) {
      Response& response = answers_.emplace_back();
      const std::string& id = answer.request_id();
      std::from_chars(id.data(), id.data() + id.size(), response.event);
      response.offset = answer.offset();
      if (answer.has_error() && answer.error().code() != 0) {
        response.error = "item error " + std::to_string(answer.error().code()) + ": " +
                         answer.error().message();
      }
    }
    for (auto it = calls_.begin(); it != calls_.end(); ++it) {
      if (it->get() == &call) {
        calls_.erase(it);
        break;
      }
    }
    changed_.notify_all();
  }

  herald::v1::Publisher::Stub& stub_;
  const PublishPlan& plan_;
  herald::v1::PublishBatchRequest batch_;  // Filled by the writer thread only.
  std::mutex mutex_;
  std::condition_variable changed_;
  std::set<std::shared_ptr<Call>> calls_;
  std::deque<Response> answers_;
  std::string failure_;
  bool cancelled_ = false;
};

class GrpcPublishers : public Publishers {
 public:
  GrpcPublishers(const std::string& grpc_target, size_t count, const std::string& tls_ca_file) {
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
    if (!tls_ca_file.empty()) {
      std::ifstream file(tls_ca_file);
      std::stringstream pem;
      pem << file.rdbuf();
      credentials = grpc::SslCredentials(grpc::SslCredentialsOptions{pem.str(), "", ""});
    }
    for (size_t i = 0; i < std::max<size_t>(1, count); ++i) {
      grpc::ChannelArguments args;
      // Separate subchannels, so each publisher has its own TCP connection.
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      args.SetInt("herald.bench.publisher", static_cast<int>(i));
      channels_.push_back(grpc::CreateCustomChannel(grpc_target, credentials, args));
    }
  }

  bool WaitConnected(std::chrono::seconds timeout) override {
    auto deadline = std::chrono::system_clock::now() + timeout;
    for (const auto& channel : channels_) {
      if (!channel->WaitForConnected(deadline)) return false;
    }
    return true;
  }

  PublishResult Run(const PublishPlan& plan) override {
    std::vector<std::unique_ptr<herald::v1::Publisher::Stub>> stubs;
    for (const auto& channel : channels_) stubs.push_back(herald::v1::Publisher::NewStub(channel));
    return RunAll(plan, channels_.size(), [&](size_t i) {
      if (EventsOf(plan, i, channels_.size()) == 0) return StreamResult();
      if (plan.batch > 1) {
        GrpcBatchPipe pipe(*stubs[i], plan);
        return RunPipelined(pipe, plan, i, channels_.size());
      }
      GrpcPipe pipe(*stubs[i], plan);
      return RunPipelined(pipe, plan, i, channels_.size());
    });
  }

 private:
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
};

// How many events each topic has accepted over HTTP so far, shared by the connections.
class AcceptedCounts {
 public:
  // Counts one more accepted event on `topic`; returns the topic's count.
  uint64_t Add(const std::string& topic) {
    std::lock_guard<std::mutex> lock(mutex_);
    return ++counts_[topic];
  }

 private:
  std::mutex mutex_;
  std::map<std::string, uint64_t> counts_;
};

// One keep-alive HTTP/1.1 connection; made again when the last one failed or was cancelled.
struct HttpConnection {
  asio::io_context io{1};
  tcp::socket socket{io};
  boost::beast::flat_buffer buffer;
  std::atomic<bool> connected{false};  // cleared by the writer or the reader when it fails

  bool Connect(const tcp::endpoint& endpoint) {
    if (connected) return true;
    boost::system::error_code error;
    socket.close(error);
    buffer.clear();
    socket.connect(endpoint, error);
    if (error) return false;
    socket.set_option(tcp::no_delay(true), error);
    connected = true;
    return true;
  }
};

// HTTP: pipelined POSTs on one connection; responses come back in request order, so the n-th
// response answers this publisher's n-th event.
class HttpPipe : public Pipe {
 public:
  HttpPipe(HttpConnection& connection, const std::string& authority,
           const std::string& path_prefix, const PublishPlan& plan, size_t index, size_t count,
           AcceptedCounts& accepted)
      : connection_(connection),
        authority_(authority),
        path_prefix_(path_prefix),
        plan_(plan),
        index_(index),
        count_(count),
        accepted_(accepted) {}

  bool Write(uint64_t event, const std::string& topic, const std::string& payload) override {
    request_.clear();
    request_.append("POST ").append(path_prefix_).append(topic);
    request_.append(" HTTP/1.1\r\nHost: ").append(authority_);
    request_.append("\r\nContent-Type: text/plain\r\nContent-Length: ");
    request_.append(std::to_string(payload.size())).append("\r\n\r\n").append(payload);
    boost::system::error_code error;
    asio::write(connection_.socket, asio::buffer(request_), error);
    if (error) Fail("write: " + error.message());
    return !error;
  }

  bool Read(Response* response) override {
    http::response<http::string_body> answer;
    boost::system::error_code error;
    http::read(connection_.socket, connection_.buffer, answer, error);
    if (error) {
      Fail("read: " + error.message());
      return false;
    }
    response->event = responses_++ * count_ + index_;
    const std::string topic =
        plan_.topic_prefix + std::to_string(response->event % plan_.topics);
    const unsigned status = answer.result_int();
    response->error.clear();
    response->offset = 0;
    if (status >= 200 && status < 300) {
      response->offset = accepted_.Add(topic);
    } else {
      response->error = "HTTP " + std::to_string(status) + ": " + answer.body().substr(0, 200);
    }
    if (!answer.keep_alive()) {
      Fail("server closed the connection");
      return false;
    }
    return true;
  }

  void Cancel() override {
    connection_.connected = false;
    boost::system::error_code ignored;
    connection_.socket.shutdown(tcp::socket::shutdown_both, ignored);
  }
  void WritesDone() override {}
  std::string Finish() override {
    std::lock_guard<std::mutex> lock(mutex_);
    return failure_;
  }

 private:
  // Called from the writer or the reader thread.
  void Fail(std::string failure) {
    connection_.connected = false;
    std::lock_guard<std::mutex> lock(mutex_);
    if (failure_.empty()) failure_ = std::move(failure);
  }

  HttpConnection& connection_;
  const std::string& authority_;
  const std::string& path_prefix_;
  const PublishPlan& plan_;
  const size_t index_;
  const size_t count_;
  AcceptedCounts& accepted_;
  uint64_t responses_ = 0;
  std::string request_;
  std::mutex mutex_;
  std::string failure_;
};

class HttpPublishers : public Publishers {
 public:
  HttpPublishers(const std::string& host, uint16_t port, const std::string& path_prefix,
                 size_t count)
      : endpoint_(asio::ip::make_address(host), port),
        authority_(host + ":" + std::to_string(port)),
        path_prefix_(path_prefix) {
    for (size_t i = 0; i < std::max<size_t>(1, count); ++i) {
      connections_.push_back(std::make_unique<HttpConnection>());
    }
  }

  // Loopback connects succeed or fail at once: no need for `timeout`.
  bool WaitConnected(std::chrono::seconds timeout) override {
    for (auto& connection : connections_) {
      if (!connection->Connect(endpoint_)) return false;
    }
    return true;
  }

  PublishResult Run(const PublishPlan& plan) override {
    // A connection a previous Run gave up is made again (its unanswered requests are lost).
    WaitConnected(plan.timeout);
    const size_t count = connections_.size();
    return RunAll(plan, count, [&](size_t i) {
      HttpPipe pipe(*connections_[i], authority_, path_prefix_, plan, i, count, accepted_);
      return RunPipelined(pipe, plan, i, count);
    });
  }

 private:
  tcp::endpoint endpoint_;
  std::string authority_;
  std::string path_prefix_;
  std::vector<std::unique_ptr<HttpConnection>> connections_;
  AcceptedCounts accepted_;
};

}  // namespace

std::unique_ptr<Publishers> MakeGrpcPublishers(const std::string& grpc_target, size_t count,
                                               const std::string& tls_ca_file) {
  return std::make_unique<GrpcPublishers>(grpc_target, count, tls_ca_file);
}

std::unique_ptr<Publishers> MakeHttpPublishers(const std::string& host, uint16_t port,
                                               const std::string& path_prefix, size_t count) {
  return std::make_unique<HttpPublishers>(host, port, path_prefix, count);
}

}  // namespace herald::bench
