#pragma once

/// The requester: a connection-owner actor for request-response calls. It
/// publishes requests and consumes their replies on one connection of its
/// own, so a call crosses no other actor on the way out or back.
///
/// Protocol:
///   (call_atom, outgoing_message request, int64_t timeout_ms)
///     -> boost::json::value (the reply body)
///   (stats_atom) -> consumer_stats   `consuming` once the reply queue is up
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
/// with auto-ack: a reply lost with the connection is a failed call, which the
/// caller sees as an error, never as silence.
///
/// Failure: reconnects with backoff like every connection owner; calls made
/// while disconnected wait for the connection (within their timeout).

#include "warren/bridges/broker.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <string>

namespace warren::bridges {

struct requester_config {
  broker_settings broker;
  /// Names the reply queue `warren.reply.<node_name>.<random>`.
  std::string node_name;
};

caf::actor spawn_requester(caf::actor_system& sys, requester_config cfg);

} // namespace warren::bridges
