#pragma once

/// Supervision decisions, with Erlang/OTP's words and semantics, as pure
/// logic: what a supervisor does when a child exits. The supervisor actor
/// (which carries the decisions out) is built on these.
///
/// Restart types (a child spec's `restart`):
///   permanent   always restarted;
///   transient   restarted only after an abnormal exit;
///   temporary   never restarted (and removed from the supervisor).
///
/// Strategies, applied only when the exited child is to be restarted:
///   one_for_one   restart that child;
///   one_for_all   stop every other child (in reverse start order), then
///                 restart all of them (in start order);
///   rest_for_one  stop the children started after it (reverse order), then
///                 restart it and them (start order).
///
/// Restart intensity: more than `max_restarts` restarts within `period`
/// makes the supervisor stop all its children and fail to its parent
/// (escalation). OTP's defaults: 1 restart in 5 s.
///
/// Restart backoff, which OTP lacks: the n-th consecutive restart of a child
/// waits min * 2^(n-1), capped at max, with +/- jitter.

#include "warren/config/supervision.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace warren::runtime {

using config::backoff_limits;
using config::child_spec;
using config::intensity_limits;
using config::restart_strategy;
using config::restart_type;
using config::supervisor_config;

/// How a child ended.
enum class exit_kind {
  /// It finished its work (OTP's `normal`).
  normal,
  /// It was told to stop (OTP's `shutdown`).
  shutdown,
  /// It failed.
  abnormal,
  /// It let its work go to start again at once (`errc::released`: a shard
  /// owner handing its shard over). Routine, not a failure: it alone is
  /// started again, without backoff and not counted in the intensity.
  released,
};

/// What to do after a child exited.
struct restart_plan {
  /// Children to stop first, in this order (reverse start order). Temporary
  /// children among them are not restarted and leave the supervisor.
  std::vector<std::size_t> stop;
  /// Children to start again, in this order (start order).
  std::vector<std::size_t> restart;
  /// A released child: started again now, uncounted (see exit_kind).
  bool at_once = false;
  /// The exited child leaves the supervisor (a temporary child).
  bool remove_exited = false;
  /// Nothing to restart and nothing to stop.
  bool empty() const noexcept { return stop.empty() && restart.empty(); }
};

/// Whether a child of `type` that ended with `how` is restarted.
bool needs_restart(restart_type type, exit_kind how) noexcept;

/// The plan when child `exited` (an index into `children`, in start order)
/// ended with `how`, the other children running.
restart_plan plan_restart(restart_strategy strategy,
                          const std::vector<child_spec>& children,
                          std::size_t exited, exit_kind how);

/// Counts restarts in a sliding window (OTP's restart intensity).
class restart_intensity {
 public:
  using clock = std::chrono::steady_clock;

  explicit restart_intensity(intensity_limits limits = {}) : limits_(limits) {}

  /// Records a restart at `now`. Returns false when it exceeds the limits:
  /// the supervisor must then stop its children and fail to its parent.
  bool record(clock::time_point now);

  /// Restarts within the window ending at `now`.
  std::size_t restarts_within(clock::time_point now);

  const intensity_limits& limits() const noexcept { return limits_; }

 private:
  void forget_before(clock::time_point now);

  intensity_limits limits_;
  std::deque<clock::time_point> restarts_;
};

/// The delay before the `attempt`-th consecutive restart (1-based), given a
/// random number `unit_random` in [0, 1) for the jitter (injected, so the
/// logic is deterministic under test).
std::chrono::milliseconds backoff_delay(const backoff_limits& limits,
                                        uint32_t attempt, double unit_random);

const char* to_string(restart_type type) noexcept;
const char* to_string(restart_strategy strategy) noexcept;

} // namespace warren::runtime
