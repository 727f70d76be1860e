#pragma once

/// The consumer bridge: a connection-owner actor that consumes one queue and
/// hands each delivery to the actor(s) that handle it, acking only after the
/// actor's outcome says the work is done.
///
/// Protocol towards the handling actors (round-robin over `targets`):
///   (deliver_atom, envelope) -> outcome
/// With `no_ack` (reply queues) deliveries are sent as (deliver_atom, envelope)
/// without waiting for an outcome.
///
/// Protocol it answers:
///   (pause_atom) -> ok_atom      cancel the consumer; no new deliveries
///   (drain_atom) -> ok_atom      answered when no delivery is in flight
///   (stats_atom) -> consumer_stats
///
/// Back-pressure: `prefetch` bounds the unacked deliveries, so the backlog of a
/// slow actor stays in the broker, not in memory.
///
/// Bad input never reaches the actor: a body larger than `max_body_bytes`, a
/// body that is not JSON, or an unsupported content type is dead-lettered at
/// once. Dead-lettering publishes a copy of the delivery, byte for byte, to
/// `<queue>.dlq` through the publisher with `x-warren-error`,
/// `x-warren-error-code`, `x-warren-actor`, `x-warren-attempts`,
/// `x-warren-original-exchange` and `x-warren-original-routing-key` headers,
/// and acks the original only once the copy is confirmed; if it cannot be
/// confirmed the delivery is requeued. Nothing is dropped.
///
/// Acks are batched: the longest prefix of settled deliveries is acked with
/// one multiple-ack when it reaches `ack_batch` or when the socket goes quiet.
///
/// Failure: a lost connection, channel or consumer (queue deleted) is
/// reopened with backoff, the topology re-declared, and consuming resumed.
/// Outcomes of deliveries from before the loss are ignored: the broker
/// redelivers those messages (`redelivered` set).

#include "warren/bridges/broker.hpp"
#include "warren/bridges/envelope.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/errc.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace warren::bridges {

/// What became of a delivery.
struct outcome {
  enum class status : uint8_t {
    /// The work is durable: ack.
    done,
    /// A transient failure: give the message back to the broker (requeue).
    retry,
    /// A permanent failure: dead-letter with the reason, then ack.
    reject,
  };
  status what = status::done;
  errc code = errc::none;
  std::string reason;

  static outcome done() { return {}; }
  static outcome retry(errc code, std::string reason) {
    return {status::retry, code, std::move(reason)};
  }
  static outcome reject(errc code, std::string reason) {
    return {status::reject, code, std::move(reason)};
  }
};

struct consumer_config {
  broker_settings broker;
  /// Declared on every (re)connect before consuming.
  topology topo;
  std::string queue;
  /// Unacked deliveries at most. Default 100.
  uint16_t prefetch = 100;
  /// Acks per multiple-ack at most; 0 means prefetch / 2. Default 0.
  uint16_t ack_batch = 0;
  /// Auto-ack (for reply queues whose messages are not worth redelivering).
  bool no_ack = false;
  bool exclusive = false;
  /// The actors that handle deliveries; must not be empty.
  std::vector<caf::actor> targets;
  /// Publishes dead letters. Required unless `no_ack`.
  caf::actor publisher;
  /// Named in `x-warren-actor` on dead letters.
  std::string actor_name;
  std::string node_name;
  /// Larger bodies are dead-lettered with `errc::oversized_body`.
  std::size_t max_body_bytes = 1024 * 1024;
};

struct consumer_stats {
  uint64_t delivered = 0;
  uint64_t acked = 0;
  uint64_t dead_lettered = 0;
  uint64_t requeued = 0;
  uint64_t reconnects = 0;
  std::size_t in_flight = 0;
  bool consuming = false;
};

/// Spawns a consumer. It connects in the background.
caf::actor spawn_consumer(caf::actor_system& sys, consumer_config cfg);

/// Turns a delivery's raw body into JSON and fills in what a foreign client
/// may have left out (message id). Returns the outcome to use when the
/// delivery must not reach the actor (pure; unit-tested).
std::optional<outcome> prepare_delivery(envelope& env,
                                        std::size_t max_body_bytes);

/// Builds the dead-letter copy of a delivery (pure; unit-tested).
outgoing_message make_dead_letter(const envelope& env, const outcome& why,
                                  const std::string& actor_name,
                                  const std::string& node_name);

} // namespace warren::bridges

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(warren::bridges::outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(warren::bridges::consumer_stats)
