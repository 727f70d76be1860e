#pragma once

// `warren top`: a live dashboard of nodes' /metrics in the terminal (see
// docs/top.md). The figures come from top_model.hpp; this is the I/O around
// them: scraping, the terminal, keys and signals.

#include <string>
#include <vector>

namespace warren::cli {

struct top_options {
  /// The nodes' metrics endpoints: http://host:port, host:port (/metrics
  /// is appended when no path is given).
  std::vector<std::string> urls;
  /// Seconds between scrapes (default 2); rates and quantiles are over it.
  double interval_seconds = 2;
  /// Print one frame as plain text after two scrapes, and exit.
  bool once = false;
};

/// Runs the dashboard until `q`, SIGINT or SIGTERM (exit 0), restoring the
/// terminal. With `once`: exit 0 when every endpoint answered both scrapes,
/// 1 when one did not (its line says "unreachable: ..."). A URL that does
/// not parse is a usage error (2).
int top(const top_options& opts);

} // namespace warren::cli
