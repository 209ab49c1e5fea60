// Bounded outgoing queue.
#include "edge/outgoing_queue.h"

namespace herald {
namespace {

// Batches of more pieces than this are copied into one buffer.
constexpr size_t kMaxGatherPieces = 16;
// A write takes about this much of what is pending (whole pieces); the rest waits for the next.
constexpr size_t kMaxWriteBytes = 256 * 1024;
// A coalescing buffer larger than this is released after its write.
constexpr size_t kKeptCoalescingBytes = 64 * 1024;

}  // namespace

bool OutgoingQueue::Push(std::shared_ptr<const std::string> bytes) {
  if (limited_bytes_ + bytes->size() > max_bytes_) return false;
  limited_bytes_ += bytes->size();
  Append(std::move(bytes), /*live=*/true);
  return true;
}

bool OutgoingQueue::PushReplayed(std::shared_ptr<const std::string> bytes) {
  if (pending_bytes_ + bytes->size() > max_total_bytes_) return false;
  Append(std::move(bytes), /*live=*/false);
  return true;
}

void OutgoingQueue::PushLastWords(std::shared_ptr<const std::string> bytes) {
  Append(std::move(bytes), /*live=*/false);
}

void OutgoingQueue::Append(std::shared_ptr<const std::string> bytes, bool live) {
  pending_bytes_ += bytes->size();
  pending_.push_back({std::move(bytes), live});
}

void OutgoingQueue::DropPending() {
  pending_.clear();
  pending_bytes_ = 0;
  limited_bytes_ = 0;
}

const std::vector<boost::asio::const_buffer>& OutgoingQueue::StartWrite() {
  writing_ = true;
  in_flight_.clear();
  size_t batch_bytes = 0;
  while (!pending_.empty() && (in_flight_.empty() || batch_bytes < kMaxWriteBytes)) {
    Piece& piece = pending_.front();
    batch_bytes += piece.bytes->size();
    if (piece.live) limited_bytes_ -= piece.bytes->size();
    in_flight_.push_back(std::move(piece.bytes));
    pending_.pop_front();
  }
  pending_bytes_ -= batch_bytes;
  buffers_.clear();
  if (in_flight_.size() > kMaxGatherPieces) {
    coalesced_.clear();
    coalesced_.reserve(batch_bytes);
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
