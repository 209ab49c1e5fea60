// Connection caps.
#include "edge/connection_limits.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace herald {

ConnectionSlot& ConnectionSlot::operator=(ConnectionSlot&& other) noexcept {
  if (this != &other) {
    Release();
    limits_ = std::exchange(other.limits_, nullptr);
    ip_ = std::move(other.ip_);
  }
  return *this;
}

void ConnectionSlot::Release() {
  if (limits_) limits_->Release(ip_);
  limits_ = nullptr;
}

absl::StatusOr<ConnectionSlot> ConnectionLimits::Acquire(const std::string& ip) {
  absl::MutexLock lock(&mutex_);
  if (max_total_ != 0 && total_ >= max_total_) {
    return absl::UnavailableError(
        absl::StrCat("the gateway holds its maximum of ", max_total_, " connections"));
  }
  size_t& count = per_ip_[ip];
  if (max_per_ip_ != 0 && count >= max_per_ip_) {
    if (count == 0) per_ip_.erase(ip);
    return absl::ResourceExhaustedError(
        absl::StrCat("too many connections from this address (", max_per_ip_, ")"));
  }
  ++count;
  ++total_;
  return ConnectionSlot(this, ip);
}

void ConnectionLimits::Release(const std::string& ip) {
  absl::MutexLock lock(&mutex_);
  --total_;
  auto it = per_ip_.find(ip);
  if (it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
}

PendingSlot& PendingSlot::operator=(PendingSlot&& other) noexcept {
  if (this != &other) {
    Release();
    limits_ = std::exchange(other.limits_, nullptr);
  }
  return *this;
}

void PendingSlot::Release() {
  if (limits_) limits_->pending_.fetch_sub(1, std::memory_order_relaxed);
  limits_ = nullptr;
}

std::optional<PendingSlot> ConnectionLimits::AcquirePending() {
  size_t pending = pending_.fetch_add(1, std::memory_order_relaxed);
  if (max_pending_ != 0 && pending >= max_pending_) {
    pending_.fetch_sub(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  return PendingSlot(this);
}

std::string ClientAddressBucket(const boost::asio::ip::address& address) {
  if (address.is_v4()) return address.to_string();
  boost::asio::ip::address_v6 v6 = address.to_v6();
  if (v6.is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_string();
  }
  boost::asio::ip::address_v6::bytes_type bytes = v6.to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return boost::asio::ip::address_v6(bytes).to_string() + "/64";
}

size_t ConnectionLimits::total() const {
  absl::MutexLock lock(&mutex_);
  return total_;
}

}  // namespace herald
