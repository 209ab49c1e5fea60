// The gRPC Publisher service: unary Publish, the ordered bidirectional PublishStream, and
// PublishBatch.
#pragma once

#include <google/protobuf/arena.h>
#include <grpcpp/support/message_allocator.h>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "auth/authenticator.h"
#include "publish/publish_pipeline.h"
#include "herald/v1/publisher.grpc.pb.h"

namespace herald {

class PublishStreamReactor;

// Gives each unary call's request and response one protobuf arena, freed whole when the call
// ends: parsing a batch of events then costs a few block allocations rather than several per
// event, and freeing it no walk over each message.
template <typename Request, typename Response>
class ArenaMessageAllocator final : public grpc::MessageAllocator<Request, Response> {
 public:
  grpc::MessageHolder<Request, Response>* AllocateMessages() override { return new Holder(); }

 private:
  class Holder final : public grpc::MessageHolder<Request, Response> {
   public:
    Holder() : arena_(Options()) {
      this->set_request(google::protobuf::Arena::CreateMessage<Request>(&arena_));
      this->set_response(google::protobuf::Arena::CreateMessage<Response>(&arena_));
    }
    void Release() override { delete this; }

   private:
    static google::protobuf::ArenaOptions Options() {
      google::protobuf::ArenaOptions options;
      options.start_block_size = 4096;
      options.max_block_size = 64 * 1024;
      return options;
    }
    google::protobuf::Arena arena_;
  };
};

class PublisherService final : public herald::v1::Publisher::CallbackService {
 public:
  PublisherService(const Authenticator& authenticator, PublishPipeline& pipeline);

  // herald::v1::Publisher::CallbackService:
  grpc::ServerUnaryReactor* Publish(grpc::CallbackServerContext* context,
                                    const herald::v1::PublishRequest* request,
                                    herald::v1::PublishResponse* response) override;
  grpc::ServerBidiReactor<herald::v1::PublishRequest, herald::v1::PublishResponse>*
  PublishStream(grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* PublishBatch(grpc::CallbackServerContext* context,
                                         const herald::v1::PublishBatchRequest* request,
                                         herald::v1::PublishBatchResponse* response) override;

  static constexpr int kMaxBatchItems = 1000;

  // Ends every open PublishStream once its item in progress is answered, with UNAVAILABLE, and
  // streams opened later at once: publishers retry on another node.
  void DrainStreams();
  // Ends the PublishStream calls whose grant `revoked` says no longer holds, with `status`,
  // once their items in progress are answered.
  void EndStreamsOf(const std::function<bool(const Grant&)>& revoked, const grpc::Status& status);
  void Unregister(PublishStreamReactor* reactor);

 private:
  const Authenticator& authenticator_;
  PublishPipeline& pipeline_;
  ArenaMessageAllocator<herald::v1::PublishRequest, herald::v1::PublishResponse>
      publish_messages_;
  ArenaMessageAllocator<herald::v1::PublishBatchRequest, herald::v1::PublishBatchResponse>
      batch_messages_;
  absl::Mutex streams_mutex_;
  absl::flat_hash_set<PublishStreamReactor*> streams_ ABSL_GUARDED_BY(streams_mutex_);
  bool draining_ ABSL_GUARDED_BY(streams_mutex_) = false;
};

}  // namespace herald
