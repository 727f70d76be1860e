#pragma once

// What the warren side of the benchmark shares: a node config for the
// bench broker, and clean queues.

#include "warren/config/node_config.hpp"

#include <chrono>
#include <string>

namespace warren::bench {

using clock_type = std::chrono::steady_clock;

/// A node config for `uri` (2 scheduler threads, no actors yet).
config::node_config make_config(const std::string& uri);

/// Deletes `queue` and its dead-letter queue.
void delete_queues(const config::node_config& cfg, const std::string& queue);

} // namespace warren::bench
