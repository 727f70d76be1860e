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
// standby.

#include "cluster/changelog_reader.hpp"
#include "dispatch/dispatchers.hpp"

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

std::shared_ptr<bridges::delivery_handler>
make_shard_owner(shard_identity id, std::shared_ptr<changelog_state> state,
                 store_settings store, dispatcher_factory make_dispatcher);

/// The changelog stream of `actor`: "<actor>.log".
std::string changelog_name(const std::string& actor);

} // namespace warren::runtime::cluster
