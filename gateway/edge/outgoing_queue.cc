// Bounded outgoing queue.
#include "edge/outgoing_queue.h"

namespace herald {
namespace {

// A write gathers at most this many buffers (the most Asio passes to one writev); a batch that
// needs more is copied into one.
constexpr size_t kMaxGatherBuffers = 64;
// A write takes about this much of what is pending (whole pieces); the rest waits for the next.
constexpr size_t kMaxWriteBytes = 256 * 1024;
// A coalescing buffer larger than this is released after its write.
constexpr size_t kKeptCoalescingBytes = 64 * 1024;

}  // namespace

bool OutgoingQueue::Push(std::shared_ptr<const std::string> bytes) {
  if (limited_bytes_ + bytes->size() > max_bytes_) return false;
  limited_bytes_ += bytes->size();
  Append(std::move(bytes), /*live=*/true, /*framed=*/true);
  return true;
}

bool OutgoingQueue::PushReplayed(std::shared_ptr<const std::string> bytes) {
  if (pending_bytes_ + bytes->size() > max_total_bytes_) return false;
  Append(std::move(bytes), /*live=*/false, /*framed=*/true);
  return true;
}

void OutgoingQueue::PushLastWords(std::shared_ptr<const std::string> bytes) {
  Append(std::move(bytes), /*live=*/false, /*framed=*/true);
}

void OutgoingQueue::PushUnframed(std::shared_ptr<const std::string> bytes) {
  Append(std::move(bytes), /*live=*/false, /*framed=*/false);
}

void OutgoingQueue::Append(std::shared_ptr<const std::string> bytes, bool live, bool framed) {
  pending_bytes_ += bytes->size();
  pending_.push_back({std::move(bytes), live, framed});
}

void OutgoingQueue::DropPending() {
  pending_.clear();
  pending_bytes_ = 0;
  limited_bytes_ = 0;
}

const std::vector<boost::asio::const_buffer>& OutgoingQueue::StartWrite() {
  writing_ = true;
  if (buffers_.empty()) TakeBatch();
  return buffers_;
}

void OutgoingQueue::AddBuffer(const char* data, size_t size) {
  if (size > 0) buffers_.emplace_back(data, size);
}

void OutgoingQueue::TakeBatch() {
  in_flight_.clear();
  in_flight_framed_.clear();
  headers_.clear();
  size_t batch_bytes = 0;
  while (!pending_.empty() && (in_flight_.empty() || batch_bytes < kMaxWriteBytes)) {
    Piece& piece = pending_.front();
    batch_bytes += piece.bytes->size();
    if (piece.live) limited_bytes_ -= piece.bytes->size();
    in_flight_.push_back(std::move(piece.bytes));
    in_flight_framed_.push_back(piece.framed && framing_.header != nullptr);
    pending_.pop_front();
  }
  pending_bytes_ -= batch_bytes;
  const std::vector<bool>& framed = in_flight_framed_;
  // Every header is made before a buffer points into headers_ (it must not grow after).
  for (size_t i = 0; i < in_flight_.size(); ++i) {
    if (!framed[i] || (i > 0 && framed[i - 1])) continue;
    size_t run_bytes = 0;
    for (size_t j = i; j < in_flight_.size() && framed[j]; ++j) run_bytes += in_flight_[j]->size();
    Header& header = headers_.emplace_back();
    header.size = framing_.header(run_bytes, header.bytes.data());
  }
  auto header = headers_.begin();
  for (size_t i = 0; i < in_flight_.size(); ++i) {
    if (framed[i] && (i == 0 || !framed[i - 1])) {
      AddBuffer(header->bytes.data(), header->size);
      ++header;
    }
    AddBuffer(in_flight_[i]->data(), in_flight_[i]->size());
    if (framed[i] && (i + 1 == in_flight_.size() || !framed[i + 1])) {
      AddBuffer(framing_.trailer.data(), framing_.trailer.size());
    }
  }
  if (buffers_.size() <= kMaxGatherBuffers) return;
  coalesced_.clear();
  coalesced_.reserve(boost::asio::buffer_size(buffers_));
  for (const boost::asio::const_buffer& buffer : buffers_) {
    coalesced_.append(static_cast<const char*>(buffer.data()), buffer.size());
  }
  buffers_.assign(1, boost::asio::const_buffer(coalesced_.data(), coalesced_.size()));
}

bool OutgoingQueue::CompleteWrite(size_t written) {
  writing_ = false;
  size_t done = 0;
  while (done < buffers_.size() && written >= buffers_[done].size()) {
    written -= buffers_[done].size();
    ++done;
  }
  buffers_.erase(buffers_.begin(), buffers_.begin() + static_cast<ptrdiff_t>(done));
  if (!buffers_.empty()) {
    buffers_.front() += written;
    return false;
  }
  in_flight_.clear();
  headers_.clear();
  if (coalesced_.capacity() > kKeptCoalescingBytes) std::string().swap(coalesced_);
  return true;
}

}  // namespace herald
