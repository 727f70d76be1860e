#pragma once

// Private to warren::runtime: the last stage of dispatch, what becomes of a
// delivery once its actor is done with it.
//
// - `plan_failure` is the retry/dead-letter decision after a failed attempt
//   (pure): run the handler again at once, park a copy on a retry step (or
//   on the actor's own queue, when the instance is ending and the restarted
//   one is to retry), or dead-letter it.
// - `to_settlement` turns an actor's `outcome` into what the consumer does
//   (ack, requeue, or move a copy built by the one dead-letter builder in
//   warren/core/dead_letter.hpp). Warren actors, raw CAF kinds and rejected
//   input all end here.

#include "warren/bridges/consumer.hpp"
#include "warren/core/outcome.hpp"
#include "warren/runtime/dispatch/retry_policy.hpp"

#include <chrono>
#include <cstdint>
#include <string>

namespace warren::detail {

struct failure_plan {
  enum class action {
    /// Handle it again now, as attempt `next_attempt`.
    run_again,
    /// Publish a copy to `target_queue` as attempt `next_attempt`, then ack.
    park,
    /// Give up: dead-letter it (after `attempt` attempts).
    dead_letter,
  };
  action what = action::dead_letter;
  uint32_t attempt = 1;
  uint32_t next_attempt = 0;
  std::string target_queue;
};

/// The plan after attempt `attempt` (1-based) of a message of `queue` failed;
/// `permanent` failures are never retried; `ending` means the actor instance
/// ends with this message, so an immediate retry goes through the queue to
/// its successor instead.
failure_plan plan_failure(const config::retry_policy& policy,
                          const std::string& queue, uint32_t attempt,
                          bool permanent, bool ending);

/// How long a transient failure (a store that could not be read, a raw
/// kind's `retry`) waits before attempt `attempt` + 1 runs: 100 ms doubling
/// per attempt, at most 5 s. Never a tight loop.
std::chrono::milliseconds backoff_after(uint32_t attempt);

/// The outcome of a plan that does not run the handler again.
outcome outcome_of(const failure_plan& plan, errc code,
                   const std::string& reason);

/// What the consumer does with `msg` for `result`. `actor` and `node` name
/// who moved it, in the copy's headers.
bridges::settlement to_settlement(const outcome& result, const envelope& msg,
                                  const std::string& actor,
                                  const std::string& node);

} // namespace warren::detail
