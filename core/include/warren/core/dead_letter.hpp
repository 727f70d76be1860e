#pragma once

/// The one builder of the copies warren moves messages with: dead letters
/// (to `<queue>.dlq`, after the last attempt or a permanent failure) and
/// retry copies (to a retry ladder step). Every path that gives up on a
/// message (a delivery an actor failed, a bad delivery that never reached an
/// actor, an outbox row the broker would not take) builds its copy here, so
/// every dead letter carries the same headers (see README.md, "Wire format").
///
/// A copy is the message byte for byte (properties and body), minus
/// `expiration` (it must not expire where it waits), persistent and
/// mandatory (a missing target queue returns the copy instead of losing it),
/// published through the default exchange, with `x-warren-error`,
/// `x-warren-error-code`, `x-warren-actor`, `x-warren-node`, and the first
/// route in `x-warren-original-exchange` / `-routing-key` (kept across
/// retries: a message back from the ladder arrives through the default
/// exchange).

#include "warren/core/envelope.hpp"
#include "warren/core/errc.hpp"

#include <cstdint>
#include <string>

namespace warren {

/// The name of the dead-letter queue warren keeps for `queue`.
std::string dead_letter_queue_name(const std::string& queue);

/// Why and by whom a message is moved.
struct move_reason {
  errc code = errc::none;
  std::string text;
  std::string actor;
  std::string node;
};

/// The dead-letter copy of a message that was first published to
/// `exchange` / `routing_key` and belongs to `queue`'s dead-letter queue,
/// after `attempts` attempts (`x-warren-attempts`).
outgoing_message make_dead_letter(const message_properties& props,
                                  const std::string& body,
                                  const std::string& exchange,
                                  const std::string& routing_key,
                                  const std::string& queue,
                                  const move_reason& why, int64_t attempts);

/// The dead-letter copy of a delivery from `env.queue`; `attempts` 0 takes
/// `x-warren-attempt`.
outgoing_message make_dead_letter(const envelope& env, const move_reason& why,
                                  int64_t attempts = 0);

/// The copy of a delivery parked on a retry ladder step `target_queue`, with
/// `x-warren-attempt` set to `attempt`.
outgoing_message make_retry_copy(const envelope& env, const move_reason& why,
                                 const std::string& target_queue,
                                 int64_t attempt);

} // namespace warren
