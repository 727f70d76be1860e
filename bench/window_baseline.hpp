#pragma once

// warren-window-bench's baseline: sliding windows done the straightforward
// way, each event appended to the vector of every window it belongs to, and
// each window's values sorted when it closes. Same windows, watermark and
// aggregates as the kernel (count, sum, mean, min, max, population stddev by
// two passes, and numpy-linear percentiles), minus what the benchmark's
// stream never needs: no lateness, no updates, no missing values.

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

namespace warren::bench {

struct baseline_result {
  std::uint32_t key;
  std::int64_t start;
  std::uint64_t count;
  double sum, mean, min, max, stddev;
  const double* percentiles; // one per requested percentile
};

class baseline_windows {
 public:
  baseline_windows(std::size_t keys, std::int64_t size_ms,
                   std::int64_t slide_ms, std::int64_t out_of_orderness_ms,
                   std::vector<double> percentiles);

  void offer(std::uint32_t key, std::int64_t event_time, double value);
  /// Raises the watermark (max event time - out-of-orderness - 1) and
  /// closes every window that ends at or before it + 1.
  void flush(const std::function<void(const baseline_result&)>& emit);

 private:
  void close(std::uint32_t key, std::int64_t start, std::vector<double>& values,
             const std::function<void(const baseline_result&)>& emit);

  std::int64_t size_, slide_, out_of_orderness_;
  std::vector<double> percentiles_;
  std::vector<double> percentile_values_;
  /// Per key: window start -> the values of its events.
  std::vector<std::map<std::int64_t, std::vector<double>>> windows_;
  std::int64_t max_event_time_;
};

} // namespace warren::bench
