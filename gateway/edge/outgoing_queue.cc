// Bounded outgoing queue.
#include "edge/outgoing_queue.h"

#include <cstdlib>
#include <limits>

#include "absl/time/clock.h"

namespace herald {
namespace {

// A coalescing buffer or copies block larger than this is released once written, so an idle
// connection (over TLS every batch is coalesced) keeps no more.
constexpr size_t kKeptBufferBytes = 4 * 1024;

// Copied bytes go into blocks of at least this size.
constexpr size_t kCopyBlockBytes = 256;
// Taken pieces at the front of the pending vector are removed once they are this many and at
// least half of it.
constexpr size_t kCompactAfter = 1024;
// A vector emptied after a batch gives its memory back when it holds more than this many
// elements and the batch used less than a quarter of them: an idle connection stays small (its
// next ping is a batch of one), while a busy one does not grow its vectors again for every
// batch.
constexpr size_t kKeptElements = 16;

void ReleaseIfLarge(std::string& buffer) {
  if (buffer.capacity() > kKeptBufferBytes) std::string().swap(buffer);
}

// Empties `elements` after a batch of `used` pieces; see kKeptElements.
template <typename T>
void Clear(std::vector<T>& elements, size_t used) {
  elements.clear();
  if (elements.capacity() > kKeptElements && 4 * used < elements.capacity()) {
    std::vector<T>().swap(elements);
  }
}

}  // namespace

bool OutgoingQueue::Push(std::shared_ptr<const std::string> bytes) {
  if (limited_bytes_ + bytes->size() > live_limit()) return false;
  uint32_t size = static_cast<uint32_t>(bytes->size());
  Append({std::move(bytes), 0, size, /*live=*/true, /*framed=*/true});
  return true;
}

bool OutgoingQueue::PushReplayed(std::shared_ptr<const std::string> bytes) {
  if (pending_bytes_ + bytes->size() > max_total_bytes_) return false;
  uint32_t size = static_cast<uint32_t>(bytes->size());
  Append({std::move(bytes), 0, size, /*live=*/false, /*framed=*/true});
  return true;
}

bool OutgoingQueue::PushCopy(std::string_view bytes, bool replayed) {
  if (replayed ? pending_bytes_ + bytes.size() > max_total_bytes_
               : limited_bytes_ + bytes.size() > live_limit()) {
    return false;
  }
  uint32_t offset = CopyIn(bytes);
  Append({copies_, offset, static_cast<uint32_t>(bytes.size()), /*live=*/!replayed,
          /*framed=*/true});
  return true;
}

bool OutgoingQueue::PushMessage(std::shared_ptr<const std::string> owner, std::string_view bytes,
                                std::string_view suffix, bool replayed) {
  size_t size = bytes.size() + suffix.size();
  if (replayed ? pending_bytes_ + size > max_total_bytes_
               : limited_bytes_ + size > live_limit()) {
    return false;
  }
  auto offset = static_cast<uint32_t>(bytes.data() - owner->data());
  Append({std::move(owner), offset, static_cast<uint32_t>(bytes.size()), /*live=*/!replayed,
          /*framed=*/true, /*ends_message=*/suffix.empty()});
  if (!suffix.empty()) {
    uint32_t suffix_offset = CopyIn(suffix);
    Append({copies_, suffix_offset, static_cast<uint32_t>(suffix.size()), /*live=*/!replayed,
            /*framed=*/true});
  }
  return true;
}

uint32_t OutgoingQueue::CopyIn(std::string_view bytes) {
  if (copies_ && copies_.use_count() == 1) {  // No piece refers to it.
    if (copies_->capacity() > kKeptBufferBytes) {
      copies_.reset();
    } else {
      copies_->clear();
    }
  }
  if (!copies_ || copies_->capacity() - copies_->size() < bytes.size()) {
    copies_ = std::make_shared<std::string>();
    copies_->reserve(std::max(kCopyBlockBytes, bytes.size()));
  }
  auto offset = static_cast<uint32_t>(copies_->size());
  copies_->append(bytes);  // Within its capacity: earlier pieces stay valid.
  return offset;
}

void OutgoingQueue::PushLastWords(std::shared_ptr<const std::string> bytes) {
  uint32_t size = static_cast<uint32_t>(bytes->size());
  Append({std::move(bytes), 0, size, /*live=*/false, /*framed=*/true});
}

void OutgoingQueue::PushUnframed(std::shared_ptr<const std::string> bytes) {
  uint32_t size = static_cast<uint32_t>(bytes->size());
  Append({std::move(bytes), 0, size, /*live=*/false, /*framed=*/false});
}

void OutgoingQueue::Append(Piece piece) {
  pending_bytes_ += piece.size;
  if (piece.live) limited_bytes_ += piece.size;
  pending_.push_back(std::move(piece));
  ReportQueuedBytes(/*always=*/false);
}

void OutgoingQueue::DropPending() {
  Clear(pending_, /*used=*/0);
  pending_head_ = 0;
  pending_bytes_ = 0;
  limited_bytes_ = 0;
  SetOverdrawn(false);
  ReportQueuedBytes(/*always=*/true);
  lag_sample_.reset();  // Its bytes will never be written.
}

void OutgoingQueue::ReportQueuedBytes(bool always) {
  if (load_ == nullptr) return;
  int64_t change = static_cast<int64_t>(pending_bytes_) - reported_queued_bytes_;
  if (change == 0) return;
  if (!always && static_cast<size_t>(std::abs(change)) < kQueuedReportStep) return;
  load_->CountQueuedBytes(change);
  reported_queued_bytes_ += change;
}

void OutgoingQueue::SetOverdrawn(bool overdrawn) {
  if (overdrawn == overdrawn_) return;
  overdrawn_ = overdrawn;
  if (load_ != nullptr) load_->CountOverdrawnQueue(overdrawn ? 1 : -1);
}

const std::vector<boost::asio::const_buffer>& OutgoingQueue::StartWrite(size_t max_buffers) {
  writing_ = true;
  if (buffers_.empty()) {
    write_started_ = std::chrono::steady_clock::now();
    TakeBatch(max_buffers, /*one_message=*/false);
  }
  return buffers_;
}

const std::vector<OutgoingQueue::Piece>& OutgoingQueue::StartMessageWrite() {
  writing_ = true;
  write_started_ = std::chrono::steady_clock::now();
  TakeBatch(/*max_buffers=*/std::numeric_limits<size_t>::max(), /*one_message=*/true);
  return in_flight_;
}

void OutgoingQueue::AddBuffer(const char* data, size_t size) {
  if (size > 0) buffers_.emplace_back(data, size);
}

void OutgoingQueue::TakeBatch(size_t max_buffers, bool one_message) {
  in_flight_.clear();
  headers_.clear();
  size_t batch_bytes = 0;
  // A batch: whole pieces up to about kMaxWriteBytes. One message: its pieces, whatever size.
  auto batch_full = [&] {
    if (in_flight_.empty()) return false;
    return one_message ? in_flight_.back().ends_message : batch_bytes >= kMaxWriteBytes;
  };
  while (pending_head_ < pending_.size() && !batch_full()) {
    Piece& piece = pending_[pending_head_++];
    batch_bytes += piece.size;
    if (piece.live) limited_bytes_ -= piece.size;
    if (framing_.header == nullptr) piece.framed = false;
    in_flight_.push_back(std::move(piece));
  }
  write_bytes_ = batch_bytes;
  sent_bytes_ += batch_bytes;
  if (load_ != nullptr) load_->CountSentBytes(transport_, batch_bytes);
  if (limited_bytes_ <= max_bytes_) SetOverdrawn(false);
  if (pending_head_ == pending_.size()) {
    Clear(pending_, /*used=*/in_flight_.size());
    pending_head_ = 0;
  } else if (pending_head_ >= kCompactAfter && 2 * pending_head_ >= pending_.size()) {
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(pending_head_));
    pending_head_ = 0;
  }
  pending_bytes_ -= batch_bytes;
  // Down to nothing pending (a queue that keeps up) or a step lower.
  ReportQueuedBytes(/*always=*/pending_bytes_ == 0);
  // Every header is made before a buffer points into headers_ (it must not grow after).
  for (size_t i = 0; i < in_flight_.size(); ++i) {
    if (!in_flight_[i].framed || (i > 0 && in_flight_[i - 1].framed)) continue;
    size_t run_bytes = 0;
    for (size_t j = i; j < in_flight_.size() && in_flight_[j].framed; ++j) {
      run_bytes += in_flight_[j].size;
    }
    Header& header = headers_.emplace_back();
    header.size = framing_.header(run_bytes, header.bytes.data());
  }
  auto header = headers_.begin();
  for (size_t i = 0; i < in_flight_.size(); ++i) {
    const Piece& piece = in_flight_[i];
    bool starts_run = piece.framed && (i == 0 || !in_flight_[i - 1].framed);
    bool ends_run = piece.framed && (i + 1 == in_flight_.size() || !in_flight_[i + 1].framed);
    if (starts_run) {
      AddBuffer(header->bytes.data(), header->size);
      ++header;
    }
    AddBuffer(piece.bytes->data() + piece.offset, piece.size);
    if (ends_run) AddBuffer(framing_.trailer.data(), framing_.trailer.size());
  }
  if (buffers_.size() <= max_buffers) return;
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
  if (lag_sample_ && sent_bytes_ >= lag_sample_->end) {
    load_->delivery_lag().Observe(absl::Now() - absl::FromUnixMillis(lag_sample_->published_unix_ms));
    lag_sample_.reset();
  }
  size_t used = in_flight_.size();
  Clear(in_flight_, used);
  Clear(headers_, used);
  Clear(buffers_, used);
  ReleaseIfLarge(coalesced_);
  return true;
}

}  // namespace herald
