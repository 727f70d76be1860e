#pragma once

// Private to warren::actors: the `options` of the `window` kind, read once
// (by the options validator and by the actor), into the kernel's spec and
// what the actor needs around it: how to find an event's key, time and
// values in a message body, which aggregates a result carries, where
// results and late events go, and the memory bounds. README.md ("Windows")
// documents every key.

#include "pipeline/field_path.hpp"
#include "pipeline/stage_output.hpp"
#include "pipeline/timestamp.hpp"
#include "warren/config/reader.hpp"
#include "window/window_spec.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace warren::actors {

/// The aggregates a result shows for one value field (the kernel computes
/// the moments anyway; the percentiles it computes are the ones asked for).
struct field_output {
  std::string name;
  field_path path;
  bool count = false;
  bool sum = false;
  bool avg = false;
  bool min = false;
  bool max = false;
  bool stddev = false;
  bool stddev_sample = false;
  bool variance = false;
  bool variance_sample = false;
  /// The names of the percentiles ("median", "p90", "p99.9"), in the order
  /// of the kernel's field spec.
  std::vector<std::string> percentile_names;
  /// The names of the approximate percentiles ("approx_p99"), in the order
  /// of the kernel's field spec.
  std::vector<std::string> approx_names;
};

struct window_settings {
  window_spec spec;
  /// The fields whose values make an event's key (none: one key for all).
  std::vector<field_path> key_fields;
  /// Event time from this field; nullopt: processing time.
  std::optional<field_path> time_field;
  timestamp_format time_format = timestamp_format::automatic;
  std::vector<field_output> fields;
  stage_output output;
  /// Late events go here; nullopt: they are dead-lettered (reason `late`).
  std::optional<stage_output> late_output;
  /// Raw values (kept for percentiles) held at most, in all and per key:
  /// past them the actor takes no more deliveries until windows close.
  std::uint64_t max_values = 10'000'000;
  std::uint64_t max_values_per_key = 1'000'000;
  /// Keys held at most.
  std::uint64_t max_keys = 1'000'000;
  /// The type of result messages (`output.type` overrides it).
  std::string result_type = "window.result";
};

/// Reads `options`; errors are recorded in the reader (file, JSON path).
std::optional<window_settings>
read_window_settings(config::object_reader& options);

} // namespace warren::actors
