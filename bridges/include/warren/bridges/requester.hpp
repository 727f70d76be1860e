#pragma once

/// The requester: a connection-owner actor for request-response calls made
/// from outside actor handlers (embedding applications, `node::call`,
/// benchmarks). It publishes requests and consumes their replies on one
/// connection of its own. Handlers call on their consumer's own connection
/// instead (`consumer_host::call`), without a hand-off to this actor.
///
/// Protocol (`requester_actor`):
///   (call_atom, outgoing_message request, int64_t timeout_ms)
///     -> boost::json::value (the reply body)
///   (stats_atom) -> requester_stats
/// It sets `reply_to` (its exclusive, auto-delete reply queue) and a fresh
/// `correlation_id`, and publishes the request mandatory with confirms.
/// Errors: `errc::unroutable` (no queue took the request: no such service),
/// `errc::remote_error` (the service answered with a `warren.error` reply; the
/// sentence is its message), `errc::timeout`, `errc::malformed_body` (the
/// reply is not JSON), `errc::connection_lost` (the connection dropped while
/// the call was out; the call is not repeated, since the service may have
/// acted on it).
///
/// Late replies (after a timeout) are dropped. The reply queue is consumed
/// with auto-ack: a reply lost with the connection is a failed call, which
/// the caller sees as an error, never as silence.
///
/// Failure: reconnects with backoff like every connection owner; calls made
/// while disconnected wait for the connection (within their timeout).

#include "warren/bridges/atoms.hpp"
#include "warren/bridges/broker.hpp"
#include "warren/core/envelope.hpp"
#include "warren/metrics/sets.hpp"

#include <boost/json/value.hpp>
#include <caf/actor_system.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <cstddef>
#include <cstdint>
#include <string>

namespace warren::bridges {

struct requester_config {
  broker_settings broker;
  /// Names the reply queue `warren.reply.<node_name>.<random>`.
  std::string node_name;
  /// Larger replies are never held in memory; their calls fail. 0: no
  /// limit.
  std::size_t max_reply_bytes = 0;
  /// Where its connection is counted (default: nowhere).
  metrics::connection_metrics connection_metrics;
};

struct requester_stats {
  /// Connected, with its reply queue consumed.
  bool ready = false;
  /// Calls waiting for their replies.
  std::size_t calls = 0;
  uint64_t reconnects = 0;
};

/// The requester's protocol (see above).
using requester_actor =
  caf::typed_actor<caf::replies_to<call_atom, outgoing_message,
                                   int64_t>::with<boost::json::value>,
                   caf::replies_to<stats_atom>::with<requester_stats>>;

requester_actor spawn_requester(caf::actor_system& sys, requester_config cfg);

} // namespace warren::bridges

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(warren::bridges::requester_stats)
