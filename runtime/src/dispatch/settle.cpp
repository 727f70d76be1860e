#include "dispatch/settle.hpp"

#include "warren/core/dead_letter.hpp"

#include <algorithm>

namespace warren::detail {

failure_plan plan_failure(const config::retry_policy& policy,
                          const std::string& queue, uint32_t attempt,
                          bool permanent, bool ending) {
  failure_plan plan;
  plan.attempt = attempt == 0 ? 1 : attempt;
  auto decision = runtime::decide_retry(policy, plan.attempt, permanent);
  plan.next_attempt = decision.next_attempt;
  using action = runtime::retry_decision::action;
  switch (decision.what) {
    case action::retry_now:
      if (ending) {
        plan.what = failure_plan::action::park;
        plan.target_queue = queue;
      } else {
        plan.what = failure_plan::action::run_again;
      }
      break;
    case action::retry_later:
      plan.what = failure_plan::action::park;
      plan.target_queue = runtime::retry_queue_name(queue, decision.step);
      break;
    case action::dead_letter:
      plan.what = failure_plan::action::dead_letter;
      break;
  }
  return plan;
}

std::chrono::milliseconds backoff_after(uint32_t attempt) {
  constexpr std::chrono::milliseconds first{100};
  constexpr std::chrono::milliseconds most{5000};
  auto doublings = attempt <= 1 ? 0u : std::min(attempt - 1, 6u);
  return std::min(first * (1 << doublings), most);
}

outcome outcome_of(const failure_plan& plan, errc code,
                   const std::string& reason) {
  if (plan.what == failure_plan::action::park)
    return outcome::republish(code, reason, plan.target_queue,
                              plan.next_attempt);
  return outcome::reject(code, reason, plan.attempt);
}

bridges::settlement to_settlement(const outcome& result, const envelope& msg,
                                  const std::string& actor,
                                  const std::string& node) {
  bridges::settlement s;
  s.next = result.next;
  s.reason = result.reason;
  s.code = result.code;
  s.duplicate = result.duplicate;
  switch (result.what) {
    case outcome::status::done:
      s.what = bridges::settlement::action::ack;
      break;
    case outcome::status::retry:
      s.what = bridges::settlement::action::requeue;
      break;
    case outcome::status::reject:
      s.what = bridges::settlement::action::move;
      s.dead_letter = true;
      s.copy = std::make_shared<outgoing_message>(make_dead_letter(
        msg, {result.code, result.reason, actor, node}, result.attempt));
      break;
    case outcome::status::republish:
      s.what = bridges::settlement::action::move;
      s.copy = std::make_shared<outgoing_message>(
        make_retry_copy(msg, {result.code, result.reason, actor, node},
                        result.target_queue, result.attempt));
      break;
  }
  return s;
}

} // namespace warren::detail
