#pragma once

/// The publisher: a connection-owner actor with its own rabbitmq-c
/// connection and a channel in confirm mode, for code outside actor
/// handlers (embedding applications, tools, benchmarks).
///
/// Protocol (`publisher_actor`):
///   (publish_atom, outgoing_message) -> ok_atom
///       Answered when the broker confirms the message (basic.ack). Errors:
///       `errc::publish_nacked` (basic.nack), `errc::unroutable` (a mandatory
///       message came back with basic.return), `errc::not_found` (no such
///       exchange: the broker closed the channel, which is reopened; only
///       this message fails), `errc::access_refused`,
///       `errc::shutting_down`.
///   (publish_atom, publish_batch) -> ok_atom
///       A batch, answered once: when all are confirmed, or with the first
///       error. One request and one answer per batch instead of per message,
///       for bulk producers.
///   (drain_atom) -> ok_atom
///       Answered once every message accepted so far is confirmed.
///   (stats_atom) -> publisher_stats
///
/// Confirms are batched by the broker (multiple acks) and read as they come;
/// at most `max_unconfirmed` messages are at the broker unconfirmed. Past that
/// bound requests wait in order, and so do their senders, who wait for the
/// answer: back-pressure, not unbounded buffering.
///
/// Failure: a lost connection is made again with exponential backoff
/// (broker_settings::reconnect_min..max), the topology declared again, and
/// every unconfirmed message republished before newer ones. A message is thus
/// published at least once; receivers de-duplicate by `message_id`.
///
/// Spawned detached; stops when sent an exit message, answering pending
/// requests with `errc::shutting_down`.

#include "warren/bridges/atoms.hpp"
#include "warren/bridges/broker.hpp"
#include "warren/bridges/topology.hpp"
#include "warren/core/envelope.hpp"
#include "warren/metrics/sets.hpp"

#include <caf/actor_system.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace warren::bridges {

struct publisher_config {
  broker_settings broker;
  /// Declared on every (re)connect before publishing.
  topology topo;
  /// Default 1000.
  std::size_t max_unconfirmed = 1000;
  /// Where its connection and publishes are counted (default: nowhere).
  metrics::connection_metrics connection_metrics;
  metrics::publish_metrics publish_metrics;
};

/// Messages published as one request (see the protocol above).
struct publish_batch {
  std::vector<outgoing_message> messages;
};

struct publisher_stats {
  uint64_t published = 0;
  uint64_t confirmed = 0;
  uint64_t nacked = 0;
  uint64_t returned = 0;
  uint64_t republished = 0;
  uint64_t reconnects = 0;
  /// Channels the broker closed because of a publish.
  uint64_t channel_errors = 0;
  std::size_t unconfirmed = 0;
  std::size_t waiting = 0;
  bool connected = false;
  /// The broker blocked the connection (a resource alarm).
  bool blocked = false;
};

/// The publisher's protocol (see above).
using publisher_actor = caf::typed_actor<
  caf::replies_to<publish_atom, outgoing_message>::with<caf::ok_atom>,
  caf::replies_to<publish_atom, publish_batch>::with<caf::ok_atom>,
  caf::replies_to<drain_atom>::with<caf::ok_atom>,
  caf::replies_to<stats_atom>::with<publisher_stats>>;

/// Spawns a publisher. It connects in the background; requests made before
/// the connection is up wait for it.
publisher_actor spawn_publisher(caf::actor_system& sys, publisher_config cfg);

} // namespace warren::bridges

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(warren::bridges::publisher_stats)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(warren::bridges::publish_batch)
