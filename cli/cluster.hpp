#pragma once

// `warren cluster status`: the nodes of a cluster running sharded actors,
// who owns each shard in which epoch, each node's changelog lag, and each
// shard queue's depth (README.md, "Clustering").

#include "commands.hpp"

#include <string>

namespace warren::cli {

struct cluster_options {
  broker_choice broker;
  /// Only this sharded actor (default: every actor announced).
  std::string actor;
  /// Print JSON instead of the table.
  bool json = false;
  /// How far back to read the announcements, in seconds (nodes silent
  /// for longer are not listed at all).
  int64_t since_seconds = 60;
};

/// Exit 0, or `exit_failure` when some shard has messages waiting and no
/// live owner (so scripts can wait for a takeover), `exit_broker` when the
/// broker cannot be read.
int cluster_status(const cluster_options& opts);

} // namespace warren::cli
