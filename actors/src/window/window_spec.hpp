#pragma once

// Private to warren::actors: what a window operator computes (window type,
// sizes, watermark and lateness bounds, value fields and their exact
// percentiles) and the event-time arithmetic of tumbling and sliding
// windows cut into slices. Pure logic; the semantics are in docs/windows.md.

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace warren::actors {

enum class window_type : std::uint8_t {
  /// Consecutive windows [start, start + size), start = offset + k * size.
  tumbling,
  /// Windows [start, start + size), start = offset + k * slide, so that an
  /// event belongs to about size / slide of them.
  sliding,
  /// Per key, events less than or equal to `gap` apart share a window
  /// [first event, last event + gap).
  session,
};

/// "tumbling", "sliding" or "session".
const char* to_string(window_type type) noexcept;

/// One value field of the events.
struct window_field_spec {
  /// Exact percentiles to compute, each in [0, 100] (50 is the median).
  /// Default: none, and then the field's raw values are not kept at all.
  std::vector<double> percentiles;
  /// Approximate percentiles, each in [0, 100], from a mergeable log-bucket
  /// sketch per slice instead of raw values: each within
  /// `approx_relative_error` of the exact one (docs/windows.md). For windows
  /// too large to keep every value. Default: none.
  std::vector<double> approx_percentiles;
  /// Their relative error bound, in [1e-6, 0.5] [0.01].
  double approx_relative_error = 0.01;
};

/// Event times, sizes and bounds are in milliseconds. Defaults in brackets.
struct window_spec {
  window_type type = window_type::tumbling;
  /// Window length, tumbling and sliding (required, > 0).
  std::int64_t size_ms = 0;
  /// Distance between window starts, sliding only (required, 0 < slide <=
  /// size). Tumbling windows use size.
  std::int64_t slide_ms = 0;
  /// Session gap, session only (required, > 0).
  std::int64_t gap_ms = 0;
  /// Window starts are offset + k * slide (tumbling: k * size), with
  /// 0 <= offset < slide [0: aligned to the epoch].
  std::int64_t offset_ms = 0;
  /// The watermark trails the largest event time seen by this much [0].
  std::int64_t max_out_of_orderness_ms = 0;
  /// A fired window keeps its state this long (in watermark time) and is
  /// re-emitted as an update when a late event joins it [0].
  std::int64_t allowed_lateness_ms = 0;
  /// When no event arrived for this long (processing time), the watermark
  /// moves on with processing time [0: never].
  std::int64_t idle_timeout_ms = 0;
  /// The value fields, in the order of the values offered with each event.
  std::vector<window_field_spec> fields;
};

/// Event times must lie within [-kMaxEventTime, kMaxEventTime] (about
/// 73 million years either side of the epoch), so that no arithmetic on
/// them overflows.
inline constexpr std::int64_t kMaxEventTime = std::int64_t{1} << 61;
/// Every duration in a spec is at most this (about 35 000 years).
inline constexpr std::int64_t kMaxDuration = std::int64_t{1} << 50;
/// An event joins at most this many sliding windows (size / slide).
inline constexpr std::int64_t kMaxWindowsPerEvent = 1000;
/// At most this many value fields.
inline constexpr std::size_t kMaxFields = 64;

/// Nullopt when `spec` is usable, else a sentence naming the offending
/// member (e.g. "slide_ms: 0 is not > 0").
std::optional<std::string> validate(const window_spec& spec);

/// floor(a / b) and ceil(a / b) for b > 0, also for negative a.
constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}
constexpr std::int64_t ceil_div(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t q = a / b;
  return (a % b != 0 && a > 0) ? q + 1 : q;
}

/// The arithmetic of tumbling and sliding windows over slices of length
/// gcd(size, slide), all aligned to the offset: slice j is
/// [offset + j * g, offset + (j + 1) * g), window k is
/// [offset + k * slide, offset + k * slide + size) = slices
/// [k * r, k * r + m) with r = slide / g, m = size / g.
class slice_grid {
 public:
  slice_grid() = default;
  /// `spec` is tumbling or sliding and valid.
  explicit slice_grid(const window_spec& spec);

  std::int64_t slice_length() const noexcept { return g_; }
  std::int64_t slices_per_window() const noexcept { return m_; }

  std::int64_t slice_of(std::int64_t t) const noexcept {
    return floor_div(t - offset_, g_);
  }
  std::int64_t slice_start(std::int64_t j) const noexcept {
    return offset_ + j * g_;
  }
  std::int64_t window_start(std::int64_t k) const noexcept {
    return offset_ + k * slide_;
  }
  std::int64_t window_end(std::int64_t k) const noexcept {
    return offset_ + k * slide_ + size_;
  }
  /// The first and last window that contain slice j.
  std::int64_t first_window_of_slice(std::int64_t j) const noexcept {
    return ceil_div(j - m_ + 1, r_);
  }
  std::int64_t last_window_of_slice(std::int64_t j) const noexcept {
    return floor_div(j, r_);
  }
  /// The first slice of window k (it has m slices).
  std::int64_t first_slice_of_window(std::int64_t k) const noexcept {
    return k * r_;
  }
  /// The smallest k with window_end(k) > bound: windows before it end at or
  /// before `bound`.
  std::int64_t first_window_ending_after(std::int64_t bound) const noexcept {
    return floor_div(bound - offset_ - size_, slide_) + 1;
  }

 private:
  std::int64_t size_ = 1, slide_ = 1, offset_ = 0;
  std::int64_t g_ = 1, r_ = 1, m_ = 1;
};

} // namespace warren::actors
