#pragma once

// Private to warren::runtime: runs a stateful actor instance's handlers in
// its consumer's thread, with effectively-once state (see stateful.hpp).
//
// Per delivery: skip it (ack) if its id is in the inbox or in the batch being
// built; else run the handler on a copy of its key's state; on success stage
// the new state, the inbox record and the outbox rows (stable ids) in the
// batch. The batch commits in one transaction (group commit: by count, by
// time, or when the consumer goes quiet); only then are its deliveries
// answered `done` (acked) and its outbox rows published with confirms, each
// deleted (in a later transaction) once confirmed. A commit that fails is
// retried with backoff while nothing of the batch is acked; the deliveries
// stay unacked in the broker meanwhile (prefetch bounds them).
//
// The instance's pending outbox rows from before (a crash or restart) are
// published before anything else.

#include "dispatch/dispatcher.hpp"
#include "warren/config/node_config.hpp"
#include "warren/runtime/stateful.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <memory>

namespace warren::detail {

struct stateful_settings {
  dispatch_settings dispatch;
  config::commit_policy commit;
  std::chrono::milliseconds inbox_retention{7LL * 24 * 3600 * 1000};
  /// States kept in memory at most; past it the cache starts over after a
  /// commit (states are read again from the database when needed).
  std::size_t max_cached_states = 100000;
};

std::shared_ptr<bridges::delivery_handler>
make_stateful_dispatcher(std::shared_ptr<stateful_base> user,
                         dispatch_services services, stateful_settings settings,
                         std::unique_ptr<runtime::checkpoint_store> store);

} // namespace warren::detail
