#include "warren/runtime/supervision/supervision.hpp"

#include <algorithm>
#include <cmath>

namespace warren::runtime {

bool needs_restart(restart_type type, exit_kind how) noexcept {
  switch (type) {
    case restart_type::permanent:
      return true;
    case restart_type::transient:
      return how == exit_kind::abnormal || how == exit_kind::released;
    case restart_type::temporary:
      return false;
  }
  return false;
}

restart_plan plan_restart(restart_strategy strategy,
                          const std::vector<child_spec>& children,
                          std::size_t exited, exit_kind how) {
  restart_plan plan;
  if (exited >= children.size())
    return plan;
  if (!needs_restart(children[exited].restart, how)) {
    // OTP deletes a temporary child; a transient one that ended normally
    // keeps its spec but is not restarted. Either way the others go on.
    plan.remove_exited = children[exited].restart == restart_type::temporary;
    return plan;
  }
  if (how == exit_kind::released) {
    // Whatever the strategy: the others did not fail with it.
    plan.restart.push_back(exited);
    plan.at_once = true;
    return plan;
  }
  switch (strategy) {
    case restart_strategy::one_for_one:
      plan.restart.push_back(exited);
      break;
    case restart_strategy::one_for_all:
      for (std::size_t i = children.size(); i-- > 0;)
        if (i != exited)
          plan.stop.push_back(i);
      for (std::size_t i = 0; i < children.size(); ++i)
        plan.restart.push_back(i);
      break;
    case restart_strategy::rest_for_one:
      for (std::size_t i = children.size(); i-- > exited + 1;)
        plan.stop.push_back(i);
      for (std::size_t i = exited; i < children.size(); ++i)
        plan.restart.push_back(i);
      break;
  }
  // Temporary children stopped by the strategy are not started again (OTP
  // leaves them out of a one_for_all or rest_for_one restart).
  plan.restart.erase(std::remove_if(plan.restart.begin(), plan.restart.end(),
                                    [&](std::size_t i) {
                                      return i != exited &&
                                             children[i].restart ==
                                               restart_type::temporary;
                                    }),
                     plan.restart.end());
  return plan;
}

void restart_intensity::forget_before(clock::time_point now) {
  // A restart exactly `period` ago still counts, as in OTP's add_restart
  // (it keeps restarts R with R >= Now - Period).
  while (!restarts_.empty() && now - restarts_.front() > limits_.period)
    restarts_.pop_front();
}

bool restart_intensity::record(clock::time_point now) {
  forget_before(now);
  restarts_.push_back(now);
  return restarts_.size() <= limits_.max_restarts;
}

std::size_t restart_intensity::restarts_within(clock::time_point now) {
  forget_before(now);
  return restarts_.size();
}

std::chrono::milliseconds backoff_delay(const backoff_limits& limits,
                                        uint32_t attempt, double unit_random) {
  if (attempt == 0)
    return std::chrono::milliseconds{0};
  // min * 2^(attempt-1), capped at max; doubles avoid overflow for large
  // attempt counts.
  auto base = static_cast<double>(limits.min.count()) *
              std::pow(2.0, static_cast<double>(attempt - 1));
  base = std::min(base, static_cast<double>(limits.max.count()));
  auto jitter = std::clamp(limits.jitter, 0.0, 1.0);
  // unit_random in [0, 1) maps to a factor in [1 - jitter, 1 + jitter).
  auto factor = 1.0 + jitter * (2.0 * unit_random - 1.0);
  auto delay = std::max(0.0, base * factor);
  return std::chrono::milliseconds{static_cast<int64_t>(std::llround(delay))};
}

const char* to_string(restart_type type) noexcept {
  switch (type) {
    case restart_type::permanent:
      return "permanent";
    case restart_type::transient:
      return "transient";
    case restart_type::temporary:
      return "temporary";
  }
  return "unknown";
}

const char* to_string(restart_strategy strategy) noexcept {
  switch (strategy) {
    case restart_strategy::one_for_one:
      return "one_for_one";
    case restart_strategy::one_for_all:
      return "one_for_all";
    case restart_strategy::rest_for_one:
      return "rest_for_one";
  }
  return "unknown";
}

} // namespace warren::runtime
