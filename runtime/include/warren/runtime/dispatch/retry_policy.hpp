#pragma once

/// Message retry policy, as pure logic: what happens to a message whose
/// handler failed, and the retry ladder of queues that delays it.
///
/// A transient failure is retried: first `immediate` times at once, then once
/// per `delays` entry through the ladder queue `<queue>.retry.<n>` (n from 1),
/// whose `x-message-ttl` is that delay and whose dead-letter route leads back
/// to `<queue>` through the default exchange: no delayed-message plugin. The
/// attempt count travels in `x-warren-attempt` (1 for the first delivery), so
/// it survives restarts and crosses nodes. After the last attempt, or at once
/// for a permanent failure, the message is dead-lettered to `<queue>.dlq`.
///
///   attempt:  1 ... 1+immediate | next: ladder step 1 ... step k | dlq
///             (at once)          (after delays[0] ... delays[k-1])

#include "warren/bridges/topology.hpp"
#include "warren/config/actor.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace warren::runtime {

using config::retry_policy;

/// What to do with a message after a failed attempt.
struct retry_decision {
  enum class action {
    /// Handle it again now (requeue or re-dispatch), as attempt `next_attempt`.
    retry_now,
    /// Publish it to ladder step `step` (1-based), as attempt `next_attempt`.
    retry_later,
    /// Give up: dead-letter it.
    dead_letter,
  };
  action what = action::dead_letter;
  uint32_t next_attempt = 0;
  uint32_t step = 0;
};

/// The decision after attempt `attempt` (1-based, from `x-warren-attempt`)
/// failed; a `permanent` failure is never retried.
retry_decision decide_retry(const retry_policy& policy, uint32_t attempt,
                            bool permanent) noexcept;

/// The name of ladder step `step` (1-based) of `queue`.
std::string retry_queue_name(const std::string& queue, uint32_t step);

/// The ladder queues of `queue` under `policy`, one per delay: durable,
/// `x-message-ttl` the delay, dead-lettered back to `queue` through the
/// default exchange. `type` follows the original queue (classic or quorum).
std::vector<bridges::queue_spec>
retry_ladder(const std::string& queue, const retry_policy& policy,
             bridges::queue_type type = bridges::queue_type::classic);

} // namespace warren::runtime
