#pragma once

// Private to warren::runtime: the delivery handlers a consumer runs for one
// actor instance, one per family of kinds. Each composes the stages of
// message_scope.hpp:
//
//   actor      (`warren::actor`)        admission -> handler -> effects
//                                       (published and called on the
//                                       consumer's connection) -> settle
//   stateful   (`warren::stateful_base`) admission -> de-duplication ->
//                                       handler on a copy of the key's state
//                                       -> unit of work (state, inbox,
//                                       outbox; group commit) -> settle;
//                                       the outbox relay publishes after
//                                       the commit
//   raw        (a raw CAF kind)         admission -> the kind's actor ->
//                                       settle

#include "dispatch/message_scope.hpp"
#include "warren/config/store.hpp"
#include "warren/core/delivery.hpp"
#include "warren/metrics/sets.hpp"
#include "warren/runtime/stateful.hpp"
#include "warren/runtime/store/checkpoint_store.hpp"

#include <memory>

namespace warren::detail {

std::shared_ptr<bridges::delivery_handler>
make_actor_dispatcher(std::shared_ptr<actor> user, dispatch_services services,
                      dispatch_settings settings);

std::shared_ptr<bridges::delivery_handler>
make_raw_dispatcher(delivery_actor target, std::string actor_name,
                    dispatch_services services, dispatch_settings settings);

struct stateful_settings {
  dispatch_settings dispatch;
  config::commit_policy commit;
  /// Where the store is; it is opened by the consumer's thread at start.
  runtime::store_settings store;
  std::chrono::milliseconds inbox_retention{7LL * 24 * 3600 * 1000};
  /// States kept in memory at most; past it the cache starts over after a
  /// commit (states are read again from the database when needed).
  std::size_t max_cached_states = 100000;
  /// How long an id-less message given back by the broker (its connection
  /// lost, or the node restarted) is remembered for its redelivery:
  /// three heartbeat intervals, at least a minute (anonymous_ledger.hpp).
  std::chrono::milliseconds anonymous_window{90000};
  /// Id-less messages given back and remembered at most.
  std::size_t max_anonymous = 100000;
  /// Where its store is measured (default: nowhere, metrics off).
  metrics::store_metrics metrics;
};

std::shared_ptr<bridges::delivery_handler>
make_stateful_dispatcher(std::shared_ptr<stateful_base> user,
                         dispatch_services services,
                         stateful_settings settings);

} // namespace warren::detail
