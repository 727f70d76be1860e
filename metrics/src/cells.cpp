#include "warren/metrics/cells.hpp"

#include <algorithm>
#include <cmath>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <stdexcept>

namespace warren::metrics {

void counter::inc(double by) const noexcept {
  if (c_ != nullptr)
    c_->Increment(by);
}

void gauge::set(double value) const noexcept {
  if (g_ != nullptr)
    g_->Set(value);
}

double gauge::value() const noexcept {
  return g_ != nullptr ? g_->Value() : 0;
}

void gauge::add(double by) const noexcept {
  if (g_ != nullptr)
    g_->Increment(by);
}

histogram_cells::histogram_cells(std::vector<double> bounds, double scale)
  : bounds_(std::move(bounds)), scale_(scale) {
  if (bounds_.size() > max_buckets ||
      !std::is_sorted(bounds_.begin(), bounds_.end()))
    throw std::invalid_argument("a histogram needs at most 24 ascending "
                                "bucket bounds");
}

void histogram_cells::observe(double value) noexcept {
  // Prometheus buckets are upper-inclusive: le="0.1" counts 0.1.
  std::size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i])
    ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  if (value > 0 && std::isfinite(value))
    sum_.fetch_add(static_cast<uint64_t>(std::llround(value * scale_)),
                   std::memory_order_relaxed);
}

void histogram_cells::feed(prometheus::Histogram& target) {
  std::vector<double> increments(bounds_.size() + 1);
  bool any = false;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    auto now = counts_[i].load(std::memory_order_relaxed);
    increments[i] = static_cast<double>(now - fed_counts_[i]);
    any = any || now != fed_counts_[i];
    fed_counts_[i] = now;
  }
  auto sum = sum_.load(std::memory_order_relaxed);
  auto sum_delta = static_cast<double>(sum - fed_sum_) / scale_;
  fed_sum_ = sum;
  if (any)
    target.ObserveMultiple(increments, sum_delta);
}

} // namespace warren::metrics
