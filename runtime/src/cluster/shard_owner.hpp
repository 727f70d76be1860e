#pragma once

// The owner of one shard of a sharded actor on one node (README.md,
// "Clustering"; DESIGN.md §6). Every node consumes every shard's quorum
// queue with single-active-consumer; the broker delivers to one of them at
// a time. The first delivery a node gets is its cue to take over:
//
//   1. hold the deliveries; publish the actor's shard count and a claim to
//      the changelog and wait until this node's reader has applied the
//      claim: the reader is then at the end of the shard's history (every
//      accepted batch of earlier owners is in the file), and the claim's
//      offset is the epoch;
//   2. send again what earlier owners' accepted batches owe (messages not
//      flushed; downstream inboxes drop copies);
//   3. start the actor (its stateful dispatcher, on the file now current)
//      and hand it the held deliveries.
//
// From then on every unit of work goes through the changelog instead of
// straight into the file: captured as a changeset, published as a batch
// of the epoch with the next sequence number, and counted only once this
// node's reader has judged it accepted (which applies it to the file); then
// the dispatcher acks its deliveries and its messages leave. A batch that
// is fenced (another node claimed the shard), or any verdict but accepted,
// ends the consumer at once: its unacked deliveries go back to the broker,
// nothing of the work leaves, and the supervisor starts it again as a
// standby. So does a lost connection: the broker may give the queue to
// another node's consumer at once (a partition, a broker's death), and
// ownership is only ever taken by a claim.
//
// A shard that gets no message would never be taken over, and a dead
// owner's timers (a saga's, a window's idle timeout) and owed messages would
// wait for the next message. So a standby probes its shard: every
// `probe_interval` it publishes a probe (type `warren.shard.probe`, not
// persistent, expiring) to the shard's queue. The broker hands it to the
// active consumer: a live owner acks it and goes on; a standby the broker
// made active after the owner died takes the shard over, message or not.
//
// Rebalancing (cluster/rebalancer.hpp): a standby the broker made active
// on a shard that placement gives to another node closes its consumer
// without claiming (its deliveries go back first in line), and an owner
// whose shard placement gives to another node hands it over: it hands its
// dispatcher nothing more, waits until what it has is settled (so the next
// owner finds every accepted batch acked or in the changelog), and closes
// its consumer. Either consumes again behind the queue's other consumers.

#include "cluster/changelog_reader.hpp"
#include "cluster/rebalancer.hpp"
#include "dispatch/dispatchers.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace warren::runtime::cluster {

struct shard_identity {
  std::string actor;
  uint32_t shard = 0;
  uint32_t shards = 1;
  std::string node;
  /// This run of the node's process.
  std::string incarnation;
};

/// Makes the actor's dispatcher, committing through `committer`, once the
/// shard is taken over.
using dispatcher_factory =
  std::function<caf::expected<std::shared_ptr<bridges::delivery_handler>>(
    std::shared_ptr<warren::detail::unit_committer> committer)>;

/// `rebalance`, when not null, is shared by the actor's shard owners on the
/// node.
std::shared_ptr<bridges::delivery_handler>
make_shard_owner(shard_identity id, std::shared_ptr<changelog_state> state,
                 store_settings store, dispatcher_factory make_dispatcher,
                 std::shared_ptr<rebalancer> rebalance = nullptr);

/// The type of a standby's probe (see above).
inline constexpr const char* shard_probe_type = "warren.shard.probe";

/// How often each standby probes a shard of an actor with `shards` shards:
/// every second, slower past 20 shards so a node's probes of one actor stay
/// under 20 a second.
std::chrono::milliseconds probe_interval(uint32_t shards);

/// The changelog stream of `actor`: "<actor>.log".
std::string changelog_name(const std::string& actor);

} // namespace warren::runtime::cluster
