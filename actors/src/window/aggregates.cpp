#include "window/aggregates.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace warren::actors {

double moments::variance() const noexcept {
  if (count == 0)
    return std::numeric_limits<double>::quiet_NaN();
  return m2 / static_cast<double>(count);
}

double moments::variance_sample() const noexcept {
  if (count < 2)
    return std::numeric_limits<double>::quiet_NaN();
  return m2 / static_cast<double>(count - 1);
}

namespace {

/// Order-preserving map of a double's bits to an unsigned integer: negative
/// numbers have all bits flipped, positive ones only the sign bit.
inline std::uint64_t sortable(double x) noexcept {
  std::uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  std::uint64_t mask =
    static_cast<std::uint64_t>(-static_cast<std::int64_t>(bits >> 63)) |
    (std::uint64_t{1} << 63);
  return bits ^ mask;
}

inline double unsortable(std::uint64_t key) noexcept {
  std::uint64_t mask = ((key >> 63) - 1) | (std::uint64_t{1} << 63);
  std::uint64_t bits = key ^ mask;
  double x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

} // namespace

void sort_values(double* values, std::size_t n,
                 std::vector<std::uint64_t>& scratch) {
  if (n < 256) {
    std::sort(values, values + n);
    return;
  }
  scratch.resize(2 * n);
  std::uint64_t* src = scratch.data();
  std::uint64_t* dst = src + n;
  // All eight byte histograms in one pass.
  std::uint32_t counts[8][256] = {};
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t key = sortable(values[i]);
    src[i] = key;
    for (int b = 0; b < 8; ++b)
      ++counts[b][(key >> (8 * b)) & 0xff];
  }
  for (int b = 0; b < 8; ++b) {
    std::uint32_t* count = counts[b];
    // A byte that all values share orders nothing.
    if (count[(src[0] >> (8 * b)) & 0xff] == n)
      continue;
    std::uint32_t offset = 0;
    for (int d = 0; d < 256; ++d) {
      std::uint32_t c = count[d];
      count[d] = offset;
      offset += c;
    }
    for (std::size_t i = 0; i < n; ++i) {
      std::uint64_t key = src[i];
      dst[count[(key >> (8 * b)) & 0xff]++] = key;
    }
    std::swap(src, dst);
  }
  for (std::size_t i = 0; i < n; ++i)
    values[i] = unsortable(src[i]);
}

kth_pair select_kth(const sorted_run* runs, std::size_t run_count,
                    std::uint64_t k, std::vector<std::size_t>& scratch) {
  // Invariant: in run j, values before lo[j] rank before the answer and
  // values from hi[j] on rank after it; `rank` is the answer's rank among
  // the candidates left in [lo[j], hi[j]).
  if (run_count == 1) {
    const sorted_run& run = runs[0];
    return {run.data[k], k + 1 < run.size ? run.data[k + 1] : run.data[k]};
  }
  scratch.resize(4 * run_count);
  std::size_t* lo = scratch.data();
  std::size_t* hi = lo + run_count;
  std::size_t* below = hi + run_count;
  std::size_t* upto = below + run_count;
  std::uint64_t remaining = 0;
  for (std::size_t j = 0; j < run_count; ++j) {
    lo[j] = 0;
    hi[j] = runs[j].size;
    remaining += runs[j].size;
  }
  std::uint64_t rank = k;
  bool midpoint = false;
  for (;;) {
    // The pivot comes from the run with the most candidates left: at the
    // position proportional to the rank (close to the answer when the runs
    // are alike), every other round at its middle (which halves that run
    // whatever the data).
    std::size_t widest = 0;
    std::size_t width = 0;
    for (std::size_t j = 0; j < run_count; ++j)
      if (hi[j] - lo[j] > width) {
        width = hi[j] - lo[j];
        widest = j;
      }
    std::size_t pos;
    if (midpoint) {
      pos = lo[widest] + width / 2;
    } else {
      auto share = static_cast<std::size_t>(static_cast<double>(rank) *
                                            static_cast<double>(width) /
                                            static_cast<double>(remaining));
      pos = lo[widest] + std::min(share, width - 1);
    }
    midpoint = !midpoint;
    double pivot = runs[widest].data[pos];
    std::uint64_t less = 0;
    std::uint64_t less_or_equal = 0;
    for (std::size_t j = 0; j < run_count; ++j) {
      const double* data = runs[j].data;
      const double* a = std::lower_bound(data + lo[j], data + hi[j], pivot);
      const double* b = std::upper_bound(a, data + hi[j], pivot);
      below[j] = static_cast<std::size_t>(a - data);
      upto[j] = static_cast<std::size_t>(b - data);
      less += below[j] - lo[j];
      less_or_equal += upto[j] - lo[j];
    }
    if (rank < less) {
      std::copy(below, below + run_count, hi);
      remaining = less;
    } else if (rank < less_or_equal) {
      if (rank + 1 < less_or_equal)
        return {pivot, pivot};
      // The next value is the smallest one above the pivot: in each run,
      // the one right after the pivot's equals.
      double next = pivot;
      bool found = false;
      for (std::size_t j = 0; j < run_count; ++j)
        if (upto[j] < runs[j].size) {
          double v = runs[j].data[upto[j]];
          if (!found || v < next) {
            next = v;
            found = true;
          }
        }
      return {pivot, next};
    } else {
      rank -= less_or_equal;
      remaining -= less_or_equal;
      std::copy(upto, upto + run_count, lo);
    }
  }
}

namespace {

double interpolate(double a, double b, double t) noexcept {
  if (t == 0.0)
    return a; // also when b - a would overflow
  double diff = b - a;
  return t < 0.5 ? a + diff * t : b - diff * (1.0 - t);
}

struct rank_split {
  std::uint64_t rank;
  double t;
};

rank_split split(std::uint64_t total, double p) noexcept {
  double h = static_cast<double>(total - 1) * (p / 100.0);
  double floor_h = std::floor(h);
  auto rank = static_cast<std::uint64_t>(floor_h);
  if (rank >= total - 1)
    return {total - 1, 0.0};
  return {rank, h - floor_h};
}

} // namespace

double percentile(const sorted_run* runs, std::size_t run_count,
                  std::uint64_t total, double p,
                  std::vector<std::size_t>& scratch) {
  if (total == 0)
    return std::numeric_limits<double>::quiet_NaN();
  rank_split s = split(total, p);
  kth_pair pair = select_kth(runs, run_count, s.rank, scratch);
  return interpolate(pair.kth, pair.next, s.t);
}

double approx_percentile(const log_sketch& sketch, double p) {
  std::uint64_t total = sketch.count();
  if (total == 0)
    return std::numeric_limits<double>::quiet_NaN();
  rank_split s = split(total, p);
  double a = sketch.value_at_rank(s.rank);
  double b = s.rank + 1 < total ? sketch.value_at_rank(s.rank + 1) : a;
  return interpolate(a, b, s.t);
}

log_sketch::log_sketch(double alpha) {
  double gamma = (1.0 + alpha) / (1.0 - alpha);
  log_gamma_ = std::log(gamma);
  value_scale_ = 2.0 / (gamma + 1.0);
}

std::int32_t log_sketch::index_of(double magnitude) const noexcept {
  return static_cast<std::int32_t>(std::ceil(std::log(magnitude) / log_gamma_));
}

double log_sketch::value_of(std::int32_t index) const noexcept {
  return std::exp(static_cast<double>(index) * log_gamma_) * value_scale_;
}

void log_sketch::store::add(std::int32_t index, std::uint32_t n) {
  if (counts.empty()) {
    offset = index;
    counts.push_back(n);
    return;
  }
  if (index < offset) {
    // Grow downwards: shift the counters up.
    auto grow = static_cast<std::size_t>(offset - index);
    counts.insert(counts.begin(), grow, 0);
    offset = index;
  } else if (static_cast<std::size_t>(index - offset) >= counts.size()) {
    counts.resize(static_cast<std::size_t>(index - offset) + 1, 0);
  }
  counts[static_cast<std::size_t>(index - offset)] += n;
}

void log_sketch::add(double x) {
  ++count_;
  double magnitude = std::abs(x);
  if (magnitude < std::numeric_limits<double>::min()) {
    ++zeros_;
    return;
  }
  (x > 0 ? positive_ : negative_).add(index_of(magnitude), 1);
}

void log_sketch::merge(const log_sketch& other) {
  count_ += other.count_;
  zeros_ += other.zeros_;
  auto merge_store = [](store& into, const store& from) {
    for (std::size_t i = 0; i < from.counts.size(); ++i)
      if (from.counts[i] != 0)
        into.add(from.offset + static_cast<std::int32_t>(i), from.counts[i]);
  };
  merge_store(positive_, other.positive_);
  merge_store(negative_, other.negative_);
}

void log_sketch::clear() noexcept {
  positive_.counts.clear();
  negative_.counts.clear();
  zeros_ = 0;
  count_ = 0;
}

double log_sketch::value_at_rank(std::uint64_t rank) const {
  // Ascending: negatives from the largest magnitude down, zeros, positives.
  std::uint64_t seen = 0;
  for (std::size_t i = negative_.counts.size(); i-- > 0;) {
    seen += negative_.counts[i];
    if (rank < seen)
      return -value_of(negative_.offset + static_cast<std::int32_t>(i));
  }
  seen += zeros_;
  if (rank < seen)
    return 0.0;
  for (std::size_t i = 0; i < positive_.counts.size(); ++i) {
    seen += positive_.counts[i];
    if (rank < seen)
      return value_of(positive_.offset + static_cast<std::int32_t>(i));
  }
  return positive_.counts.empty()
           ? 0.0
           : value_of(positive_.offset +
                      static_cast<std::int32_t>(positive_.counts.size() - 1));
}

double percentile_sorted(const double* sorted, std::size_t n, double p) {
  if (n == 0)
    return std::numeric_limits<double>::quiet_NaN();
  rank_split s = split(n, p);
  double a = sorted[s.rank];
  double b = s.rank + 1 < n ? sorted[s.rank + 1] : a;
  return interpolate(a, b, s.t);
}

} // namespace warren::actors
