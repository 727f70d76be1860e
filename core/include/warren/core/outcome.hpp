#pragma once

/// What became of a delivery: the answer an actor gives for each message it
/// is handed, and what the consumer that owns the delivery then does with it
/// (ack, requeue, dead-letter or park a copy on the retry ladder).

#include "warren/core/errc.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <cstdint>
#include <string>

namespace warren {

struct outcome {
  enum class status : uint8_t {
    /// The work is durable: ack.
    done,
    /// A transient failure: give the message back to the broker (requeue).
    retry,
    /// A failure: dead-letter with the reason, then ack.
    reject,
    /// A failure to try again later: publish a copy to `target_queue` (a
    /// retry ladder step) as attempt `attempt`, then ack.
    republish,
  };
  status what = status::done;
  errc code = errc::none;
  std::string reason;
  /// reject: attempts made (0: take `x-warren-attempt`); republish: the
  /// attempt number of the copy.
  uint32_t attempt = 0;
  /// republish: the queue to publish the copy to (default exchange).
  std::string target_queue;

  /// Whether the actor the consumer hosts goes on after this delivery.
  enum class lifecycle : uint8_t {
    carry_on,
    /// The actor ended normally: once this delivery is settled the consumer
    /// exits with reason `normal`.
    actor_stopped,
    /// The actor failed: once this delivery is settled the consumer exits
    /// with `errc::actor_failed` and `reason`.
    actor_failed,
  };
  lifecycle next = lifecycle::carry_on;
  /// done: the message had been applied already (de-duplication).
  bool duplicate = false;

  static outcome done() { return {}; }
  static outcome already_applied() {
    outcome o;
    o.duplicate = true;
    return o;
  }
  static outcome retry(errc code, std::string reason) {
    return {status::retry, code, std::move(reason), 0, {}, {}};
  }
  static outcome reject(errc code, std::string reason, uint32_t attempts = 0) {
    return {status::reject, code, std::move(reason), attempts, {}, {}};
  }
  static outcome republish(errc code, std::string reason, std::string queue,
                           uint32_t attempt) {
    return {status::republish, code,
            std::move(reason), attempt,
            std::move(queue),  lifecycle::carry_on};
  }
};

} // namespace warren

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(warren::outcome)
