#include "warren/runtime/dispatch/retry_policy.hpp"

namespace warren::runtime {

retry_decision decide_retry(const retry_policy& policy, uint32_t attempt,
                            bool permanent) noexcept {
  retry_decision d;
  if (attempt == 0)
    attempt = 1; // a delivery without the header is the first attempt
  if (permanent || attempt >= policy.max_attempts())
    return d; // dead_letter
  d.next_attempt = attempt + 1;
  if (attempt <= policy.immediate) {
    d.what = retry_decision::action::retry_now;
    return d;
  }
  d.what = retry_decision::action::retry_later;
  d.step = attempt - policy.immediate;
  return d;
}

std::string retry_queue_name(const std::string& queue, uint32_t step) {
  return queue + ".retry." + std::to_string(step);
}

std::vector<bridges::queue_spec> retry_ladder(const std::string& queue,
                                              const retry_policy& policy,
                                              bridges::queue_type type) {
  std::vector<bridges::queue_spec> ladder;
  for (std::size_t i = 0; i < policy.delays.size(); ++i) {
    bridges::queue_spec step;
    step.name = retry_queue_name(queue, static_cast<uint32_t>(i + 1));
    step.type = type;
    step.message_ttl_ms = policy.delays[i].count();
    step.dead_letter_exchange = "";
    step.dead_letter_routing_key = queue;
    // A message waiting on the ladder is already counted against the
    // original queue's dead-letter queue; the step needs none of its own.
    step.dead_letter_queue = false;
    if (type == bridges::queue_type::quorum) {
      // Back to the queue at least once: when the queue is full the
      // message waits on its step instead of being dropped.
      step.dead_letter_strategy = "at-least-once";
      step.overflow = bridges::overflow_mode::reject_publish;
    }
    ladder.push_back(std::move(step));
  }
  return ladder;
}

} // namespace warren::runtime
