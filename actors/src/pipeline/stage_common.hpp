#pragma once

// Private to warren::actors: what the validator, transformer, router and
// filter kinds share beyond their outputs: reading numbers and field paths
// from options (the config reader has integers only), and their counters.

#include "pipeline/field_path.hpp"
#include "warren/config/reader.hpp"
#include "warren/metrics/cells.hpp"
#include "warren/runtime/actor.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace warren::metrics {
class registry;
} // namespace warren::metrics

namespace warren::actors {

/// Reads the JSON number (integer or not) under `key` into `out` when it is
/// there, checking `min <= value <= max`. False when absent or wrong (an
/// error is recorded then).
bool read_number(config::object_reader& options, std::string_view key,
                 double min, double max, double& out);

/// Reads the field path under `key` into `out` when it is there (required
/// when `required`). False when absent or wrong (an error is recorded
/// then).
bool read_field(config::object_reader& options, std::string_view key,
                std::optional<field_path>& out, bool required);

/// The field path in `value` at `path` (for array items). Records an error
/// and returns nullopt when it is not one.
std::optional<field_path> read_field(config::config_reader& reader,
                                     const boost::json::value& value,
                                     const std::string& path);

/// `path` when absolute, else `path` under `dir` (the config file's
/// directory; empty: the working directory).
std::string resolve_path(const std::string& dir, const std::string& path);

/// The counters every stage keeps: `warren_<stage>_passed_total` (sent on)
/// and `warren_<stage>_failed_total` (dead-lettered or retried, by
/// `reason`), label `actor`. No-ops when metrics are off.
class stage_counters {
 public:
  stage_counters() = default;
  stage_counters(const actor_init& init, const std::string& stage);

  void passed() const noexcept { passed_.inc(); }

  /// The failure counter of `reason` (made once per reason, at start).
  metrics::counter failed(const std::string& reason) const;

 private:
  metrics::registry* registry_ = nullptr;
  std::string actor_;
  std::string stage_;
  metrics::counter passed_;
};

} // namespace warren::actors
