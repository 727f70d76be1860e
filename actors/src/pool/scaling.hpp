#pragma once

/// The `worker_pool` kind's scaling decisions, as pure logic (the runtime's
/// pool manager carries them out; see warren/runtime/pool.hpp). Like the
/// seed's back-pressure manager, but with a sustain time, a cooldown and
/// per-worker idle times, so one spike does not start workers and one quiet
/// second does not stop them:
///
///   below min_workers                      add up to min_workers (always)
///   queue depth unknown                    hold
///   ready > threshold for scale_up_after   add scale_up_step (capped at
///     and no change within cooldown          max_workers)
///   ready > threshold at max_workers       hold: the backlog stays in the
///                                            broker (noted once)
///   ready <= threshold, more than min,     remove one worker idle for
///     no change within cooldown              scale_down_idle (the highest
///                                            slot among those)
///
/// threshold = scale_up_depth when given, else scale_up_depth_per_worker
/// times the queue's consumers (every node's workers; at least this node's
/// own), so several nodes sharing a pool do not all grow for a backlog that
/// is small per consumer.

#include "warren/config/reader.hpp"
#include "warren/runtime/pool.hpp"

#include <chrono>
#include <cstdint>
#include <optional>

namespace warren::actors {

/// `options` of a `worker_pool` actor (docs/worker-pool.md).
struct scaling_options {
  /// Workers always running. Default 1.
  uint32_t min_workers = 1;
  /// Workers at most. Default the larger of 4 and min_workers.
  uint32_t max_workers = 4;
  /// A fixed threshold of ready messages; replaces the per-worker one.
  /// Default none.
  std::optional<uint32_t> scale_up_depth;
  /// Ready messages per consumer of the queue above which the pool grows.
  /// Default 1.
  uint32_t scale_up_depth_per_worker = 1;
  /// How long the depth must stay above the threshold. Default 2 s.
  std::chrono::milliseconds scale_up_after{2000};
  /// Workers added per decision. Default 1.
  uint32_t scale_up_step = 1;
  /// How long a worker must have been idle to be removed. Default 30 s.
  std::chrono::milliseconds scale_down_idle{30000};
  /// No decision this soon after the last add or remove. Default 5 s.
  std::chrono::milliseconds cooldown{5000};
  /// How often the queue is read and a decision made. Default 1 s.
  std::chrono::milliseconds check_interval{1000};
};

/// Most workers of one pool in one node (as `actors[].instances`).
constexpr uint32_t max_pool_workers = 64;

/// Reads (and checks) `worker_pool` options: the kind's options validator
/// and its factory both use it. `worker` (the handler's options) is only
/// checked to be an object here; the handler kind's validator checks it.
scaling_options read_scaling_options(config::object_reader& options);

/// The decisions of one pool, with the little state they need.
class scaler : public pool_policy {
 public:
  explicit scaler(scaling_options options) : options_(options) {}

  uint32_t min_workers() const override { return options_.min_workers; }
  uint32_t max_workers() const override { return options_.max_workers; }
  std::chrono::milliseconds check_interval() const override {
    return options_.check_interval;
  }

  pool_decision decide(const pool_view& view) override;

  /// The ready messages above which the pool grows, for `view`.
  uint64_t threshold(const pool_view& view) const;

  const scaling_options& options() const noexcept { return options_; }

 private:
  using time_point = std::chrono::steady_clock::time_point;

  bool cooling(time_point now) const;

  scaling_options options_;
  /// Since when the depth has been above the threshold (unset: it is not).
  std::optional<time_point> above_since_;
  /// The last add or remove.
  std::optional<time_point> last_change_;
};

} // namespace warren::actors
