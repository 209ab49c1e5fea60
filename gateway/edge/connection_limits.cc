// Connection caps.
#include "edge/connection_limits.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"

namespace herald {

ConnectionSlot& ConnectionSlot::operator=(ConnectionSlot&& other) noexcept {
  if (this != &other) {
    Release();
    limits_ = std::exchange(other.limits_, nullptr);
    ip_ = std::move(other.ip_);
    credential_ = std::move(other.credential_);
  }
  return *this;
}

void ConnectionSlot::Release() {
  if (limits_) limits_->Release(ip_, credential_);
  limits_ = nullptr;
}


absl::StatusOr<ConnectionSlot> ConnectionLimits::Acquire(const std::string& ip,
                                                         const std::string& credential) {
  absl::MutexLock lock(&mutex_);
  if (caps_.total != 0 && total_ >= caps_.total) {
    return absl::UnavailableError(
        absl::StrCat("the gateway holds its maximum of ", caps_.total, " connections"));
  }
  if (!per_ip_.Take(ip, caps_.per_ip)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("too many connections from this address (", caps_.per_ip, ")"));
  }
  if (!credential.empty() && !per_credential_.Take(credential, caps_.per_credential)) {
    per_ip_.GiveBack(ip);
    return absl::ResourceExhaustedError(absl::StrCat(
        "too many connections with this credential (", caps_.per_credential, ")"));
  }
  ++total_;
  return ConnectionSlot(this, ip, credential);
}

void ConnectionLimits::Release(const std::string& ip, const std::string& credential) {
  absl::MutexLock lock(&mutex_);
  --total_;
  per_ip_.GiveBack(ip);
  if (!credential.empty()) per_credential_.GiveBack(credential);
}

PendingSlot& PendingSlot::operator=(PendingSlot&& other) noexcept {
  if (this != &other) {
    Release();
    limits_ = std::exchange(other.limits_, nullptr);
    ip_ = std::move(other.ip_);
  }
  return *this;
}

void PendingSlot::Release() {
  if (limits_) limits_->ReleasePending(ip_);
  limits_ = nullptr;
}

std::optional<PendingSlot> ConnectionLimits::AcquirePending(const std::string& ip,
                                                            bool trusted_proxy) {
  absl::MutexLock lock(&mutex_);
  if (caps_.pending != 0 && pending_ >= caps_.pending) return std::nullopt;
  if (!pending_per_ip_.Take(ip, trusted_proxy ? 0 : caps_.per_ip)) return std::nullopt;
  ++pending_;
  return PendingSlot(this, ip);
}

void ConnectionLimits::ReleasePending(const std::string& ip) {
  absl::MutexLock lock(&mutex_);
  --pending_;
  pending_per_ip_.GiveBack(ip);
}

size_t ConnectionLimits::pending() const {
  absl::MutexLock lock(&mutex_);
  return pending_;
}

std::string GrpcPeerAddress(const std::string& peer) {
  std::string host = absl::StrReplaceAll(
      peer, {{"%5B", "["}, {"%5b", "["}, {"%5D", "]"}, {"%5d", "]"}});
  absl::string_view view = host;
  if (!absl::ConsumePrefix(&view, "ipv4:") && !absl::ConsumePrefix(&view, "ipv6:")) return peer;
  return std::string(view);
}

std::string GrpcPeerBucket(const std::string& peer) {
  std::string address = GrpcPeerAddress(peer);
  if (address == peer) return peer;  // Not an IP peer (a Unix socket, ...).
  absl::string_view view = address;
  view = view.substr(0, view.rfind(':'));  // The port.
  if (view.size() >= 2 && view.front() == '[' && view.back() == ']') {
    view = view.substr(1, view.size() - 2);
  }
  boost::system::error_code error;
  boost::asio::ip::address ip = boost::asio::ip::make_address(std::string(view), error);
  return error ? std::string(view) : ClientAddressBucket(ip);
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
