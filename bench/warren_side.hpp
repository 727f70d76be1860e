#pragma once

/// The same workloads as raw_baseline.hpp, run through warren: messages are
/// published through warren's publisher (confirms, bounded unconfirmed) and
/// consumed by a warren subscriber actor (consumer bridge + actor host, acked
/// after the actor's outcome); calls go through a node's call router to a
/// warren `echo` service.

#include "raw_baseline.hpp"

#include <cstddef>
#include <string>

namespace warren::bench {

/// Publishes `messages` persistent messages of `body_bytes` (a JSON string)
/// to `queue` through warren's publisher and consumes them with a counting
/// subscriber actor (prefetch 500). Timed from the first publish to the last
/// message handled.
/// With `state_dir`, the subscriber is a stateful actor keeping its state
/// in `<state_dir>/warren.db` (synchronous=FULL, group commit of up to 250):
/// each message is acked only after its transaction commits.
/// With `metrics`, the node keeps its metrics and serves them on
/// 127.0.0.1 (any port), scraped once a second during the run (fifteen
/// times as often as Prometheus's default).
/// How the messages of `warren_throughput` reach a stateful actor.
struct keyed_load {
  /// With more than 1, the messages spread over that many keys (header
  /// x-warren-key).
  std::size_t keys = 1;
  /// With more than 0, the stateful actor is sharded (its own queue routed
  /// to `shards` shard queues, every unit through its changelog; README.md,
  /// "Clustering").
  uint32_t shards = 0;
  /// With `shards`, the publisher computes each key's shard and publishes
  /// to its queue, as a client may (no router hop).
  bool to_shards = false;
  /// The actor's own queue is a quorum queue (declared in the topology),
  /// as a sharded actor's shard queues are.
  bool quorum = false;
};

throughput_result
warren_throughput(const std::string& uri, const std::string& queue,
                  std::size_t messages, std::size_t body_bytes = 256,
                  const std::string& state_dir = {}, bool metrics = false,
                  const keyed_load& load = {});

/// Seconds from constructing a node whose stateful actor has `states` keys
/// (written to `<state_dir>/warren.db` beforehand) to the node consuming.
double stateful_recovery(const std::string& uri, const std::string& queue,
                         std::size_t states, const std::string& state_dir);

/// Request-response, raw and through warren, measured at the same moments:
/// each warren figure comes with a raw one taken interleaved with it (call
/// by call, or in alternating blocks of 100), so a change in the machine's
/// load during the run touches both.
struct rpc_comparison {
  /// The raw client calling the raw server, interleaved call by call with
  /// `service`.
  latency_result raw;
  /// The same raw client calling a warren `echo` service: the cost of the
  /// service side.
  latency_result service;
  /// The raw client calling the raw server, in blocks alternating with
  /// `call`'s.
  latency_result raw_for_call;
  /// warren to warren: calls made by a handler (`context::call`, on its
  /// consumer's own connection) to the same service.
  latency_result call;
  /// The raw client calling the raw server, interleaved with `node_call`.
  latency_result raw_for_node_call;
  /// Calls from outside any actor, through a node's requester
  /// (`node::call`).
  latency_result node_call;
};

/// `calls` sequential calls of each kind, ~64-byte JSON bodies, to a raw
/// server on the queue `<service>.raw` and a warren echo service named
/// `service`.
rpc_comparison compare_rpc(const std::string& uri, const std::string& service,
                           std::size_t calls);

} // namespace warren::bench
