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
throughput_result warren_throughput(const std::string& uri,
                                    const std::string& queue,
                                    std::size_t messages,
                                    std::size_t body_bytes = 256,
                                    const std::string& state_dir = {});

/// Seconds from constructing a node whose stateful actor has `states` keys
/// (written to `<state_dir>/warren.db` beforehand) to the node consuming.
double stateful_recovery(const std::string& uri, const std::string& queue,
                         std::size_t states, const std::string& state_dir);

struct warren_rpc_result {
  /// The raw rabbitmq-c client of raw_rpc calling a warren echo service: the
  /// cost of the service side.
  latency_result service;
  /// warren to warren: calls made by a handler (`context::call`, on its
  /// consumer's own connection) to the same service.
  latency_result call;
  /// Calls from outside any actor, through a node's requester
  /// (`node::call`).
  latency_result node_call;
};

/// Sequential calls to a warren echo service named `service`, ~64-byte JSON
/// bodies, first from the raw client, then through warren's requester.
warren_rpc_result warren_rpc(const std::string& uri, const std::string& service,
                             std::size_t calls);

} // namespace warren::bench
