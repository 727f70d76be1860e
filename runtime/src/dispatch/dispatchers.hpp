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

/// Where a stateful dispatcher's units of work go when they are not
/// committed to the node's file directly: a shard owner's changelog
/// (runtime/src/cluster/shard_owner.hpp).
class unit_committer {
 public:
  virtual ~unit_committer() = default;

  /// Makes `work` durable, then calls `then` in the consumer's thread with
  /// none (its outbox rows have ids, its changes are in the node's file) or
  /// the error (nothing of it counts; the dispatcher tries again later).
  /// Meanwhile the dispatcher holds new deliveries back. A committer may
  /// instead end the consumer (`consumer_host::fail`): a fenced owner.
  virtual void commit(bridges::consumer_host& host, runtime::unit_of_work& work,
                      std::function<void(caf::error)> then) = 0;

  /// The consumer is quiet; `unconfirmed` messages of committed units have
  /// not been confirmed by the broker yet. Default: nothing.
  virtual void idle(bridges::consumer_host& host, std::size_t unconfirmed);
};

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
  /// Default (null): units commit to the node's file.
  std::shared_ptr<unit_committer> committer;
};

std::shared_ptr<bridges::delivery_handler>
make_stateful_dispatcher(std::shared_ptr<stateful_base> user,
                         dispatch_services services,
                         stateful_settings settings);

} // namespace warren::detail
