// The window kernel's rules one at a time (docs/windows.md): when a window
// fires, updates within the allowed lateness, late events, sliding windows
// partly forgotten, sessions that touch and bridge, idle advance, memory,
// and the arithmetic under them (selection across sorted runs, percentiles,
// stable variance).

#include "window/window_kernel.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace warren::actors;

namespace {

const double missing = std::numeric_limits<double>::quiet_NaN();

struct seen {
  std::string key;
  std::int64_t start, end;
  std::uint32_t revision;
  bool is_update;
  std::uint64_t events;
  std::uint64_t count;
  double sum, mean, min, max, stddev, stddev_sample;
  std::vector<double> percentiles;
};

struct sink {
  std::vector<seen> results;
  void operator()(const window_result& r) {
    seen s{std::string{r.key_name},
           r.start,
           r.end,
           r.revision,
           r.is_update,
           r.event_count,
           0,
           0,
           0,
           0,
           0,
           0,
           0,
           {}};
    if (r.field_count > 0) {
      const auto& f = r.fields[0];
      s.count = f.count;
      s.sum = f.sum;
      s.mean = f.mean;
      s.min = f.min;
      s.max = f.max;
      s.stddev = f.stddev;
      s.stddev_sample = f.stddev_sample;
      s.percentiles.assign(f.percentiles, f.percentiles + f.percentile_count);
    }
    results.push_back(std::move(s));
  }
  std::vector<seen> take() {
    std::vector<seen> out;
    out.swap(results);
    return out;
  }
};

window_spec tumbling(std::int64_t size, std::int64_t ooo,
                     std::int64_t lateness) {
  window_spec spec;
  spec.type = window_type::tumbling;
  spec.size_ms = size;
  spec.max_out_of_orderness_ms = ooo;
  spec.allowed_lateness_ms = lateness;
  spec.fields.resize(1);
  return spec;
}

window_spec sliding(std::int64_t size, std::int64_t slide, std::int64_t ooo,
                    std::int64_t lateness) {
  window_spec spec = tumbling(size, ooo, lateness);
  spec.type = window_type::sliding;
  spec.slide_ms = slide;
  return spec;
}

window_spec sessions(std::int64_t gap, std::int64_t ooo,
                     std::int64_t lateness) {
  window_spec spec = tumbling(1, ooo, lateness);
  spec.type = window_type::session;
  spec.size_ms = 0;
  spec.gap_ms = gap;
  return spec;
}

offer_result offer(window_kernel& k, const char* key, std::int64_t t,
                   double v) {
  return k.offer(k.intern(key), t, &v);
}

} // namespace

// -- arithmetic
// -----------------------------------------------------------------

TEST_CASE("selection across sorted runs finds every rank of their union",
          "[window]") {
  std::mt19937_64 rng{7};
  std::vector<std::size_t> scratch;
  for (int round = 0; round < 300; ++round) {
    std::size_t run_count = 1 + rng() % 7;
    std::vector<std::vector<double>> runs(run_count);
    std::vector<double> all;
    for (auto& run : runs) {
      std::size_t n = rng() % 4 == 0 ? 0 : rng() % 60;
      for (std::size_t i = 0; i < n; ++i)
        // Few distinct values in odd rounds: many ties.
        run.push_back(static_cast<double>(rng() % (round % 2 ? 5 : 1000)));
      std::sort(run.begin(), run.end());
      all.insert(all.end(), run.begin(), run.end());
    }
    if (all.empty())
      continue;
    std::sort(all.begin(), all.end());
    std::vector<sorted_run> views;
    for (auto& run : runs)
      views.push_back(sorted_run{run.data(), run.size()});
    for (std::size_t k = 0; k < all.size(); ++k) {
      kth_pair got = select_kth(views.data(), views.size(), k, scratch);
      REQUIRE(got.kth == all[k]);
      REQUIRE(got.next == all[std::min(k + 1, all.size() - 1)]);
    }
  }
}

TEST_CASE("the radix sort of a slice's values sorts as std::sort does",
          "[window]") {
  std::mt19937_64 rng{11};
  std::vector<std::uint64_t> scratch;
  for (std::size_t n : {0, 1, 100, 255, 256, 1000, 5000}) {
    for (int shape = 0; shape < 3; ++shape) {
      std::vector<double> xs(n);
      std::uniform_real_distribution<double> wide(-1e6, 1e6);
      for (auto& x : xs)
        x = shape == 0   ? wide(rng)                           // signs mixed
            : shape == 1 ? 20.0 + wide(rng) * 1e-7             // one exponent
                         : static_cast<double>(rng() % 7) - 3; // ties
      std::vector<double> expected = xs;
      std::sort(expected.begin(), expected.end());
      sort_values(xs.data(), xs.size(), scratch);
      CHECK(xs == expected);
    }
  }
}

TEST_CASE("percentiles interpolate linearly between the closest ranks as "
          "numpy does",
          "[window]") {
  std::vector<double> xs{1, 2, 3, 4};
  // Even n: the median is the mean of the two middle values.
  CHECK(percentile_sorted(xs.data(), xs.size(), 50) == 2.5);
  CHECK(percentile_sorted(xs.data(), xs.size(), 0) == 1);
  CHECK(percentile_sorted(xs.data(), xs.size(), 100) == 4);
  CHECK(percentile_sorted(xs.data(), xs.size(), 25) == 1.75);
  CHECK(percentile_sorted(xs.data(), xs.size(), 90) == Approx(3.7));
  std::vector<double> odd{1, 3, 5};
  CHECK(percentile_sorted(odd.data(), odd.size(), 50) == 3);
  std::vector<double> one{42};
  CHECK(percentile_sorted(one.data(), one.size(), 99) == 42);
  CHECK(std::isnan(percentile_sorted(nullptr, 0, 50)));
}

TEST_CASE("variance stays accurate on values like 1e9 plus small noise, where "
          "the naive sum of squares fails",
          "[window]") {
  // One sliding window of 10 slices: Welford per slice, Chan across slices.
  window_kernel kernel{sliding(10'000, 1000, 0, 0)};
  std::mt19937_64 rng{3};
  std::uniform_real_distribution<double> noise(0.0, 1.0);
  std::vector<double> xs;
  for (std::int64_t t = 0; t < 10'000; ++t) {
    double x = 1e9 + noise(rng);
    xs.push_back(x);
    REQUIRE(offer(kernel, "k", t, x) == offer_result::accepted);
  }
  sink out;
  offer(kernel, "k", 10'000, 1e9); // W = 9999: [0, 10000) fires
  kernel.flush(0, std::ref(out));
  auto results = out.take();
  auto whole = std::find_if(results.begin(), results.end(),
                            [](const seen& s) { return s.start == 0; });
  REQUIRE(whole != results.end());
  REQUIRE(whole->count == 10'000);

  long double mean = 0;
  for (double x : xs)
    mean += x;
  mean /= xs.size();
  long double m2 = 0;
  for (double x : xs)
    m2 += (x - mean) * (x - mean);
  double exact = std::sqrt(static_cast<double>(m2 / xs.size()));

  double sum = 0, sum_squares = 0;
  for (double x : xs) {
    sum += x;
    sum_squares += x * x;
  }
  double naive_mean = sum / xs.size();
  double naive_variance = sum_squares / xs.size() - naive_mean * naive_mean;
  double naive = std::sqrt(std::max(naive_variance, 0.0));

  INFO("exact " << exact << ", kernel " << whole->stddev << ", naive "
                << naive);
  CHECK(std::abs(whole->stddev - exact) / exact < 1e-6);
  CHECK(std::abs(naive - exact) / exact > 1e-2);
}

TEST_CASE("a log-bucket sketch estimates every rank within its relative "
          "error",
          "[window]") {
  std::mt19937_64 rng{21};
  std::lognormal_distribution<double> spread(0.0, 3.0);
  for (double alpha : {0.01, 0.001}) {
    log_sketch a{alpha}, b{alpha};
    std::vector<double> xs;
    for (int i = 0; i < 20'000; ++i) {
      double x = spread(rng) * (rng() % 3 == 0 ? -1.0 : 1.0);
      if (rng() % 50 == 0)
        x = 0.0;
      xs.push_back(x);
      (i % 2 ? a : b).add(x); // two slices, merged
    }
    a.merge(b);
    std::sort(xs.begin(), xs.end());
    REQUIRE(a.count() == xs.size());
    for (std::size_t rank = 0; rank < xs.size(); rank += 7)
      REQUIRE(std::abs(a.value_at_rank(rank) - xs[rank]) <=
              alpha * std::abs(xs[rank]) * (1 + 1e-9));
  }
}

TEST_CASE("approximate percentiles stay within their stated relative error "
          "of the exact ones",
          "[window]") {
  window_spec spec = sliding(10'000, 2'500, 0, 0);
  const std::vector<double> ps{0, 1, 25, 50, 90, 99, 99.9, 100};
  spec.fields[0].percentiles = ps;
  spec.fields[0].approx_percentiles = ps;
  spec.fields[0].approx_relative_error = 0.01;
  window_kernel kernel{spec};
  std::mt19937_64 rng{22};
  std::lognormal_distribution<double> spread(3.0, 1.0);
  std::size_t checked = 0;
  std::size_t failures = 0;
  auto check = [&](const window_result& r) {
    const auto& f = r.fields[0];
    REQUIRE(f.approx_percentile_count == ps.size());
    for (std::size_t i = 0; i < ps.size(); ++i) {
      double exact = f.percentiles[i];
      double approx = f.approx_percentiles[i];
      // Same sign: relative to the value; else to the largest magnitude.
      double bound = f.min > 0 ? std::abs(exact)
                               : std::max(std::abs(f.min), std::abs(f.max));
      failures += std::abs(approx - exact) <= 0.01 * bound * (1 + 1e-9) ? 0 : 1;
      ++checked;
    }
  };
  for (std::int64_t t = 0; t < 200'000; ++t) {
    // Positive values for the first half, then mixed signs.
    double x = spread(rng) * (t > 100'000 && rng() % 2 ? -1.0 : 1.0);
    kernel.offer(kernel.intern("k"), t, &x);
    if (t % 100 == 0)
      kernel.flush(t, check);
  }
  kernel.finish(check);
  CHECK(checked > 500);
  CHECK(failures == 0);
  CHECK(kernel.memory().sketch_buckets == 0);
}

// -- firing, updates, lateness
// --------------------------------------------------

TEST_CASE("a window fires at the first flush where the watermark reaches its "
          "end minus one",
          "[window]") {
  window_kernel kernel{tumbling(1000, 100, 0)};
  sink out;
  offer(kernel, "a", 500, 1.0);
  offer(kernel, "a", 1099, 2.0); // W = 1099 - 100 - 1 = 998
  kernel.flush(0, std::ref(out));
  CHECK(kernel.watermark() == 998);
  CHECK(out.results.empty());
  offer(kernel, "a", 1100, 3.0); // W = 999 = end - 1
  CHECK(out.results.empty());    // nothing before the flush
  kernel.flush(1, std::ref(out));
  auto r = out.take();
  REQUIRE(r.size() == 1);
  CHECK(r[0].key == "a");
  CHECK(r[0].start == 0);
  CHECK(r[0].end == 1000);
  CHECK(r[0].revision == 0);
  CHECK_FALSE(r[0].is_update);
  CHECK(r[0].events == 1);
  CHECK(r[0].sum == 1.0);
  CHECK(kernel.counters().windows_fired == 1);
}

TEST_CASE("an event within the allowed lateness updates a fired window and a "
          "later one is reported late",
          "[window]") {
  window_kernel kernel{tumbling(1000, 0, 500)};
  sink out;
  offer(kernel, "a", 100, 1.0);
  offer(kernel, "a", 1000, 5.0); // W = 999: [0, 1000) fires
  kernel.flush(0, std::ref(out));
  REQUIRE(out.take().size() == 1);
  CHECK(offer(kernel, "a", 300, 2.0) == offer_result::accepted);
  CHECK(offer(kernel, "a", 400, 3.0) == offer_result::accepted);
  kernel.flush(1, std::ref(out));
  auto r = out.take();
  REQUIRE(r.size() == 1); // two late events, one update
  CHECK(r[0].revision == 1);
  CHECK(r[0].is_update);
  CHECK(r[0].events == 3);
  CHECK(r[0].sum == 6.0);
  CHECK(kernel.counters().updates == 1);
  offer(kernel, "a", 1500, 0.0); // W = 1499 = end - 1 + lateness
  kernel.flush(2, std::ref(out));
  CHECK(out.take().empty());
  CHECK(offer(kernel, "a", 999, 9.0) == offer_result::late);
  CHECK(offer(kernel, "a", 1001, 9.0) == offer_result::accepted);
  CHECK(kernel.counters().late == 1);
}

TEST_CASE("an event of a sliding window joins only its windows that are not "
          "forgotten",
          "[window]") {
  window_kernel kernel{sliding(1000, 500, 0, 0)};
  sink out;
  offer(kernel, "a", 100, 1.0);  // [-500, 500), [0, 1000)
  offer(kernel, "a", 1000, 1.0); // W = 999: both fire and are forgotten
  kernel.flush(0, std::ref(out));
  REQUIRE(out.take().size() == 2);
  // 700 is in [0, 1000) (forgotten) and [500, 1500) (open).
  CHECK(offer(kernel, "a", 700, 10.0) == offer_result::accepted);
  CHECK(offer(kernel, "a", 400, 10.0) == offer_result::late);
  offer(kernel, "a", 1500, 1.0); // W = 1499: [500, 1500) fires
  kernel.flush(1, std::ref(out));
  auto r = out.take();
  REQUIRE(r.size() == 1);
  CHECK(r[0].start == 500);
  CHECK(r[0].events == 2); // 700 and 1000
  CHECK(r[0].sum == 11.0);
  CHECK(r[0].revision == 0);
}

TEST_CASE("each on-time event contributes to exactly size / slide sliding "
          "windows",
          "[window]") {
  window_kernel kernel{sliding(300'000, 60'000, 5000, 10'000)};
  sink out;
  std::mt19937_64 rng{5};
  std::uint64_t accepted = 0;
  std::uint64_t contributions = 0;
  std::int64_t base = 0;
  auto add_up = [&](std::vector<seen> results) {
    for (const auto& s : results) {
      CHECK_FALSE(s.is_update); // on-time events never update a window
      contributions += s.events;
    }
  };
  for (int i = 0; i < 200'000; ++i) {
    base += static_cast<std::int64_t>(rng() % 40);
    // Within the out-of-orderness bound: never late, never an update.
    std::int64_t t = base - static_cast<std::int64_t>(rng() % 5000);
    std::string key = "k" + std::to_string(rng() % 10);
    REQUIRE(offer(kernel, key.c_str(), t, 1.0) == offer_result::accepted);
    ++accepted;
    if (i % 50 == 0) {
      kernel.flush(i, std::ref(out));
      add_up(out.take());
    }
  }
  // One event far ahead closes every window but its own.
  offer(kernel, "k0", base + 10'000'000, 1.0);
  kernel.flush(1'000'000, std::ref(out));
  add_up(out.take());
  CHECK(contributions == accepted * 5);
}

// -- sessions
// -------------------------------------------------------------------

TEST_CASE("events at most gap apart share a session and events further apart "
          "do not",
          "[window]") {
  window_kernel kernel{sessions(100, 0, 0)};
  sink out;
  offer(kernel, "s", 1000, 1.0);
  offer(kernel, "s", 1100, 2.0); // exactly gap apart: same session
  offer(kernel, "s", 1301, 4.0); // gap + 1 after 1100's end: a new one
  offer(kernel, "s", 5000, 0.0); // W = 4999
  kernel.flush(0, std::ref(out));
  auto r = out.take();
  REQUIRE(r.size() == 2);
  std::sort(r.begin(), r.end(),
            [](const seen& a, const seen& b) { return a.start < b.start; });
  CHECK(r[0].start == 1000);
  CHECK(r[0].end == 1200); // last event + gap
  CHECK(r[0].events == 2);
  CHECK(r[1].start == 1301);
  CHECK(r[1].end == 1401);
  CHECK(r[1].events == 1);
}

TEST_CASE("a late event that bridges two fired sessions emits one update "
          "revising both",
          "[window]") {
  window_kernel kernel{sessions(100, 0, 10'000)};
  sink out;
  offer(kernel, "s", 1000, 1.0); // [1000, 1100)
  offer(kernel, "s", 1180, 2.0); // [1180, 1280)
  offer(kernel, "s", 2000, 0.0); // W = 1999: both fire
  kernel.flush(0, std::ref(out));
  REQUIRE(out.take().size() == 2);
  // The event's own window [1090, 1190) meets both sessions.
  CHECK(offer(kernel, "s", 1090, 4.0) == offer_result::accepted);
  kernel.flush(1, std::ref(out));
  auto r = out.take();
  REQUIRE(r.size() == 1);
  CHECK(r[0].start == 1000);
  CHECK(r[0].end == 1280);
  CHECK(r[0].revision == 1);
  CHECK(r[0].is_update);
  CHECK(r[0].events == 3);
  CHECK(r[0].sum == 7.0);
}

TEST_CASE("a late event that extends a fired session past the watermark "
          "updates it when the new end passes",
          "[window]") {
  window_kernel kernel{sessions(100, 0, 10'000)};
  sink out;
  offer(kernel, "s", 1000, 1.0);
  offer(kernel, "s", 1150, 0.0); // W = 1149 >= 1099: [1000, 1100) fires
  kernel.flush(0, std::ref(out));
  auto first = out.take();
  REQUIRE(first.size() == 1);
  CHECK(first[0].end == 1100);
  // 1090 merges [1000, 1100) and [1150, 1250) into [1000, 1250): not due
  // while W is 1149.
  offer(kernel, "s", 1090, 1.0);
  kernel.flush(1, std::ref(out));
  CHECK(out.take().empty());
  offer(kernel, "s", 1400, 0.0); // W = 1399
  kernel.flush(2, std::ref(out));
  auto r = out.take();
  REQUIRE(r.size() == 1);
  CHECK(r[0].start == 1000);
  CHECK(r[0].end == 1250);
  CHECK(r[0].revision == 1);
  CHECK(r[0].events == 3);
}

// -- idle, memory, validity
// ------------------------------------------------------

TEST_CASE("the idle timeout moves the watermark with processing time so "
          "windows close when the input stops",
          "[window]") {
  window_spec spec = tumbling(1000, 0, 0);
  spec.idle_timeout_ms = 1000;
  window_kernel kernel{spec};
  sink out;
  offer(kernel, "a", 500, 1.0);
  kernel.flush(10'000, std::ref(out)); // arrived at processing time 10 s
  CHECK(kernel.watermark() == 499);
  CHECK_FALSE(kernel.advance_idle(10'999, std::ref(out)));
  CHECK(out.results.empty());
  CHECK(kernel.advance_idle(11'000, std::ref(out)));
  CHECK(kernel.watermark() == 499 + 1000);
  auto r = out.take();
  REQUIRE(r.size() == 1);
  CHECK(r[0].end == 1000);
  CHECK(kernel.memory().keys == 0);
}

TEST_CASE("finish emits every window still open and forgets them all",
          "[window]") {
  window_kernel kernel{sliding(1000, 500, 10'000, 10'000)};
  sink out;
  offer(kernel, "a", 100, 1.0);
  offer(kernel, "b", 700, 2.0); // W = 700 - 10000 - 1: nothing fires
  kernel.flush(0, std::ref(out));
  CHECK(out.take().empty());
  kernel.finish(std::ref(out));
  CHECK(out.take().size() == 4); // two windows per event
  CHECK(kernel.memory().keys == 0);
  CHECK(kernel.memory().open_windows == 0);
}

TEST_CASE("without an idle timeout the watermark waits for events",
          "[window]") {
  window_kernel kernel{tumbling(1000, 0, 0)};
  sink out;
  offer(kernel, "a", 500, 1.0);
  kernel.flush(0, std::ref(out));
  CHECK_FALSE(kernel.advance_idle(1'000'000'000, std::ref(out)));
  CHECK(out.results.empty());
}

TEST_CASE("memory accounting counts values per key and drops keys whose "
          "windows are all closed",
          "[window]") {
  window_spec spec = sliding(1000, 500, 0, 0);
  spec.fields[0].percentiles = {50};
  window_kernel kernel{spec};
  sink out;
  for (int i = 0; i < 10; ++i)
    offer(kernel, "a", 100 + i, i);
  for (int i = 0; i < 4; ++i)
    offer(kernel, "b", 200 + i, i);
  kernel.flush(0, std::ref(out));
  CHECK(kernel.key_values(*kernel.find_key("a")) == 10);
  CHECK(kernel.key_values(*kernel.find_key("b")) == 4);
  window_memory m = kernel.memory();
  CHECK(m.keys == 2);
  CHECK(m.values == 14);
  CHECK(m.partials == 2);     // one slice each
  CHECK(m.open_windows == 4); // [-500, 500) and [0, 1000) each
  CHECK(m.approx_bytes >= 14 * sizeof(double));
  offer(kernel, "c", 5000, 1.0); // W = 4999: a's and b's windows close
  kernel.flush(1, std::ref(out));
  CHECK(out.take().size() == 4);
  CHECK_FALSE(kernel.find_key("a").has_value());
  CHECK_FALSE(kernel.find_key("b").has_value());
  m = kernel.memory();
  CHECK(m.keys == 1);
  CHECK(m.values == 1);
  CHECK(m.partials == 1);
}

TEST_CASE("a key interned for an event that was late holds no memory after "
          "the next flush",
          "[window]") {
  window_kernel kernel{tumbling(1000, 0, 0)};
  sink out;
  offer(kernel, "a", 5000, 1.0);
  kernel.flush(0, std::ref(out));
  CHECK(offer(kernel, "b", 10, 1.0) == offer_result::late);
  CHECK(kernel.memory().keys == 2);
  kernel.flush(1, std::ref(out));
  CHECK(kernel.memory().keys == 1);
  CHECK_FALSE(kernel.find_key("b").has_value());
}

TEST_CASE("a missing field (NaN) is not counted for that field but the event "
          "is",
          "[window]") {
  window_spec spec = tumbling(1000, 0, 0);
  spec.fields.resize(2);
  spec.fields[1].percentiles = {50};
  window_kernel kernel{spec};
  std::vector<window_field_result> fields;
  std::uint64_t events = 0;
  auto grab = [&](const window_result& r) {
    fields.assign(r.fields, r.fields + r.field_count);
    events = r.event_count;
  };
  double both[] = {1.0, 2.0};
  double first_only[] = {3.0, missing};
  double none[] = {missing, missing};
  auto a = kernel.intern("a");
  kernel.offer(a, 1, both);
  kernel.offer(a, 2, first_only);
  kernel.offer(a, 3, none);
  double later[] = {0.0, 0.0};
  kernel.offer(a, 1000, later);
  kernel.flush(0, grab);
  CHECK(events == 3);
  REQUIRE(fields.size() == 2);
  CHECK(fields[0].count == 2);
  CHECK(fields[0].sum == 4.0);
  CHECK(fields[1].count == 1);
  CHECK(fields[1].max == 2.0);
  CHECK(std::isnan(fields[1].stddev_sample)); // one value
  CHECK(fields[1].stddev == 0.0);
}

TEST_CASE("an infinite value or an event time out of range is invalid and "
          "changes nothing",
          "[window]") {
  window_kernel kernel{tumbling(1000, 0, 0)};
  CHECK(offer(kernel, "a", 1, std::numeric_limits<double>::infinity()) ==
        offer_result::invalid);
  CHECK(offer(kernel, "a", kMaxEventTime + 1, 1.0) == offer_result::invalid);
  CHECK(kernel.counters().invalid == 2);
  CHECK(kernel.memory().partials == 0);
  CHECK_FALSE(kernel.max_event_time().has_value());
}

TEST_CASE("validation names the member that is wrong", "[window]") {
  window_spec spec = sliding(1000, 0, 0, 0);
  CHECK(validate(spec).value_or("").rfind("slide_ms:", 0) == 0);
  spec.slide_ms = 2000;
  CHECK(validate(spec).value_or("").rfind("slide_ms:", 0) == 0);
  spec.size_ms = 2000;
  spec.slide_ms = 1;
  CHECK(validate(spec).value_or("").find("more than 1000 windows") !=
        std::string::npos);
  spec.size_ms = 1000;
  spec.slide_ms = 250;
  CHECK_FALSE(validate(spec).has_value());
  spec.offset_ms = 250;
  CHECK(validate(spec).value_or("").rfind("offset_ms:", 0) == 0);
  spec.offset_ms = 0;
  spec.fields[0].approx_percentiles = {50};
  spec.fields[0].approx_relative_error = 0.0;
  CHECK(validate(spec).value_or("").rfind("fields[0].approx_relative_error:",
                                          0) == 0);
  spec.fields[0].approx_relative_error = 0.01;
  CHECK_FALSE(validate(spec).has_value());
  spec.fields[0].percentiles = {50, 101};
  CHECK(validate(spec).value_or("").rfind("fields[0].percentiles[1]:", 0) == 0);
  window_spec s = sessions(0, 0, 0);
  CHECK(validate(s).value_or("").rfind("gap_ms:", 0) == 0);
  s.gap_ms = 10;
  s.allowed_lateness_ms = -1;
  CHECK(validate(s).value_or("").rfind("allowed_lateness_ms:", 0) == 0);
}

TEST_CASE("retained_until and retention_horizon say when a logged event is no "
          "longer needed",
          "[window]") {
  window_kernel kernel{sliding(1000, 500, 0, 200)};
  // 700 is in [0, 1000) and [500, 1500): unchanged once W >= 1499 + 200.
  CHECK(kernel.retained_until(700) == 1699);
  sink out;
  offer(kernel, "a", 700, 1.0);
  offer(kernel, "a", 1700, 1.0); // W = 1699
  kernel.flush(0, std::ref(out));
  // Open windows: [1000, 2000) and later; everything before 1000 is done.
  CHECK(kernel.retention_horizon() == 1000);
}

TEST_CASE("import refuses a state saved by a window of another shape",
          "[window]") {
  window_kernel a{sliding(1000, 500, 0, 0)};
  sink out;
  offer(a, "k", 10, 1.0);
  a.flush(0, std::ref(out));
  window_kernel b{sliding(2000, 500, 0, 0)};
  auto error = b.import_state(a.export_state());
  REQUIRE(error.has_value());
  CHECK(error->find("size_ms") != std::string::npos);
  window_kernel c{tumbling(1000, 0, 0)};
  CHECK(c.import_state(a.export_state()).has_value());
  window_kernel d{sliding(1000, 500, 0, 0)};
  CHECK_FALSE(d.import_state(a.export_state()).has_value());
  CHECK(d.watermark() == a.watermark());
}
