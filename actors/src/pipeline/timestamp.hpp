#pragma once

// Private to warren::actors: timestamps in message bodies read as
// milliseconds since the Unix epoch (UTC). Pure logic.
//
// ISO 8601 in its extended form, with a date, a time and an offset:
// `2026-12-01T10:42:20Z`, `2026-12-01T10:42:20.123+01:00`,
// `2026-12-01 10:42:20.5-0330`, `2026-12-01T10:42Z`. A fraction finer than a
// millisecond is cut (floored); a time without an offset is refused rather
// than guessed. Epoch numbers are seconds or milliseconds, integers or not.

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace warren::actors {

enum class timestamp_format : uint8_t {
  /// A string is ISO 8601; a number is epoch seconds when its magnitude is
  /// below 10^11 (before the year 5138), else epoch milliseconds.
  automatic,
  /// Strings in ISO 8601 only.
  iso8601,
  /// Numbers: seconds since the epoch.
  epoch_seconds,
  /// Numbers: milliseconds since the epoch.
  epoch_millis,
};

/// Reads an ISO 8601 timestamp. Nullopt with `why` when it is not one (or
/// not a real date, such as February 30).
std::optional<int64_t> parse_iso8601(std::string_view text, std::string& why);

/// Reads `v` as `format` says. Nullopt with `why` otherwise.
std::optional<int64_t> parse_timestamp(const boost::json::value& v,
                                       timestamp_format format,
                                       std::string& why);

/// Days from 1970-01-01 to the civil date (proleptic Gregorian).
int64_t days_from_civil(int64_t year, unsigned month, unsigned day);

} // namespace warren::actors
