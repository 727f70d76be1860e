#pragma once

// Private to warren::actors: the arithmetic of window aggregates, apart from
// windows. Moments per slice are kept with Welford's update and merged with
// Chan et al.'s pairwise formula, which never subtracts two large sums of
// squares (the naive sum(x^2) - n * mean^2 loses every digit on values like
// 1e9 + noise). Exact order statistics are selected across the sorted
// values of a window's slices without merging or re-sorting them. Pure
// logic.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace warren::actors {

/// Count, sum, min, max, mean and M2 (the sum of squared deviations from the
/// mean) of some values.
struct moments {
  std::uint64_t count = 0;
  double sum = 0.0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  double mean = 0.0;
  double m2 = 0.0;

  /// Welford's update.
  void add(double x) noexcept {
    ++count;
    sum += x;
    min = x < min ? x : min;
    max = x > max ? x : max;
    double delta = x - mean;
    mean += delta / static_cast<double>(count);
    m2 += delta * (x - mean);
  }

  /// Chan, Golub and LeVeque's merge of two partial results: the same
  /// moments as if `other`'s values had been added to this one's (up to
  /// rounding), in O(1).
  void merge(const moments& other) noexcept {
    if (other.count == 0)
      return;
    if (count == 0) {
      *this = other;
      return;
    }
    double na = static_cast<double>(count);
    double nb = static_cast<double>(other.count);
    double n = na + nb;
    double delta = other.mean - mean;
    mean += delta * (nb / n);
    m2 += other.m2 + delta * delta * (na * nb / n);
    count += other.count;
    sum += other.sum;
    min = other.min < min ? other.min : min;
    max = other.max > max ? other.max : max;
  }

  /// Population variance M2 / n; NaN when there is no value.
  double variance() const noexcept;
  /// Sample variance M2 / (n - 1); NaN for fewer than two values.
  double variance_sample() const noexcept;
};

/// Sorts finite doubles ascending (-0.0 before +0.0): a least-significant-
/// digit radix sort on their bit patterns, byte by byte, skipping the bytes
/// all values share, for n of a few hundred and more (a slice's values);
/// std::sort below that. About 4 times faster than std::sort for a
/// thousand values. `scratch` is reused between calls.
void sort_values(double* values, std::size_t n,
                 std::vector<std::uint64_t>& scratch);

/// A mergeable log-bucket histogram (DDSketch, Masson et al. 2019): a value
/// x != 0 counts in bucket ceil(log_gamma |x|) of its sign, with
/// gamma = (1 + alpha) / (1 - alpha), and a bucket stands for
/// 2 gamma^i / (gamma + 1), within relative error alpha of every value in
/// it. |x| below the smallest normal double counts as 0. Two sketches of the
/// same alpha merge by adding counts, so a window's sketch is the sum of
/// its slices'. Memory: one counter per bucket between the smallest and the
/// largest |x| seen (log(max / min) / log(gamma) of them).
class log_sketch {
 public:
  log_sketch() = default;
  explicit log_sketch(double alpha);

  void add(double x);
  void merge(const log_sketch& other);
  /// Empty, keeping alpha and the counters' capacity.
  void clear() noexcept;
  std::uint64_t count() const noexcept { return count_; }
  std::size_t buckets() const noexcept {
    return positive_.counts.size() + negative_.counts.size();
  }
  /// The estimate of the value of rank `rank` (0-based, < count()).
  double value_at_rank(std::uint64_t rank) const;

 private:
  struct store {
    std::int32_t offset = 0; // bucket index of counts[0]
    std::vector<std::uint32_t> counts;
    void add(std::int32_t index, std::uint32_t n);
  };
  std::int32_t index_of(double magnitude) const noexcept;
  double value_of(std::int32_t index) const noexcept;

  double log_gamma_ = 0.0;
  double value_scale_ = 1.0; // 2 / (gamma + 1)
  store positive_;
  store negative_;
  std::uint64_t zeros_ = 0;
  std::uint64_t count_ = 0;
};

/// Some values sorted ascending.
struct sorted_run {
  const double* data = nullptr;
  std::size_t size = 0;
};

/// The k-th smallest value (0-based) of the union of `runs`, and the
/// (k+1)-th (the k-th again when k is the last). Precondition: k is less
/// than the total size. Selects by narrowing a candidate range in each run
/// around pivots and counting with binary searches: O(m^2 log^2 n) in the
/// worst case for m runs of n values, a handful of rounds on ordinary data,
/// and it copies no value. `scratch` is reused between calls.
struct kth_pair {
  double kth;
  double next;
};
kth_pair select_kth(const sorted_run* runs, std::size_t run_count,
                    std::uint64_t k, std::vector<std::size_t>& scratch);

/// The p-th percentile (p in [0, 100]) of `total` values spread over
/// sorted `runs`, by linear interpolation between the closest ranks as
/// numpy.percentile (method "linear", the default) computes it:
/// h = (total - 1) * (p / 100), a = value of rank floor(h), b = the next,
/// t = h - floor(h), result = a + (b - a) * t when t < 0.5, else
/// b - (b - a) * (1 - t). NaN when total is 0.
double percentile(const sorted_run* runs, std::size_t run_count,
                  std::uint64_t total, double p,
                  std::vector<std::size_t>& scratch);

/// The p-th percentile of the values in `sketch`, interpolated between the
/// estimates of the two closest ranks exactly as percentile() does between
/// exact values. NaN when the sketch is empty.
double approx_percentile(const log_sketch& sketch, double p);

/// The same on one sorted array (the reference form).
double percentile_sorted(const double* sorted, std::size_t n, double p);

} // namespace warren::actors
