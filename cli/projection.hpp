#pragma once

// The `warren projection` subcommands: ask a projection actor, through the
// broker, how far it is (status) or to rebuild its read model (rebuild),
// and print its answer.

#include "commands.hpp"

#include <cstdint>
#include <string>

namespace warren::cli {

struct projection_options {
  broker_choice broker;
  std::string actor;
  int64_t timeout_ms = 5000;
  /// rebuild: wait until the new read model has replaced the old one.
  bool wait = false;
  int64_t wait_ms = 600000;
};

/// `projection.status`: prints {"position", "generation", "rebuilding",
/// "head", "lag_events", ...}.
int projection_status(const projection_options& opts);

/// `projection.rebuild`; with `wait`, then polls the status every 300 ms,
/// printing progress on stderr, until the swap (exit 0) or `wait_ms`
/// (exit 5).
int projection_rebuild(const projection_options& opts);

} // namespace warren::cli
