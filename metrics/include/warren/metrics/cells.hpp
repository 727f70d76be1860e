#pragma once

/// The handles hot paths update. Each is a pointer to a metric that lives
/// in a `metrics::registry` (as long as the node), or nothing: a
/// default-constructed handle is "metrics off" and every update is one
/// predictable branch. Handles are copied into the actors that update them
/// at start, so nothing is looked up, allocated or locked per message.
///
/// Counters and gauges are prometheus-cpp's own (one atomic each).
/// Histograms are warren's: prometheus-cpp 1.0.1's `Histogram::Observe`
/// takes a mutex that a scrape also takes, so the hot path instead counts
/// into atomic buckets here, and the registry feeds the library's histogram
/// the difference at each scrape (`histogram::feed`, under the scrape lock).

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
} // namespace prometheus

namespace warren::metrics {

/// A monotonic counter (`_total`).
class counter {
 public:
  counter() = default;
  explicit counter(prometheus::Counter* c) noexcept : c_(c) {}
  void inc(double by = 1) const noexcept;
  explicit operator bool() const noexcept { return c_ != nullptr; }

 private:
  prometheus::Counter* c_ = nullptr;
};

/// A value that goes up and down.
class gauge {
 public:
  gauge() = default;
  explicit gauge(prometheus::Gauge* g) noexcept : g_(g) {}
  void set(double value) const noexcept;
  void add(double by) const noexcept;
  /// The value now (0 when off); safe from any thread.
  double value() const noexcept;
  explicit operator bool() const noexcept { return g_ != nullptr; }

 private:
  prometheus::Gauge* g_ = nullptr;
};

/// The most buckets a histogram may have (a fixed array: no allocation).
constexpr std::size_t max_buckets = 24;

/// The atomic cells of one histogram: a count per bucket (the last is
/// +Inf) and the sum in units of `1 / scale` (integers, so adding is one
/// atomic instruction; seconds are kept in nanoseconds).
class histogram_cells {
 public:
  histogram_cells(std::vector<double> bounds, double scale);

  void observe(double value) noexcept;

  /// Moves what was observed since the last feed into `target` (its
  /// buckets must be `bounds()`). Called by one thread at a time.
  void feed(prometheus::Histogram& target);

  const std::vector<double>& bounds() const noexcept { return bounds_; }

 private:
  std::vector<double> bounds_;
  double scale_;
  std::array<std::atomic<uint64_t>, max_buckets + 1> counts_{};
  std::atomic<uint64_t> sum_{0};
  // What the last feed saw (only the feeding thread touches these).
  std::array<uint64_t, max_buckets + 1> fed_counts_{};
  uint64_t fed_sum_ = 0;
};

/// A histogram handle (`_seconds`, or a count such as messages per commit).
class histogram {
 public:
  histogram() = default;
  explicit histogram(histogram_cells* cells) noexcept : cells_(cells) {}
  void observe(double value) const noexcept {
    if (cells_ != nullptr)
      cells_->observe(value);
  }
  explicit operator bool() const noexcept { return cells_ != nullptr; }

 private:
  histogram_cells* cells_ = nullptr;
};

} // namespace warren::metrics
