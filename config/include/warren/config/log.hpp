#pragma once

/// `$.log`: what a node writes to its log (stderr), see warren/core/log.hpp.
///
///   "log": {"level": "info", "format": "text"}

#include "warren/core/log.hpp"

namespace warren::config {

struct log_config {
  /// trace, debug, info, warning, error or off. Default info. `warren run
  /// --log-level` overrides it.
  log::level level = log::level::info;
  /// text (one line per event) or json (one object per line). Default text.
  log::format format = log::format::text;
};

} // namespace warren::config
