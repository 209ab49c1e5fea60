// Connection caps.
#include "edge/connection_limits.h"

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

size_t ConnectionLimits::total() const {
  absl::MutexLock lock(&mutex_);
  return total_;
}

}  // namespace herald
