// The Prometheus text exposition format (version 0.0.4), written one family at a time.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "absl/time/time.h"

namespace herald {

// Not thread-safe: one scrape writes one.
class PrometheusText {
 public:
  using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

  // Starts a family (`type`: counter, gauge or histogram): its HELP and TYPE lines. Its samples
  // follow.
  void Family(std::string_view name, std::string_view type, std::string_view help);
  void Sample(std::string_view name, Labels labels, double value);
  void Sample(std::string_view name, Labels labels, uint64_t value);
  void Sample(std::string_view name, Labels labels, int64_t value);
  void Sample(std::string_view name, uint64_t value) { Sample(name, {}, value); }
  // A family of one unlabelled sample: its HELP and TYPE lines, then the sample.
  template <typename Value>
  void Single(std::string_view name, std::string_view type, std::string_view help, Value value) {
    Family(name, type, help);
    Sample(name, {}, value);
  }

  const std::string& text() const { return text_; }
  std::string Take() { return std::move(text_); }

 private:
  void Name(std::string_view name, Labels labels);
  std::string text_;
};

// A histogram of durations, in seconds, that any thread may add to (relaxed atomics: meant for
// samples, not for every delivery).
class DurationHistogram {
 public:
  static constexpr std::array<double, 13> kBounds = {0.001, 0.0025, 0.005, 0.01, 0.025,
                                                     0.05,  0.1,    0.25,  0.5,  1,
                                                     2.5,   5,      10};
  void Observe(absl::Duration duration);

  // What histograms held, summed.
  struct Totals {
    std::array<uint64_t, kBounds.size() + 1> buckets{};  // Not cumulative; the last is +Inf.
    double sum_seconds = 0;
    void Write(PrometheusText& text, std::string_view name) const;
  };
  void AddTo(Totals& totals) const;

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<uint64_t> sum_us_{0};
};

}  // namespace herald
