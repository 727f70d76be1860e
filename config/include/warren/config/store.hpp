#pragma once

/// `$.store`: the node's checkpoint store (`<state_dir>/warren.db`), and the
/// group commit of stateful actors (`actors[].commit`).

#include <chrono>
#include <cstddef>

namespace warren::config {

/// SQLite's `synchronous` pragma.
enum class sync_mode {
  /// A commit survives power loss.
  full,
  /// A commit survives a crash of the process, not of the machine.
  normal,
};

struct store_config {
  /// Default FULL.
  sync_mode synchronous = sync_mode::full;
  /// How long a stateful actor remembers the ids of messages it applied
  /// (de-duplication window). Default 7 days; it must outlast the longest
  /// time a message can come back (retry ladder, redelivery).
  std::chrono::milliseconds inbox_retention{7LL * 24 * 3600 * 1000};
};

/// Group commit of a stateful actor: messages applied share one transaction
/// and one multiple-ack. A batch is committed when it holds `max_batch`
/// messages, when its first message has waited `max_delay`, or as soon as
/// the consumer has nothing more to read, whichever comes first.
struct commit_policy {
  /// Default 64.
  std::size_t max_batch = 64;
  /// Default 5 ms.
  std::chrono::milliseconds max_delay{5};
};

} // namespace warren::config
