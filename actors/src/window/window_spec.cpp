#include "window/window_spec.hpp"

#include <cmath>
#include <numeric>

namespace warren::actors {

const char* to_string(window_type type) noexcept {
  switch (type) {
    case window_type::tumbling:
      return "tumbling";
    case window_type::sliding:
      return "sliding";
    case window_type::session:
      return "session";
  }
  return "?";
}

namespace {

std::optional<std::string> check_duration(const char* name, std::int64_t value,
                                          bool positive) {
  if (positive ? value <= 0 : value < 0)
    return std::string{name} + ": " + std::to_string(value) + " is not " +
           (positive ? "> 0" : ">= 0");
  if (value > kMaxDuration)
    return std::string{name} + ": " + std::to_string(value) +
           " is more than the largest duration, " +
           std::to_string(kMaxDuration);
  return std::nullopt;
}

} // namespace

std::optional<std::string> validate(const window_spec& spec) {
  if (auto err = check_duration("max_out_of_orderness_ms",
                                spec.max_out_of_orderness_ms, false))
    return err;
  if (auto err =
        check_duration("allowed_lateness_ms", spec.allowed_lateness_ms, false))
    return err;
  if (auto err = check_duration("idle_timeout_ms", spec.idle_timeout_ms, false))
    return err;
  switch (spec.type) {
    case window_type::tumbling:
      if (auto err = check_duration("size_ms", spec.size_ms, true))
        return err;
      if (spec.offset_ms < 0 || spec.offset_ms >= spec.size_ms)
        return "offset_ms: " + std::to_string(spec.offset_ms) +
               " is not in [0, size_ms)";
      break;
    case window_type::sliding:
      if (auto err = check_duration("size_ms", spec.size_ms, true))
        return err;
      if (auto err = check_duration("slide_ms", spec.slide_ms, true))
        return err;
      if (spec.slide_ms > spec.size_ms)
        return "slide_ms: " + std::to_string(spec.slide_ms) +
               " is more than size_ms (" + std::to_string(spec.size_ms) +
               "): events between windows would belong to none";
      if ((spec.size_ms + spec.slide_ms - 1) / spec.slide_ms >
          kMaxWindowsPerEvent)
        return "slide_ms: " + std::to_string(spec.slide_ms) +
               " makes each event join more than " +
               std::to_string(kMaxWindowsPerEvent) +
               " windows (size_ms / slide_ms)";
      if (spec.offset_ms < 0 || spec.offset_ms >= spec.slide_ms)
        return "offset_ms: " + std::to_string(spec.offset_ms) +
               " is not in [0, slide_ms)";
      break;
    case window_type::session:
      if (auto err = check_duration("gap_ms", spec.gap_ms, true))
        return err;
      break;
  }
  if (spec.fields.size() > kMaxFields)
    return "fields: " + std::to_string(spec.fields.size()) +
           " fields, more than " + std::to_string(kMaxFields);
  for (std::size_t f = 0; f < spec.fields.size(); ++f) {
    const auto& field = spec.fields[f];
    for (std::size_t i = 0; i < field.approx_percentiles.size(); ++i) {
      double p = field.approx_percentiles[i];
      if (!(p >= 0.0 && p <= 100.0))
        return "fields[" + std::to_string(f) + "].approx_percentiles[" +
               std::to_string(i) + "]: " + std::to_string(p) +
               " is not in [0, 100]";
    }
    if (!field.approx_percentiles.empty() &&
        !(field.approx_relative_error >= 1e-6 &&
          field.approx_relative_error <= 0.5))
      return "fields[" + std::to_string(f) + "].approx_relative_error: " +
             std::to_string(field.approx_relative_error) +
             " is not in [1e-6, 0.5]";
  }
  for (std::size_t f = 0; f < spec.fields.size(); ++f)
    for (std::size_t i = 0; i < spec.fields[f].percentiles.size(); ++i) {
      double p = spec.fields[f].percentiles[i];
      if (!(p >= 0.0 && p <= 100.0))
        return "fields[" + std::to_string(f) + "].percentiles[" +
               std::to_string(i) + "]: " + std::to_string(p) +
               " is not in [0, 100]";
    }
  return std::nullopt;
}

slice_grid::slice_grid(const window_spec& spec)
  : size_(spec.size_ms),
    slide_(spec.type == window_type::sliding ? spec.slide_ms : spec.size_ms),
    offset_(spec.offset_ms) {
  g_ = std::gcd(size_, slide_);
  r_ = slide_ / g_;
  m_ = size_ / g_;
}

} // namespace warren::actors
