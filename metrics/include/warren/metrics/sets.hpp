#pragma once

/// The metrics of each part of a node, by the part that updates them; the
/// names are listed in README.md "Metrics". Each `make_*` asks the registry
/// once; a default-constructed set (metrics off) updates nothing.

#include "warren/core/errc.hpp"
#include "warren/metrics/registry.hpp"

#include <array>
#include <string>

namespace warren::metrics {

/// Counters of one name, one per reason (an `errc`, as label `reason`),
/// each made at its first use: the usual reasons at once, others when they
/// first happen.
class reason_counters {
 public:
  reason_counters() = default;
  reason_counters(registry& reg, std::string name, std::string help,
                  labels base);
  counter of(errc reason);

 private:
  registry* reg_ = nullptr;
  std::string name_;
  std::string help_;
  labels base_;
  std::array<counter, 64> made_{};
};

/// One actor's deliveries, updated by its consumer (label `actor`).
struct delivery_metrics {
  counter received;
  /// Settled as done (duplicates included).
  counter handled;
  reason_counters failed;
  /// Given back to the broker or parked on a retry step.
  counter retried;
  reason_counters dead_lettered;
  /// Already applied (stateful actors): acked without running the handler.
  counter duplicates;
  /// From the delivery handed to the actor to its settlement.
  histogram handler_seconds;
  /// From the message's `timestamp` (whole seconds) to its settlement.
  histogram latency_seconds;
  gauge in_flight;
  gauge prefetch;
  /// 1 while the consumer consumes its queue.
  gauge consuming;
  /// Its queue (label `queue` only: instances of one queue share them),
  /// read by a passive declare every few seconds.
  gauge queue_messages;
  gauge queue_consumers;
};
delivery_metrics make_delivery_metrics(registry& reg, const std::string& actor,
                                       const std::string& queue);

/// The entries of batched envelopes one actor received (label `actor`;
/// warren/core/batch.hpp): each entry is settled on its own, so these count
/// what the delivery metrics count per AMQP message.
struct batch_metrics {
  /// Batched envelopes split into entries.
  counter batches;
  counter entries;
  /// Entries already applied, not applied again.
  counter duplicates;
  /// Entries parked on a retry step (a copy of their own).
  counter retried;
  /// Entries dead-lettered alone, by reason.
  reason_counters dead_lettered;
};
batch_metrics make_batch_metrics(registry& reg, const std::string& actor);

/// One connection (label `connection`, its name in the broker).
struct connection_metrics {
  gauge up;
  counter reconnects;
  gauge blocked;
};
connection_metrics make_connection_metrics(registry& reg,
                                           const std::string& connection);

/// The confirmed publishes of one connection (label `connection`).
struct publish_metrics {
  counter published;
  counter confirmed;
  counter nacked;
  counter returned;
  gauge unconfirmed;
  histogram confirm_seconds;
};
publish_metrics make_publish_metrics(registry& reg,
                                     const std::string& connection);

/// One supervisor (label `supervisor`).
struct supervision_metrics {
  counter restarts;
  counter escalations;
  gauge children_alive;
};
supervision_metrics make_supervision_metrics(registry& reg,
                                             const std::string& supervisor);

/// One stateful actor's store (label `actor`).
struct store_metrics {
  histogram commit_seconds;
  histogram commit_messages;
  counter commit_errors;
  gauge outbox_pending;
  counter outbox_dead_lettered;
  gauge inbox_rows;
  gauge database_bytes;
  gauge wal_bytes;
  /// 1 while its commits fail (the node is then not ready).
  gauge failing;
};
store_metrics make_store_metrics(registry& reg, const std::string& actor);

/// One sharded actor's changelog as this node's reader applies it (label
/// `actor`; README.md, "Clustering").
struct changelog_metrics {
  /// Standby lag: from a record's publish to this node applying it, of the
  /// last record applied; and of every record.
  gauge lag_seconds;
  histogram lag;
  counter applied;
  /// The stream offset after the last record applied.
  gauge position;
};
changelog_metrics make_changelog_metrics(registry& reg,
                                         const std::string& actor);

/// One shard of a sharded actor on this node (labels `actor`, `shard` and
/// its `queue`). Every node exports every shard: summed over the nodes,
/// `owned` is 0 for a shard without an owner.
struct shard_metrics {
  /// 1 while this node owns the shard with a claimed epoch.
  gauge owned;
  /// The epoch this node owns it in (the last one, after it let it go).
  gauge epoch;
};
shard_metrics make_shard_metrics(registry& reg, const std::string& actor,
                                 uint32_t shard, const std::string& queue);

} // namespace warren::metrics
