// A log-linear histogram of non-negative values (latencies in ns) with small, fixed memory.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace herald::bench {

// Values below 2^kSubBits are exact; above, each power of two is split into 2^(kSubBits-1) equal
// buckets, so a reported value is within ~1.6% of the true one. Not thread-safe: keep one per
// thread and Merge() them at the end.
class Histogram {
 public:
  static constexpr int kSubBits = 7;
  static constexpr uint64_t kLinear = uint64_t{1} << kSubBits;
  static constexpr uint64_t kHalf = kLinear / 2;
  static constexpr size_t kBuckets = kLinear + (64 - kSubBits + 1) * kHalf;

  Histogram() : counts_(kBuckets, 0) {}

  void Record(uint64_t value) {
    ++counts_[Index(value)];
    ++count_;
    max_ = std::max(max_, value);
    min_ = std::min(min_, value);
    sum_ += static_cast<double>(value);
  }

  void Merge(const Histogram& other) {
    for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    max_ = std::max(max_, other.max_);
    min_ = std::min(min_, other.min_);
    sum_ += other.sum_;
  }

  uint64_t count() const { return count_; }
  uint64_t max() const { return count_ == 0 ? 0 : max_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  double mean() const { return count_ == 0 ? 0 : sum_ / static_cast<double>(count_); }

  // The value at quantile q in [0, 1] (middle of its bucket, capped at the exact maximum).
  uint64_t Quantile(double q) const {
    if (count_ == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(count_ - 1)) + 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(BucketMiddle(i), max_);
    }
    return max_;
  }

 private:
  static size_t Index(uint64_t value) {
    if (value < kLinear) return static_cast<size_t>(value);
    int msb = 63 - std::countl_zero(value);
    int shift = msb - (kSubBits - 1);
    uint64_t top = value >> shift;  // in [kHalf, kLinear)
    return static_cast<size_t>(kLinear + static_cast<uint64_t>(shift - 1) * kHalf + (top - kHalf));
  }

  static uint64_t BucketMiddle(size_t index) {
    if (index < kLinear) return index;
    uint64_t rest = index - kLinear;
    int shift = static_cast<int>(rest / kHalf) + 1;
    uint64_t top = kHalf + rest % kHalf;
    uint64_t low = top << shift;
    return low + ((uint64_t{1} << shift) >> 1);
  }

  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t max_ = 0;
  uint64_t min_ = UINT64_MAX;
  double sum_ = 0;
};

}  // namespace herald::bench
