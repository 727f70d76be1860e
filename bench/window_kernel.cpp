// warren-window-bench: the window kernel (actors/src/window) in process,
// against a straightforward implementation in the same run, as
// machine-readable lines `BENCH name=... value=... unit=...`.
//
//   build/bench/warren-window-bench [--events N] [--keys N] [--rounds N]
//                                   [--flush-every N]
//
// The stream: N events (default 10^7) over K keys (default 100), about one
// event per 0.6 ms of event time (1000 per key per minute), each up to 2 s
// out of order; windows of 5 minutes sliding every 60 s, out-of-orderness
// bound 5 s, so no event is late. One value field. After every
// --flush-every events (default 100: one message of a batched envelope) the
// operator flushes: the watermark moves and due windows are emitted. At the
// end one event far ahead closes every window, inside the timing.
//
//   window.kernel.moments.*        count, sum, avg, min, max, stddev
//   window.kernel.percentiles.*    the same plus exact p50, p90, p99
//   window.baseline.*              the same results, each event appended to
//                                  each of its 5 windows' vectors, sorted at
//                                  close (window_baseline.hpp)
//   *.ratio                        kernel / baseline throughput
//   window.kernel.moments.flush_each_event.throughput: a flush after every
//                                  event (single events per message)
//   window.kernel.approx_percentiles.throughput: moments plus p50, p90, p99
//                                  from log-bucket sketches (within 1%)
//
// Throughputs are events per second of the benchmark thread's CPU time (the
// machine is shared: wall time would count other processes). Figures are
// medians over the rounds, ratios the medians of the per-round ratios. Both
// sides' results are checked against each other every round (window count,
// event count, percentiles, means); a difference exits 1.

#include "window/window_kernel.hpp"

#include "stats.hpp"
#include "window_baseline.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <random>
#include <string>
#include <vector>

using namespace warren::actors;
using warren::bench::baseline_result;
using warren::bench::baseline_windows;
using warren::bench::print_metric;

namespace {

constexpr std::int64_t kSize = 300'000;
constexpr std::int64_t kSlide = 60'000;
constexpr std::int64_t kOutOfOrderness = 5000;
const std::vector<double> kPercentiles = {50, 90, 99};

struct options {
  std::size_t events = 10'000'000;
  std::size_t keys = 100;
  std::size_t rounds = 3;
  std::size_t flush_every = 100;
};

bool parse(int argc, char** argv, options& opts) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    std::size_t value = std::stoul(argv[i + 1]);
    if (flag == "--events")
      opts.events = value;
    else if (flag == "--keys")
      opts.keys = value;
    else if (flag == "--rounds")
      opts.rounds = value;
    else if (flag == "--flush-every")
      opts.flush_every = value;
    else
      return false;
  }
  return argc % 2 == 1 && opts.events > 0 && opts.keys > 0 && opts.rounds > 0 &&
         opts.flush_every > 0;
}

struct stream {
  std::vector<std::uint32_t> keys;
  std::vector<std::int64_t> times;
  std::vector<double> values;
};

stream generate(const options& opts) {
  stream s;
  s.keys.reserve(opts.events + 1);
  s.times.reserve(opts.events + 1);
  s.values.reserve(opts.events + 1);
  std::mt19937_64 rng{42};
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::int64_t base_us = std::int64_t{1'700'000'000'000} * 1000;
  // 1000 events per key per minute whatever the number of keys.
  std::int64_t step_us =
    60'000'000 / 1000 / static_cast<std::int64_t>(opts.keys);
  for (std::size_t i = 0; i < opts.events; ++i) {
    base_us += static_cast<std::int64_t>(
      rng() % static_cast<std::uint64_t>(2 * step_us + 1));
    s.keys.push_back(static_cast<std::uint32_t>(rng() % opts.keys));
    s.times.push_back(base_us / 1000 - static_cast<std::int64_t>(rng() % 2000));
    // About normal around 20 with a spread of 5 (a temperature, say).
    double x = unit(rng) + unit(rng) + unit(rng) + unit(rng) - 2.0;
    s.values.push_back(20.0 + 5.0 * x);
  }
  // The closing event: far ahead, every other window fires.
  s.keys.push_back(0);
  s.times.push_back(base_us / 1000 + 100 * kSize);
  s.values.push_back(0.0);
  return s;
}

/// What a run produced, to check both sides against each other.
struct tally {
  std::uint64_t windows = 0;
  std::uint64_t events = 0;
  double means = 0;
  double percentiles = 0;
  double approx_percentiles = 0;
};

bool agree(const tally& a, const tally& b) {
  auto near = [](double x, double y) {
    return std::abs(x - y) <= 1e-9 * std::max(std::abs(x), std::abs(y));
  };
  return a.windows == b.windows && a.events == b.events &&
         near(a.means, b.means) && near(a.percentiles, b.percentiles);
}

/// CPU time of this thread: the work done on one core, whatever else runs
/// on the (shared) machine meanwhile.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) +
         static_cast<double>(ts.tv_nsec) * 1e-9;
}

enum class kernel_mode { moments, exact, approximate };

double run_kernel(const stream& s, const options& opts, kernel_mode mode,
                  std::size_t flush_every, tally& out) {
  window_spec spec;
  spec.type = window_type::sliding;
  spec.size_ms = kSize;
  spec.slide_ms = kSlide;
  spec.max_out_of_orderness_ms = kOutOfOrderness;
  spec.fields.resize(1);
  if (mode == kernel_mode::exact)
    spec.fields[0].percentiles = kPercentiles;
  if (mode == kernel_mode::approximate)
    spec.fields[0].approx_percentiles = kPercentiles; // within 1%
  window_kernel kernel{spec};
  std::vector<std::string> names;
  for (std::size_t k = 0; k < opts.keys; ++k)
    names.push_back("device-" + std::to_string(k));
  // Ids are interned once and again only when the kernel dropped a key
  // (here: keys that got no event before the first flush).
  std::vector<window_key_id> ids(opts.keys);
  std::uint64_t generation = 0;
  auto intern_all = [&] {
    for (std::size_t k = 0; k < opts.keys; ++k)
      ids[k] = kernel.intern(names[k]);
    generation = kernel.key_generation();
  };
  intern_all();
  std::size_t reinterned = 0;
  auto emit = [&](const window_result& r) {
    ++out.windows;
    out.events += r.event_count;
    out.means += r.fields[0].mean;
    for (std::size_t i = 0; i < r.fields[0].percentile_count; ++i)
      out.percentiles += r.fields[0].percentiles[i];
    for (std::size_t i = 0; i < r.fields[0].approx_percentile_count; ++i)
      out.approx_percentiles += r.fields[0].approx_percentiles[i];
  };
  const std::size_t n = s.times.size();
  double start = cpu_seconds();
  std::size_t next_flush = flush_every;
  for (std::size_t i = 0; i < n; ++i) {
    kernel.offer(ids[s.keys[i]], s.times[i], &s.values[i]);
    if (i + 1 == next_flush || i + 1 == n) {
      kernel.flush(static_cast<std::int64_t>(i), emit);
      next_flush += flush_every;
      if (kernel.key_generation() != generation) {
        intern_all();
        if (i > n / 10 && i + 1 < n)
          ++reinterned;
      }
    }
  }
  double elapsed = cpu_seconds() - start;
  // Keys that get events all along are never dropped: re-interns at the
  // start (keys without an event yet), then none until the closing flush.
  if (reinterned > 0) {
    std::cerr << "warren-window-bench: keys were dropped " << reinterned
              << " times during the run\n";
    std::exit(1);
  }
  if (kernel.counters().late != 0) {
    std::cerr << "warren-window-bench: unexpected late events\n";
    std::exit(1);
  }
  return static_cast<double>(n) / elapsed;
}

double run_baseline(const stream& s, const options& opts, bool percentiles,
                    tally& out) {
  baseline_windows windows{opts.keys, kSize, kSlide, kOutOfOrderness,
                           percentiles ? kPercentiles : std::vector<double>{}};
  std::size_t percentile_count = percentiles ? kPercentiles.size() : 0;
  std::function<void(const baseline_result&)> emit =
    [&](const baseline_result& r) {
      ++out.windows;
      out.events += r.count;
      out.means += r.mean;
      for (std::size_t i = 0; i < percentile_count; ++i)
        out.percentiles += r.percentiles[i];
    };
  const std::size_t n = s.times.size();
  double start = cpu_seconds();
  std::size_t next_flush = opts.flush_every;
  for (std::size_t i = 0; i < n; ++i) {
    windows.offer(s.keys[i], s.times[i], s.values[i]);
    if (i + 1 == next_flush || i + 1 == n) {
      windows.flush(emit);
      next_flush += opts.flush_every;
    }
  }
  return static_cast<double>(n) / (cpu_seconds() - start);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

} // namespace

int main(int argc, char** argv) {
  options opts;
  if (!parse(argc, argv, opts)) {
    std::cerr << "usage: warren-window-bench [--events N] [--keys N] "
                 "[--rounds N] [--flush-every N]\n";
    return 2;
  }
  std::cerr << "generating " << opts.events << " events over " << opts.keys
            << " keys\n";
  stream s = generate(opts);
  std::vector<double> kernel_moments, kernel_percentiles, base_moments,
    base_percentiles, ratio_moments, ratio_percentiles, flush_each, approximate;
  for (std::size_t round = 0; round < opts.rounds; ++round) {
    tally km, kp, bm, bp, ke, ka;
    double a = run_kernel(s, opts, kernel_mode::moments, opts.flush_every, km);
    double b = run_baseline(s, opts, false, bm);
    double c = run_kernel(s, opts, kernel_mode::exact, opts.flush_every, kp);
    double d = run_baseline(s, opts, true, bp);
    double e = run_kernel(s, opts, kernel_mode::moments, 1, ke);
    double f =
      run_kernel(s, opts, kernel_mode::approximate, opts.flush_every, ka);
    // The sketch's percentiles are each within 1% of the exact ones, so
    // their sum is too.
    bool approx_close = std::abs(ka.approx_percentiles - bp.percentiles) <=
                        0.01 * std::abs(bp.percentiles);
    if (!agree(km, bm) || !agree(kp, bp) || !agree(km, ke) || !approx_close) {
      std::cerr << "warren-window-bench: the kernel and the baseline disagree ("
                << km.windows << " vs " << bm.windows << " windows, "
                << kp.percentiles << " vs " << bp.percentiles
                << " percentile sum)\n";
      return 1;
    }
    std::cerr << "round " << round + 1 << ": kernel " << a / 1e6 << " / "
              << c / 1e6 << " M events/s, baseline " << b / 1e6 << " / "
              << d / 1e6 << ", flush each event " << e / 1e6
              << ", approximate percentiles " << f / 1e6 << "; " << km.windows
              << " windows\n";
    kernel_moments.push_back(a);
    base_moments.push_back(b);
    kernel_percentiles.push_back(c);
    base_percentiles.push_back(d);
    flush_each.push_back(e);
    approximate.push_back(f);
    ratio_moments.push_back(a / b);
    ratio_percentiles.push_back(c / d);
  }
  print_metric("window.kernel.moments.throughput", median(kernel_moments),
               "events/s");
  print_metric("window.baseline.moments.throughput", median(base_moments),
               "events/s");
  print_metric("window.kernel.moments.ratio", median(ratio_moments), "x");
  print_metric("window.kernel.percentiles.throughput",
               median(kernel_percentiles), "events/s");
  print_metric("window.baseline.percentiles.throughput",
               median(base_percentiles), "events/s");
  print_metric("window.kernel.percentiles.ratio", median(ratio_percentiles),
               "x");
  print_metric("window.kernel.moments.flush_each_event.throughput",
               median(flush_each), "events/s");
  print_metric("window.kernel.approx_percentiles.throughput",
               median(approximate), "events/s");
  return 0;
}
