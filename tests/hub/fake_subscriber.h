// A subscriber without sockets for hub tests: records what it is given, can refuse like a full queue.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "codec/encoded_event.h"
#include "hub/subscriber.h"

namespace herald {

class FakeSubscriber final : public Subscriber {
 public:
  // A subscriber whose queue holds at most `capacity` events before it closes as slow, with
  // `replay_room` bytes of room for replays.
  explicit FakeSubscriber(size_t capacity = 1000, size_t replay_room = 1 << 30)
      : capacity_(capacity), replay_room_(replay_room) {}

  void Enqueue(const std::shared_ptr<const EncodedEvent>& event, Delivery delivery) override {
    if (closed_) return;
    if (delivery.new_epoch) new_epochs_.push_back({event->epoch(), event->offset()});
    if (delivery.replayed) {
      queued_.push_back(event);
      return;
    }
    if (queued_.size() >= capacity_) {
      queued_.clear();
      Close(kDisconnectSlowConsumer);
      return;
    }
    queued_.push_back(event);
  }

  size_t ReplayCost(const EncodedEvent& event) const override { return event.ws_frame().size(); }
  size_t ReplayRoom() const override { return replay_room_; }

  void Flush() override {
    if (queued_.empty()) return;
    writes_.push_back(std::move(queued_));
    queued_.clear();
  }

  void Close(const Disconnect& disconnect) override {
    closed_ = true;
    disconnect_ = disconnect;
  }

  const std::string& credential() const override { return credential_; }

  // Every write, each a batch of events in delivery order.
  const std::vector<std::vector<std::shared_ptr<const EncodedEvent>>>& writes() const {
    return writes_;
  }
  std::vector<uint64_t> offsets() const {
    std::vector<uint64_t> offsets;
    for (const auto& batch : writes_) {
      for (const auto& event : batch) offsets.push_back(event->offset());
    }
    return offsets;
  }
  const std::optional<Disconnect>& disconnect() const { return disconnect_; }
  // The events given as the first of an epoch new to the client, as {epoch, offset}.
  const std::vector<std::pair<std::string, uint64_t>>& new_epochs() const { return new_epochs_; }

 private:
  size_t capacity_;
  size_t replay_room_;
  bool closed_ = false;
  std::vector<std::shared_ptr<const EncodedEvent>> queued_;
  std::vector<std::vector<std::shared_ptr<const EncodedEvent>>> writes_;
  std::optional<Disconnect> disconnect_;
  std::vector<std::pair<std::string, uint64_t>> new_epochs_;
  std::string credential_;  // Nobody in particular.
};

}  // namespace herald
