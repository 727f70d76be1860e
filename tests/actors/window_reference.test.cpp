// The window kernel against a brute-force reference written from
// docs/windows.md alone: every window is recomputed from the raw events it
// holds (sorted, summed in long double), on random out-of-order streams with
// late, late-but-allowed and idle periods. Then: export + replay reproduces a
// kernel exactly.
//
// WARREN_TEST_FULL=1 runs 10^7 events per window type instead of 10^6.

#include "window/window_kernel.hpp"

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

using namespace warren::actors;

namespace {

constexpr std::size_t kFields = 2;
const std::vector<double> kPercentiles = {0,  1,  10, 25,   50, 75,
                                          90, 95, 99, 99.9, 100};
constexpr std::int64_t kNoWatermark = -(std::int64_t{1} << 62);

std::size_t events_per_type() {
  const char* full = std::getenv("WARREN_TEST_FULL");
  return full != nullptr && std::string{full} == "1" ? 10'000'000 : 1'000'000;
}

window_spec make_spec(window_type type, std::int64_t size, std::int64_t slide,
                      std::int64_t gap, std::int64_t offset) {
  window_spec spec;
  spec.type = type;
  spec.size_ms = size;
  spec.slide_ms = slide;
  spec.gap_ms = gap;
  spec.offset_ms = offset;
  spec.max_out_of_orderness_ms = 200;
  spec.allowed_lateness_ms = 300;
  spec.idle_timeout_ms = 5000;
  spec.fields.resize(kFields);
  spec.fields[0].percentiles = kPercentiles; // raw values kept
  return spec;                               // field 1: moments only
}

// -- one result, owned
// ---------------------------------------------------------

struct field_out {
  std::uint64_t count = 0;
  double sum = 0, mean = 0, min = 0, max = 0, var = 0, var_s = 0;
  std::vector<double> percentiles;
};

struct result_out {
  std::string key;
  std::int64_t start = 0, end = 0;
  std::uint32_t revision = 0;
  bool is_update = false;
  std::uint64_t events = 0;
  std::vector<field_out> fields;

  auto id() const { return std::tie(key, start, end, revision); }
  bool operator<(const result_out& o) const { return id() < o.id(); }
};

result_out own(const window_result& r) {
  result_out out;
  out.key = std::string{r.key_name};
  out.start = r.start;
  out.end = r.end;
  out.revision = r.revision;
  out.is_update = r.is_update;
  out.events = r.event_count;
  for (std::size_t f = 0; f < r.field_count; ++f) {
    const auto& in = r.fields[f];
    field_out fo;
    fo.count = in.count;
    fo.sum = in.sum;
    fo.mean = in.mean;
    fo.min = in.min;
    fo.max = in.max;
    fo.var = in.variance;
    fo.var_s = in.variance_sample;
    fo.percentiles.assign(in.percentiles, in.percentiles + in.percentile_count);
    out.fields.push_back(std::move(fo));
  }
  return out;
}

bool same_bits(double a, double b) {
  return std::memcmp(&a, &b, sizeof a) == 0 || (std::isnan(a) && std::isnan(b));
}

bool identical(const result_out& a, const result_out& b) {
  if (a.id() != b.id() || a.is_update != b.is_update || a.events != b.events ||
      a.fields.size() != b.fields.size())
    return false;
  for (std::size_t f = 0; f < a.fields.size(); ++f) {
    const auto& x = a.fields[f];
    const auto& y = b.fields[f];
    if (x.count != y.count || !same_bits(x.sum, y.sum) ||
        !same_bits(x.mean, y.mean) || !same_bits(x.min, y.min) ||
        !same_bits(x.max, y.max) || !same_bits(x.var, y.var) ||
        !same_bits(x.var_s, y.var_s) ||
        x.percentiles.size() != y.percentiles.size())
      return false;
    for (std::size_t i = 0; i < x.percentiles.size(); ++i)
      if (!same_bits(x.percentiles[i], y.percentiles[i]))
        return false;
  }
  return true;
}

// -- the stream
// ------------------------------------------------------------------

struct event {
  std::string key;
  std::int64_t time;
  std::array<double, kFields> values;
};

/// One step of the stream: a message of events and its flush, or a quiet
/// period ended by an idle check.
struct step {
  std::vector<event> events;
  std::int64_t now = 0;
  bool idle_check = false;
};

/// Events mostly within the out-of-orderness bound, some within the allowed
/// lateness, some later than that; 7 keys of unequal rates (rare keys go
/// quiet, get dropped and come back); values with ties and missing fields.
class stream {
 public:
  explicit stream(std::uint64_t seed, std::int64_t mean_step_ms)
    : rng_(seed), mean_step_(mean_step_ms) {}

  step next() {
    step s;
    now_ += 1 + static_cast<std::int64_t>(rng_() % 3);
    if (rng_() % 2000 == 0) {
      // The input goes quiet for longer than the idle timeout.
      now_ += 5000 + static_cast<std::int64_t>(rng_() % 5000);
      s.now = now_;
      s.idle_check = true;
      return s;
    }
    std::size_t n = 1 + rng_() % 16;
    for (std::size_t i = 0; i < n; ++i)
      s.events.push_back(make_event());
    s.now = now_;
    return s;
  }

 private:
  event make_event() {
    base_ += static_cast<std::int64_t>(rng_() % (2 * mean_step_ + 1));
    std::uint64_t kind = rng_() % 100;
    std::int64_t delay;
    if (kind < 85)
      delay = static_cast<std::int64_t>(rng_() % 201); // within the bound
    else if (kind < 95)
      delay = 200 + static_cast<std::int64_t>(rng_() % 300); // within lateness
    else
      delay = 500 + static_cast<std::int64_t>(rng_() % 3000); // mostly late
    event e;
    static const unsigned weights[] = {30, 25, 20, 12, 8, 4, 1};
    unsigned pick = static_cast<unsigned>(rng_() % 100);
    std::size_t key = 0;
    while (pick >= weights[key]) {
      pick -= weights[key];
      ++key;
    }
    e.key = "key-" + std::to_string(key);
    e.time = base_ - delay;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    // Field 0: small integers half the time (ties), else reals; 5% missing.
    double v0 = rng_() % 2 == 0 ? static_cast<double>(rng_() % 20)
                                : unit(rng_) * 200.0 - 100.0;
    // Field 1: a large offset plus noise (cancellation-prone); 5% missing.
    double v1 = 1e6 + unit(rng_);
    e.values = {rng_() % 20 == 0 ? nan : v0, rng_() % 20 == 0 ? nan : v1};
    return e;
  }

  std::mt19937_64 rng_;
  std::int64_t mean_step_;
  std::int64_t base_ = 1'000'000;
  std::int64_t now_ = 0;
};

// -- the reference
// -------------------------------------------------------------

double reference_percentile(const std::vector<double>& sorted, double p) {
  // numpy.percentile, method "linear".
  std::size_t n = sorted.size();
  double h = static_cast<double>(n - 1) * (p / 100.0);
  double lower = std::floor(h);
  auto i = static_cast<std::size_t>(lower);
  if (i >= n - 1)
    return sorted[n - 1];
  double t = h - lower;
  double a = sorted[i];
  double b = sorted[i + 1];
  if (t == 0.0)
    return a;
  return t < 0.5 ? a + (b - a) * t : b - (b - a) * (1.0 - t);
}

/// Aggregates of a window straight from its events.
result_out reference_result(const std::vector<event>& all,
                            const std::vector<std::size_t>& members) {
  result_out out;
  out.events = members.size();
  for (std::size_t f = 0; f < kFields; ++f) {
    std::vector<double> xs;
    for (std::size_t i : members)
      if (!std::isnan(all[i].values[f]))
        xs.push_back(all[i].values[f]);
    std::sort(xs.begin(), xs.end());
    field_out fo;
    fo.count = xs.size();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    if (xs.empty()) {
      fo.sum = 0;
      fo.mean = fo.min = fo.max = fo.var = fo.var_s = nan;
      for (std::size_t i = 0; f == 0 && i < kPercentiles.size(); ++i)
        fo.percentiles.push_back(nan);
    } else {
      long double sum = 0;
      for (double x : xs)
        sum += x;
      long double mean = sum / static_cast<long double>(xs.size());
      long double m2 = 0;
      for (double x : xs)
        m2 += (x - mean) * (x - mean);
      fo.sum = static_cast<double>(sum);
      fo.mean = static_cast<double>(mean);
      fo.min = xs.front();
      fo.max = xs.back();
      fo.var = static_cast<double>(m2 / static_cast<long double>(xs.size()));
      fo.var_s =
        xs.size() < 2
          ? nan
          : static_cast<double>(m2 / static_cast<long double>(xs.size() - 1));
      if (f == 0)
        for (double p : kPercentiles)
          fo.percentiles.push_back(reference_percentile(xs, p));
    }
    out.fields.push_back(std::move(fo));
  }
  return out;
}

/// docs/windows.md, literally: a map of windows to their events.
class reference {
 public:
  explicit reference(const window_spec& spec) : spec_(spec) {}

  /// True when accepted.
  bool offer(const event& e) {
    arrived_ = true;
    std::size_t index = events_.size();
    const std::int64_t lateness = spec_.allowed_lateness_ms;
    if (spec_.type == window_type::session)
      return offer_session(e, index);
    std::int64_t slide =
      spec_.type == window_type::sliding ? spec_.slide_ms : spec_.size_ms;
    // Every window [s, s + size) with s = offset + k * slide containing t.
    std::int64_t k = (e.time - spec_.offset_ms) / slide;
    if ((e.time - spec_.offset_ms) % slide < 0)
      --k;
    std::vector<std::int64_t> joins;
    for (std::int64_t s = spec_.offset_ms + k * slide;
         s + spec_.size_ms > e.time; s -= slide)
      if (s + spec_.size_ms - 1 + lateness > watermark_)
        joins.push_back(s);
    if (joins.empty())
      return false;
    events_.push_back(e);
    accept(e.time);
    for (std::int64_t s : joins) {
      auto& w = windows_[{e.key, s}];
      w.members.push_back(index);
      w.changed = true;
    }
    return true;
  }

  std::vector<result_out> flush(std::int64_t now) {
    if (arrived_) {
      last_arrival_ = now;
      have_arrival_ = true;
      arrived_ = false;
    }
    if (have_max_)
      watermark_ =
        std::max(watermark_, max_ - spec_.max_out_of_orderness_ms - 1);
    return fire();
  }

  std::vector<result_out> idle(std::int64_t now) {
    if (arrived_)
      return flush(now);
    if (have_arrival_ && have_max_ &&
        now - last_arrival_ >= spec_.idle_timeout_ms)
      watermark_ = std::max(watermark_, max_ - spec_.max_out_of_orderness_ms -
                                          1 + (now - last_arrival_));
    return fire();
  }

 private:
  struct window {
    std::vector<std::size_t> members;
    std::int32_t revision = -1;
    bool changed = false;
  };
  struct session {
    std::string key;
    std::int64_t start, last;
    std::int32_t revision = -1;
    bool changed = true;
    std::vector<std::size_t> members;
  };

  void accept(std::int64_t t) {
    if (!have_max_ || t > max_)
      max_ = t;
    have_max_ = true;
  }

  bool offer_session(const event& e, std::size_t index) {
    const std::int64_t gap = spec_.gap_ms;
    // Late when its own window [t, t + gap) is past the allowed lateness.
    if (e.time + gap - 1 + spec_.allowed_lateness_ms <= watermark_)
      return false;
    session merged{e.key, e.time, e.time, -1, true, {}};
    std::vector<session> rest;
    for (auto& s : sessions_) {
      if (s.key == e.key && s.start <= e.time + gap && s.last + gap >= e.time) {
        merged.start = std::min(merged.start, s.start);
        merged.last = std::max(merged.last, s.last);
        merged.revision = std::max(merged.revision, s.revision);
        merged.members.insert(merged.members.end(), s.members.begin(),
                              s.members.end());
      } else {
        rest.push_back(std::move(s));
      }
    }
    events_.push_back(e);
    accept(e.time);
    merged.members.push_back(index);
    rest.push_back(std::move(merged));
    sessions_ = std::move(rest);
    return true;
  }

  std::vector<result_out> fire() {
    std::vector<result_out> out;
    const std::int64_t lateness = spec_.allowed_lateness_ms;
    if (spec_.type == window_type::session) {
      std::vector<session> keep;
      for (auto& s : sessions_) {
        std::int64_t end = s.last + spec_.gap_ms;
        if (s.changed && end - 1 <= watermark_) {
          result_out r = reference_result(events_, s.members);
          r.key = s.key;
          r.start = s.start;
          r.end = end;
          r.revision = static_cast<std::uint32_t>(++s.revision);
          r.is_update = s.revision > 0;
          s.changed = false;
          out.push_back(std::move(r));
        }
        if (end - 1 + lateness > watermark_)
          keep.push_back(std::move(s));
      }
      sessions_ = std::move(keep);
    } else {
      for (auto it = windows_.begin(); it != windows_.end();) {
        std::int64_t start = it->first.second;
        std::int64_t end = start + spec_.size_ms;
        window& w = it->second;
        if (w.changed && end - 1 <= watermark_) {
          result_out r = reference_result(events_, w.members);
          r.key = it->first.first;
          r.start = start;
          r.end = end;
          r.revision = static_cast<std::uint32_t>(++w.revision);
          r.is_update = w.revision > 0;
          w.changed = false;
          out.push_back(std::move(r));
        }
        if (end - 1 + lateness <= watermark_)
          it = windows_.erase(it);
        else
          ++it;
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  window_spec spec_;
  std::vector<event> events_;
  std::map<std::pair<std::string, std::int64_t>, window> windows_;
  std::vector<session> sessions_;
  std::int64_t watermark_ = kNoWatermark;
  std::int64_t max_ = 0;
  bool have_max_ = false;
  std::int64_t last_arrival_ = 0;
  bool have_arrival_ = false;
  bool arrived_ = false;
};

// -- comparing
// -------------------------------------------------------------------

/// Counts, min, max and percentiles must be exact. Sums and means differ
/// from the reference's long double ones by rounding in another order:
/// recursive summation of n values errs by at most about n * eps * max|x|,
/// so 1e-12 * n * max|x| bounds it with room. Variances from Welford/Chan err
/// by a few ulp(max|x|) * (max - min) (the values' differences are only
/// known to one ulp), plus a relative 1e-12: docs/windows.md, "Numerics".
struct mismatch_counter {
  std::size_t mismatches = 0;
  std::string first;

  void check(bool ok, const result_out& r, const char* what) {
    if (ok)
      return;
    if (mismatches++ == 0)
      first = r.key + " [" + std::to_string(r.start) + ", " +
              std::to_string(r.end) + ") revision " +
              std::to_string(r.revision) + ": " + what;
  }
};

/// The largest variance error seen, in units of ulp(max |x|) * (max - min)
/// (the tolerance allows 16).
double worst_variance_error = 0;

bool exact(double a, double b) {
  return a == b || (std::isnan(a) && std::isnan(b));
}

bool close(double a, double b, double tolerance) {
  if (std::isnan(a) || std::isnan(b))
    return std::isnan(a) && std::isnan(b);
  return std::abs(a - b) <= tolerance;
}

void compare(const result_out& k, const result_out& r, mismatch_counter& out) {
  out.check(k.id() == r.id(), r, "identity");
  out.check(k.is_update == r.is_update, r, "is_update");
  out.check(k.events == r.events, r, "event count");
  for (std::size_t f = 0; f < kFields; ++f) {
    const auto& a = k.fields[f];
    const auto& b = r.fields[f];
    out.check(a.count == b.count, r, "count");
    out.check(exact(a.min, b.min), r, "min");
    out.check(exact(a.max, b.max), r, "max");
    double magnitude =
      b.count == 0 ? 0.0 : std::max(std::abs(b.min), std::abs(b.max));
    double n = static_cast<double>(b.count);
    out.check(close(a.sum, b.sum, 1e-12 * n * magnitude + 1e-300), r, "sum");
    out.check(close(a.mean, b.mean, 1e-12 * n * magnitude + 1e-300), r, "mean");
    double ulp = std::numeric_limits<double>::epsilon() * magnitude;
    double var_tol = 1e-12 * b.var + 16 * ulp * (b.max - b.min);
    if (!std::isnan(b.var) && b.max > b.min)
      worst_variance_error =
        std::max(worst_variance_error,
                 std::abs(a.var - b.var) / (ulp * (b.max - b.min)));
    out.check(close(a.var, b.var, var_tol), r, "variance");
    out.check(close(a.var_s, b.var_s, var_tol * 2), r, "sample variance");
    out.check(a.percentiles.size() == b.percentiles.size(), r, "percentiles");
    for (std::size_t i = 0;
         i < a.percentiles.size() && i < b.percentiles.size(); ++i)
      out.check(exact(a.percentiles[i], b.percentiles[i]), r, "percentile");
  }
}

struct run_totals {
  std::size_t events = 0, late = 0, results = 0, updates = 0;
  std::size_t mismatches = 0;
  std::string first_mismatch;
};

run_totals run_against_reference(const window_spec& spec, std::size_t events,
                                 std::uint64_t seed, std::int64_t mean_step) {
  window_kernel kernel{spec};
  reference ref{spec};
  stream source{seed, mean_step};
  run_totals totals;
  mismatch_counter mismatches;
  std::vector<result_out> got;
  auto collect = [&](const window_result& r) {
    got.push_back(own(r));
  };
  auto compare_step = [&](std::vector<result_out> expected) {
    std::sort(got.begin(), got.end());
    if (got.size() != expected.size()) {
      mismatches.check(false, expected.empty() ? got.front() : expected.front(),
                       "number of results in a flush");
    } else {
      for (std::size_t i = 0; i < got.size(); ++i)
        compare(got[i], expected[i], mismatches);
    }
    totals.results += expected.size();
    for (const auto& r : expected)
      totals.updates += r.is_update ? 1 : 0;
    got.clear();
  };
  while (totals.events < events) {
    step s = source.next();
    if (s.idle_check) {
      kernel.advance_idle(s.now, collect);
      compare_step(ref.idle(s.now));
      continue;
    }
    for (const event& e : s.events) {
      ++totals.events;
      offer_result k =
        kernel.offer(kernel.intern(e.key), e.time, e.values.data());
      bool accepted = ref.offer(e);
      if (k == offer_result::late)
        ++totals.late;
      mismatches.check((k == offer_result::accepted) == accepted,
                       result_out{e.key, e.time, e.time, 0, false, 0, {}},
                       "late decision");
    }
    kernel.flush(s.now, collect);
    compare_step(ref.flush(s.now));
  }
  totals.mismatches = mismatches.mismatches;
  totals.first_mismatch = mismatches.first;
  CHECK(kernel.counters().late == totals.late);
  CHECK(kernel.counters().events_in == totals.events);
  CHECK(kernel.counters().windows_fired + kernel.counters().updates ==
        totals.results);
  CHECK(kernel.counters().updates == totals.updates);
  return totals;
}

void check_against_reference(const window_spec& spec, std::uint64_t seed,
                             std::int64_t mean_step) {
  worst_variance_error = 0;
  run_totals t =
    run_against_reference(spec, events_per_type(), seed, mean_step);
  INFO(to_string(spec.type)
       << " size " << spec.size_ms << " slide " << spec.slide_ms << " gap "
       << spec.gap_ms << ": " << t.events << " events, " << t.late << " late, "
       << t.results << " results, " << t.updates
       << " updates; worst variance error " << worst_variance_error
       << " ulp x spread; first mismatch: " << t.first_mismatch);
  CHECK(t.mismatches == 0);
  // The stream must exercise what it claims to.
  CHECK(t.late > t.events / 100);
  CHECK(t.updates > t.results / 100);
  CHECK(t.results > t.events / 200);
}

} // namespace

TEST_CASE("tumbling windows equal the brute-force reference on a random "
          "out-of-order stream",
          "[window]") {
  check_against_reference(make_spec(window_type::tumbling, 1000, 0, 0, 0), 1,
                          4);
}

TEST_CASE("sliding windows equal the brute-force reference on a random "
          "out-of-order stream",
          "[window]") {
  check_against_reference(make_spec(window_type::sliding, 1000, 250, 0, 0), 2,
                          4);
}

TEST_CASE("sliding windows whose size is not a multiple of the slide (gcd "
          "slices, with an offset) equal the brute-force reference",
          "[window]") {
  check_against_reference(make_spec(window_type::sliding, 1000, 400, 0, 150), 3,
                          4);
}

TEST_CASE("session windows equal the brute-force reference on a random "
          "out-of-order stream",
          "[window]") {
  // Steps of 0 to 60 ms on the busiest key: sessions of a few events to
  // hundreds, bridged now and then by late events.
  check_against_reference(make_spec(window_type::session, 0, 0, 40, 0), 4, 4);
}

// -- recovery
// --------------------------------------------------------------------

namespace {

void check_export_replay(const window_spec& spec, std::uint64_t seed) {
  window_kernel original{spec};
  stream source{seed, 4};
  std::vector<event> log; // accepted events, in order
  std::vector<result_out> sink;
  auto collect = [&](const window_result& r) {
    sink.push_back(own(r));
  };
  const std::size_t half = 200'000;
  std::size_t seen = 0;
  std::int64_t last_now = 0;
  while (seen < half) {
    step s = source.next();
    last_now = s.now;
    if (s.idle_check) {
      original.advance_idle(s.now, collect);
      continue;
    }
    for (const event& e : s.events) {
      ++seen;
      if (original.offer(original.intern(e.key), e.time, e.values.data()) ==
          offer_result::accepted)
        log.push_back(e);
    }
    original.flush(s.now, collect);
  }
  // The crash: keep the state, and the log trimmed as the lead would trim it.
  boost::json::value state = original.export_state();
  std::int64_t horizon = original.retention_horizon();
  window_kernel restored{spec};
  REQUIRE_FALSE(restored.import_state(state).has_value());
  std::size_t replayed = 0, trimmed = 0;
  for (const event& e : log) {
    if (e.time < horizon) {
      ++trimmed;
      // Such an event is in no live window: a replay would ignore it.
      CHECK_FALSE(
        restored.replay(restored.intern(e.key), e.time, e.values.data()));
      continue;
    }
    ++replayed;
    bool added =
      restored.replay(restored.intern(e.key), e.time, e.values.data());
    // Tumbling, sliding: at or after the horizon, an event is in a window
    // that is still open. Sessions: the horizon is the earliest open
    // session of any key, so another key's events may be past it and in a
    // session already closed: replay() turns those down.
    if (spec.type != window_type::session)
      CHECK(added);
  }
  CHECK(trimmed > 0);
  CHECK(replayed > 0);
  // A flush with nothing new changes nothing, and forgets the keys interned
  // for events that replay() turned down.
  std::vector<result_out> none;
  auto into_none = [&](const window_result& r) {
    none.push_back(own(r));
  };
  original.flush(last_now, into_none);
  restored.flush(last_now, into_none);
  CHECK(none.empty());
  CHECK(restored.watermark() == original.watermark());
  CHECK(restored.memory().values == original.memory().values);
  CHECK(restored.memory().partials == original.memory().partials);
  CHECK(restored.memory().open_windows == original.memory().open_windows);
  CHECK(restored.memory().keys == original.memory().keys);
  CHECK(restored.export_state() == original.export_state());

  // Both go on with the second half: the same late decisions and results,
  // bit for bit.
  std::vector<result_out> a, b;
  auto into_a = [&](const window_result& r) {
    a.push_back(own(r));
  };
  auto into_b = [&](const window_result& r) {
    b.push_back(own(r));
  };
  std::size_t differences = 0, results = 0;
  while (seen < 2 * half) {
    step s = source.next();
    if (s.idle_check) {
      original.advance_idle(s.now, into_a);
      restored.advance_idle(s.now, into_b);
    } else {
      for (const event& e : s.events) {
        ++seen;
        auto x =
          original.offer(original.intern(e.key), e.time, e.values.data());
        auto y =
          restored.offer(restored.intern(e.key), e.time, e.values.data());
        differences += x != y ? 1 : 0;
      }
      original.flush(s.now, into_a);
      restored.flush(s.now, into_b);
    }
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    if (a.size() != b.size())
      ++differences;
    else
      for (std::size_t i = 0; i < a.size(); ++i)
        differences += identical(a[i], b[i]) ? 0 : 1;
    results += a.size();
    a.clear();
    b.clear();
  }
  CHECK(results > 1000);
  CHECK(differences == 0);
}

} // namespace

TEST_CASE("a sliding window restored by import and replay of its trimmed log "
          "goes on exactly as the original",
          "[window]") {
  check_export_replay(make_spec(window_type::sliding, 1000, 250, 0, 0), 11);
}

TEST_CASE("a tumbling window restored by import and replay goes on exactly as "
          "the original",
          "[window]") {
  check_export_replay(make_spec(window_type::tumbling, 1000, 0, 0, 0), 12);
}

TEST_CASE("a session window restored by import and replay of its trimmed log "
          "goes on exactly as the original",
          "[window]") {
  check_export_replay(make_spec(window_type::session, 0, 0, 40, 0), 13);
}
