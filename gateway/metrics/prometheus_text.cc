// The Prometheus text exposition format.
#include "metrics/prometheus_text.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace herald {
namespace {

// A label value with `\`, `"` and newlines escaped, as the format asks.
void AppendEscaped(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
}

}  // namespace

void PrometheusText::Family(std::string_view name, std::string_view type, std::string_view help) {
  absl::StrAppend(&text_, "# HELP ", absl::string_view(name.data(), name.size()), " ",
                  absl::string_view(help.data(), help.size()), "\n# TYPE ",
                  absl::string_view(name.data(), name.size()), " ",
                  absl::string_view(type.data(), type.size()), "\n");
}

void PrometheusText::Name(std::string_view name, Labels labels) {
  text_.append(name);
  if (labels.size() == 0) return;
  text_.push_back('{');
  bool first = true;
  for (const auto& [label, value] : labels) {
    if (!first) text_.push_back(',');
    first = false;
    text_.append(label);
    text_.append("=\"");
    AppendEscaped(text_, value);
    text_.push_back('"');
  }
  text_.push_back('}');
}

void PrometheusText::Sample(std::string_view name, Labels labels, double value) {
  Name(name, labels);
  // Enough digits for a Unix time in seconds with its milliseconds.
  absl::StrAppend(&text_, " ", absl::StrFormat("%.15g", value), "\n");
}

void PrometheusText::Sample(std::string_view name, Labels labels, uint64_t value) {
  Name(name, labels);
  absl::StrAppend(&text_, " ", value, "\n");
}

void PrometheusText::Sample(std::string_view name, Labels labels, int64_t value) {
  Name(name, labels);
  absl::StrAppend(&text_, " ", value, "\n");
}

void DurationHistogram::Observe(absl::Duration duration) {
  double seconds = std::max(0.0, absl::ToDoubleSeconds(duration));
  size_t bucket = static_cast<size_t>(
      std::lower_bound(kBounds.begin(), kBounds.end(), seconds) - kBounds.begin());
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(static_cast<uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

void DurationHistogram::AddTo(Totals& totals) const {
  for (size_t i = 0; i < buckets_.size(); ++i) {
    totals.buckets[i] += buckets_[i].load(std::memory_order_relaxed);
  }
  totals.sum_seconds += static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1e6;
}

void DurationHistogram::Totals::Write(PrometheusText& text, std::string_view name) const {
  std::string bucket_name = absl::StrCat(absl::string_view(name.data(), name.size()), "_bucket");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += buckets[i];
    std::string bound = absl::StrFormat("%g", kBounds[i]);
    text.Sample(bucket_name, {{"le", bound}}, cumulative);
  }
  cumulative += buckets.back();
  text.Sample(bucket_name, {{"le", "+Inf"}}, cumulative);
  text.Sample(absl::StrCat(absl::string_view(name.data(), name.size()), "_sum"), {}, sum_seconds);
  // The count is the buckets' total, so the two agree even when read while samples come.
  text.Sample(absl::StrCat(absl::string_view(name.data(), name.size()), "_count"), {},
              cumulative);
}

}  // namespace herald
