#include "window_baseline.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace warren::bench {

baseline_windows::baseline_windows(std::size_t keys, std::int64_t size_ms,
                                   std::int64_t slide_ms,
                                   std::int64_t out_of_orderness_ms,
                                   std::vector<double> percentiles)
  : size_(size_ms), slide_(slide_ms), out_of_orderness_(out_of_orderness_ms),
    percentiles_(std::move(percentiles)),
    percentile_values_(percentiles_.size()), windows_(keys),
    max_event_time_(std::numeric_limits<std::int64_t>::min() / 2) {}

void baseline_windows::offer(std::uint32_t key, std::int64_t t, double value) {
  // Every window [s, s + size) with s a multiple of slide that contains t
  // (times are positive in the benchmark).
  auto& windows = windows_[key];
  for (std::int64_t s = t - t % slide_; s > t - size_; s -= slide_)
    windows[s].push_back(value);
  max_event_time_ = std::max(max_event_time_, t);
}

void baseline_windows::flush(
  const std::function<void(const baseline_result&)>& emit) {
  std::int64_t watermark = max_event_time_ - out_of_orderness_ - 1;
  for (std::uint32_t key = 0; key < windows_.size(); ++key) {
    auto& windows = windows_[key];
    while (!windows.empty() &&
           windows.begin()->first + size_ - 1 <= watermark) {
      close(key, windows.begin()->first, windows.begin()->second, emit);
      windows.erase(windows.begin());
    }
  }
}

void baseline_windows::close(
  std::uint32_t key, std::int64_t start, std::vector<double>& values,
  const std::function<void(const baseline_result&)>& emit) {
  baseline_result r{};
  r.key = key;
  r.start = start;
  r.count = values.size();
  double sum = 0;
  double lo = values.front();
  double hi = values.front();
  for (double x : values) {
    sum += x;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  double mean = sum / static_cast<double>(values.size());
  double m2 = 0;
  for (double x : values)
    m2 += (x - mean) * (x - mean);
  r.sum = sum;
  r.mean = mean;
  r.min = lo;
  r.max = hi;
  r.stddev = std::sqrt(m2 / static_cast<double>(values.size()));
  if (!percentiles_.empty()) {
    std::sort(values.begin(), values.end());
    std::size_t n = values.size();
    for (std::size_t i = 0; i < percentiles_.size(); ++i) {
      double h = static_cast<double>(n - 1) * (percentiles_[i] / 100.0);
      double floor_h = std::floor(h);
      auto rank = static_cast<std::size_t>(floor_h);
      double t = h - floor_h;
      double a = values[std::min(rank, n - 1)];
      double b = values[std::min(rank + 1, n - 1)];
      percentile_values_[i] = t == 0.0  ? a
                              : t < 0.5 ? a + (b - a) * t
                                        : b - (b - a) * (1.0 - t);
    }
  }
  r.percentiles = percentile_values_.data();
  emit(r);
}

} // namespace warren::bench
