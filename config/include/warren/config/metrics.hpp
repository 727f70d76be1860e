#pragma once

/// `$.metrics`: the node's HTTP endpoint for Prometheus, health and
/// readiness. Off unless configured.

#include <cstdint>
#include <string>

namespace warren::config {

struct metrics_config {
  /// Whether `listen` was given: without it no metric is kept at all.
  bool enabled = false;
  /// `listen`: "host:port" (an IPv4 address or a host name; port 0 takes
  /// any free port). E.g. "127.0.0.1:9464".
  std::string host;
  uint16_t port = 0;
};

} // namespace warren::config
