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

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace warren::runtime {

enum class restart_type {
  /// Always restarted.
  permanent,
  /// Restarted only after an abnormal exit.
  transient,
  /// Never restarted.
  temporary,
};

enum class restart_strategy { one_for_one, one_for_all, rest_for_one };

/// How a child ended.
enum class exit_kind {
  /// It finished its work (OTP's `normal`).
  normal,
  /// It was told to stop (OTP's `shutdown`).
  shutdown,
  /// It failed.
  abnormal,
};

struct child_spec {
  std::string id;
  /// Default permanent.
  restart_type restart = restart_type::permanent;
  /// How long a child may take to stop before it is killed; 0 kills at once.
  /// Default 5 s (OTP's default for workers); a node's config defaults it to
  /// `shutdown.timeout_ms`.
  std::chrono::milliseconds shutdown{5000};
};

/// Restart intensity. Defaults are OTP's: 1 restart in 5 s.
struct intensity_limits {
  uint32_t max_restarts = 1;
  std::chrono::milliseconds period{5000};
};

/// Restart backoff. Defaults: 100 ms doubling to 10 s, +/- 20 %.
struct backoff_limits {
  std::chrono::milliseconds min{100};
  std::chrono::milliseconds max{10000};
  /// Fraction of the delay added or taken at random, 0 to 1.
  double jitter = 0.2;
};

/// What to do after a child exited.
struct restart_plan {
  /// Children to stop first, in this order (reverse start order). Temporary
  /// children among them are not restarted and leave the supervisor.
  std::vector<std::size_t> stop;
  /// Children to start again, in this order (start order).
  std::vector<std::size_t> restart;
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

/// A supervision tree as the node config declares it (`supervision`).
struct supervisor_config {
  struct child;

  /// "root" for the node's root supervisor.
  std::string id = "root";
  restart_strategy strategy = restart_strategy::one_for_one;
  intensity_limits intensity;
  backoff_limits backoff;
  /// In start order.
  std::vector<child> children;
};

/// One child of a supervisor: a configured actor (each of its instances is a
/// child of its own, with this spec) or a nested supervisor.
struct supervisor_config::child {
  /// `id` is the actor's name or the nested supervisor's id.
  child_spec spec;
  /// Set for an actor child.
  std::string actor;
  /// Set for a supervisor child (empty `actor`).
  supervisor_config supervisor;

  bool is_actor() const noexcept { return !actor.empty(); }
};

} // namespace warren::runtime
