// Bounded outgoing queue.
#include "edge/outgoing_queue.h"

namespace herald {
namespace {

// Batches of more pieces than this are copied into one buffer.
constexpr size_t kMaxGatherPieces = 16;
// A coalescing buffer larger than this is released after its write.
constexpr size_t kKeptCoalescingBytes = 64 * 1024;

}  // namespace

bool OutgoingQueue::Push(std::shared_ptr<const std::string> bytes) {
  if (limited_bytes_ + bytes->size() > max_bytes_) return false;
  limited_bytes_ += bytes->size();
  PushUnbounded(std::move(bytes));
  return true;
}

void OutgoingQueue::PushUnbounded(std::shared_ptr<const std::string> bytes) {
  pending_bytes_ += bytes->size();
  pending_.push_back(std::move(bytes));
}

void OutgoingQueue::DropPending() {
  pending_.clear();
  pending_bytes_ = 0;
  limited_bytes_ = 0;
}

const std::vector<boost::asio::const_buffer>& OutgoingQueue::StartWrite() {
  writing_ = true;
  in_flight_.swap(pending_);
  pending_bytes_ = 0;
  limited_bytes_ = 0;
  buffers_.clear();
  if (in_flight_.size() > kMaxGatherPieces) {
    coalesced_.clear();
    size_t total = 0;
    for (const std::shared_ptr<const std::string>& bytes : in_flight_) total += bytes->size();
    coalesced_.reserve(total);
    for (const std::shared_ptr<const std::string>& bytes : in_flight_) coalesced_ += *bytes;
    in_flight_.clear();
    buffers_.emplace_back(coalesced_.data(), coalesced_.size());
    return buffers_;
  }
  for (const std::shared_ptr<const std::string>& bytes : in_flight_) {
    buffers_.emplace_back(bytes->data(), bytes->size());
  }
  return buffers_;
}

void OutgoingQueue::CompleteWrite() {
  writing_ = false;
  in_flight_.clear();
  buffers_.clear();
  if (coalesced_.capacity() > kKeptCoalescingBytes) std::string().swap(coalesced_);
}

}  // namespace herald
