#pragma once

/// `$.actors[]`: one actor a node runs and bridges to a queue.

#include "warren/config/store.hpp"

#include <boost/json/object.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace warren::config {

/// `actors[].retry`: what a failed message gets. The decisions made with it
/// are in `warren/runtime/dispatch/retry_policy.hpp`.
struct retry_policy {
  /// Retries at once after the first failure. Default 0.
  uint32_t immediate = 0;
  /// Delayed retries, one retry ladder step each. Default none.
  std::vector<std::chrono::milliseconds> delays;

  /// Attempts in all: the first, the immediate retries, the delayed ones.
  uint32_t max_attempts() const noexcept {
    return 1 + immediate + static_cast<uint32_t>(delays.size());
  }
};

/// Delays of one actor's retry ladder at most.
constexpr std::size_t max_retry_steps = 20;

/// `actors[].chunks`: chunked transfers (README.md, "Chunked transfers"):
/// messages in the seed's chunk format ({"stream_id", "chunk_id",
/// "total_chunks", "is_final", "data"}) are staged in the node's store and
/// handed to the actor as one message once every chunk is in.
struct chunk_policy {
  /// Off unless `chunks` is given.
  bool enabled = false;
  /// An incomplete transfer is dead-lettered this long after its first
  /// chunk. Default 10 minutes.
  std::chrono::milliseconds timeout{600000};
  /// Bytes of one transfer at most (decoded). Default 256 MiB.
  int64_t max_transfer_bytes = int64_t{256} << 20;
  /// Bytes staged for this actor at most, every transfer together: a chunk
  /// of a new transfer past it is dead-lettered (reason `oversized_body`).
  /// Default 1 GiB.
  int64_t max_staged_bytes = int64_t{1} << 30;
};

struct actor_spec {
  /// Unique in the node; `[A-Za-z0-9._-]+`. Also the routing key under which
  /// the actor's queue is bound to the `warren.actors` exchange.
  std::string name;
  /// "service", "subscriber", or a kind registered by a plugin.
  std::string kind;
  /// For kinds that take one ("service", "subscriber"): the registered kind
  /// that does the work. Empty for other kinds.
  std::string handler;
  /// The queue consumed. Default: the actor's name. Declared as a durable
  /// classic queue unless `topology.queues` declares it.
  std::string queue;
  /// Unacked deliveries in flight per instance: its mailbox bound.
  /// Default 100.
  uint16_t prefetch = 100;
  /// Actor instances in this node competing on the queue, each with its own
  /// consumer connection and thread. Default 1.
  uint32_t instances = 1;
  /// What a failed message gets: retries at once, then through the retry
  /// ladder, then the dead-letter queue. Default: no retries (dead-letter on
  /// the first failure), as MassTransit does unless configured.
  retry_policy retry;
  /// Messages without `message_id` are dead-lettered (reason
  /// `validation_failed`) instead of being given a fresh id of their own.
  /// Default false (README.md, "Message identity").
  bool require_message_id = false;
  /// For stateful kinds: group commit.
  commit_policy commit;
  /// Chunked transfers. Default off.
  chunk_policy chunks;
  /// Stateful kinds: the count of shards its keys are spread over across
  /// the nodes of a cluster (README.md, "Clustering"); fixed for the
  /// actor's life. 0 (default): not sharded, the state lives in this node.
  uint32_t shards = 0;
  /// Kind-specific settings, checked by the kind's options validator and
  /// handed to the actor as they are. Default {}.
  boost::json::object options;
};

} // namespace warren::config
